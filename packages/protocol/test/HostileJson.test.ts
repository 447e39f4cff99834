import { Event, EventMsg, JsonLines, Op, Submission } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Pretty from "effect/Pretty"
import * as Schema from "effect/Schema"

const runs = Number(process.env.DEPUTY_PROPERTY_RUNS ?? 200)

const decodeError = (result: Either.Either<unknown, JsonLines.LineDecodeError>): JsonLines.LineDecodeError => {
  if (Either.isRight(result)) return assert.fail(`expected a LineDecodeError, got ${JSON.stringify(result.right)}`)
  return result.left
}

const decoded = <A>(result: Either.Either<A, JsonLines.LineDecodeError>): A => {
  if (Either.isLeft(result)) return assert.fail(result.left.message)
  return result.right
}

/** The nesting depth of a parsed JSON value (0 for a scalar). */
const depthOf = (value: unknown): number => {
  if (typeof value !== "object" || value === null) return 0
  let deepest = 0
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child))
  return deepest + 1
}

/** The number of object members and array elements in a parsed JSON value, over all its objects and arrays. */
const itemsOf = (value: unknown): number => {
  if (typeof value !== "object" || value === null) return 0
  let items = 0
  for (const child of Object.values(value)) items += 1 + itemsOf(child)
  return items
}

/** The line of an event whose `msg` carries `payload` in a field. */
const eventLine = (payload: string) => `{"id":"s","msg":{"type":"future_event","payload":${payload}}}`

describe("nesting depth and width are bounded on decode", () => {
  for (const levels of [20_000, 100_000]) {
    for (const [kind, open, close] of [["array", "[", "]"], ["object", `{"a":`, "}"]] as const) {
      it(`a ${levels}-deep ${kind} is a LineDecodeError, not a stack overflow`, () => {
        const payload = kind === "array"
          ? open.repeat(levels) + close.repeat(levels)
          : open.repeat(levels) + "1" + close.repeat(levels)
        const error = decodeError(JsonLines.decodeEvent(eventLine(payload), 7))
        assert.strictEqual(error._tag, "LineDecodeError")
        assert.strictEqual(error.line, 7)
        assert.strictEqual(error.reason, `nested deeper than ${JsonLines.defaultMaxDepth}`)
        assert.match(error.message, /^line 7: nested deeper than 128\n {2}in: \{"id":"s"/)
        assert.isBelow(error.snippet.length, 200)
      })
    }
  }

  it("the limit is exact and can be set", () => {
    // the envelope adds two levels: {"id", "msg": {..., "payload": <payload>}}
    const line = (levels: number) => eventLine("[".repeat(levels) + "]".repeat(levels))
    const limit = JsonLines.defaultMaxDepth
    const atLimit = decoded(JsonLines.decodeEvent(line(limit - 2), 1))
    assert.strictEqual(depthOf(atLimit), limit)
    assert.isTrue(Either.isLeft(JsonLines.decodeEvent(line(limit - 1), 1)))
    const decodeShallow = JsonLines.decodeLine(Event.Event, { maxDepth: 4 })
    assert.isTrue(Either.isRight(decodeShallow(line(2), 1)))
    assert.strictEqual(decodeError(decodeShallow(line(3), 1)).reason, "nested deeper than 4")
  })

  it("brackets inside strings, escaped quotes and backslashes do not count", () => {
    const text = "[[[{{{ \\\" \\\\ ".repeat(10_000)
    const msg = decoded(JsonLines.decodeEvent(eventLine(JSON.stringify([text, "\\", "\"", "]]]"])), 1)).msg
    assert.deepStrictEqual(msg, { type: "future_event", payload: [text, "\\", "\"", "]]]"] })
  })

  for (
    const [kind, payload] of [
      ["keys", `{${Array.from({ length: 200_000 }, (_, i) => `"k${i}":0`).join(",")}}`],
      ["array elements", `[${Array.from({ length: 1_000_000 }, () => `"a"`).join(",")}]`]
    ] as const
  ) {
    it(`a line with too many ${kind} is a LineDecodeError, before it is parsed`, () => {
      const started = performance.now()
      const error = decodeError(JsonLines.decodeEvent(eventLine(payload), 3))
      assert.isBelow(performance.now() - started, 2_000) // the 0.1.0 decoder took seconds on these (loaded machine)
      assert.strictEqual(error.reason, `more than ${JsonLines.defaultMaxItems} members and elements`)
      assert.match(error.message, /^line 3: more than 50000 members and elements/)
    })
  }

  it("the item limit is exact and can be set; separators inside strings do not count", () => {
    const decodeNarrow = JsonLines.decodeLine(Event.Event, { maxItems: 6 })
    // id, msg, type, payload, and the payload's two elements: six items
    assert.isTrue(Either.isRight(decodeNarrow(eventLine(`["a:b,c", "[d,e:f]"]`), 1)))
    assert.strictEqual(decodeError(decodeNarrow(eventLine(`[1,2,3]`), 1)).reason, "more than 6 members and elements")
    assert.isTrue(Either.isRight(decodeNarrow(eventLine(`[ [ ], {}]`), 1)))
    assert.isTrue(Either.isLeft(decodeNarrow(eventLine(`[ [ 1 ], {}]`), 1)))
  })

  it("malformed JSON is still reported as invalid JSON", () => {
    assert.match(decodeError(JsonLines.decodeEvent(`{"id":"s","msg":"[[[`, 1)).reason, /^invalid JSON/)
    assert.match(decodeError(JsonLines.decodeEvent(`]]]]}`.repeat(100), 1)).reason, /^invalid JSON/)
  })

  it.prop(
    "the bounds agree with the real depth and width of any JSON value",
    [FastCheck.jsonValue(), FastCheck.array(FastCheck.boolean(), { maxLength: 40 })],
    ([json, wrappers]) => {
      // wrapped in random arrays and objects, to reach depths near and over the limit
      const value = wrappers.reduce<unknown>((inner, asArray) => asArray ? [inner, "]"] : { "\"{": inner }, json)
      const text = JSON.stringify(value)
      const depth = depthOf(value)
      const items = itemsOf(value)
      const limits = { maxDepth: depth, maxItems: items }
      assert.isTrue(Either.isRight(JsonLines.parseJson(text, 1, limits)))
      if (depth > 0) assert.isTrue(Either.isLeft(JsonLines.parseJson(text, 1, { ...limits, maxDepth: depth - 1 })))
      if (items > 0) assert.isTrue(Either.isLeft(JsonLines.parseJson(text, 1, { ...limits, maxItems: items - 1 })))
    },
    { fastCheck: { numRuns: runs } }
  )

  it.effect("a line at the limit still encodes (no overflow downstream)", () =>
    Effect.gen(function*() {
      const levels = JsonLines.defaultMaxDepth - 2
      const text = eventLine("[".repeat(levels) + "]".repeat(levels))
      assert.strictEqual(yield* JsonLines.encodeEvent(decoded(JsonLines.decodeEvent(text, 1))), text)
    }))
})

const ownKeys = (value: unknown): Array<string> => Object.keys(value as object)
const prototypeOf = (value: unknown): unknown => Object.getPrototypeOf(value)

describe("__proto__, constructor and prototype keys are plain data", () => {
  it.effect("a __proto__ patch key stays a key of changes, in order, and the prototype is untouched", () =>
    Effect.gen(function*() {
      const text = `{"id":"s","msg":{"type":"apply_patch_approval_request","call_id":"c","changes":{` +
        `"a.txt":{"type":"add","content":"a"},"__proto__":{"type":"delete","content":"gone"},` +
        `"constructor":{"type":"add","content":"c"},"prototype":{"type":"update","unified_diff":"@@","move_path":null}}}}`
      const { msg } = decoded(JsonLines.decodeEvent(text, 1))
      assert.strictEqual(msg.type, "apply_patch_approval_request")
      const changes = (msg as { readonly changes: Record<string, unknown> }).changes
      assert.deepStrictEqual(ownKeys(changes), ["a.txt", "__proto__", "constructor", "prototype"])
      assert.strictEqual(prototypeOf(changes), Object.prototype)
      assert.deepStrictEqual(Object.getOwnPropertyDescriptor(changes, "__proto__")?.value, {
        type: "delete",
        content: "gone"
      })
      assert.deepStrictEqual(Object.entries(changes).map(([path]) => path), ownKeys(changes))
      // a spread copies it as an own key too
      assert.deepStrictEqual(ownKeys({ ...changes }), ownKeys(changes))
      assert.strictEqual(yield* JsonLines.encodeEvent(decoded(JsonLines.decodeEvent(text, 1))), text)
    }))

  it("a __proto__ object cannot supply fields a request lacks", () => {
    const text = `{"id":"s","msg":{"type":"exec_approval_request","call_id":"c","command":["ls"],"cwd":"/w",` +
      `"__proto__":{"approval_id":"forged","reason":"forged","polluted":true}}}`
    const { msg } = decoded(JsonLines.decodeEvent(text, 1))
    assert.strictEqual(prototypeOf(msg), Object.prototype)
    const fields = msg as { readonly approval_id?: unknown; readonly reason?: unknown; readonly polluted?: unknown }
    assert.isUndefined(fields.approval_id)
    assert.isUndefined(fields.reason)
    assert.isUndefined(fields.polluted)
    assert.deepStrictEqual(ownKeys(msg), ["type", "call_id", "command", "cwd", "__proto__"])
    assert.isUndefined(({} as { readonly polluted?: unknown }).polluted)
  })

  it.effect("__proto__ survives in unknown events, at the top of an Event, as null, as a scalar and when escaped", () =>
    Effect.gen(function*() {
      for (
        const text of [
          `{"id":"s","msg":{"type":"future","__proto__":{"x":1},"constructor":{"prototype":{"y":2}}}}`,
          `{"__proto__":{"id":"forged"},"id":"s","msg":{"type":"agent_message","message":"m"}}`,
          `{"id":"s","msg":{"type":"future","__proto__":null}}`,
          `{"id":"s","msg":{"type":"agent_message","__proto__":1,"message":"m"}}`,
          `{"id":"s","msg":{"type":"future","nested":{"__proto__":[{"__proto__":{"z":3}}]}}}`
        ]
      ) {
        const event = decoded(JsonLines.decodeEvent(text, 1))
        assert.strictEqual(prototypeOf(event), Object.prototype, text)
        assert.strictEqual(prototypeOf(event.msg), Object.prototype, text)
        assert.strictEqual(yield* JsonLines.encodeEvent(event), text)
      }
      const escaped = `{"id":"s","msg":{"type":"future","\\u005f_proto__":{"x":1}}}`
      const event = decoded(JsonLines.decodeEvent(escaped, 1))
      assert.deepStrictEqual(ownKeys(event.msg), ["type", "__proto__"])
      assert.strictEqual(yield* JsonLines.encodeEvent(event), `{"id":"s","msg":{"type":"future","__proto__":{"x":1}}}`)
    }))

  it.effect("a __proto__ question id in a submission's answers stays a key", () =>
    Effect.gen(function*() {
      const text = `{"id":"s","op":{"type":"user_input_answer","id":"t","response":{"answers":` +
        `{"__proto__":{"answers":["yes"]},"q":{"answers":["no"]}}}}}`
      const submission = decoded(JsonLines.decodeSubmission(text, 1))
      const answers = (submission.op as { readonly response: { readonly answers: object } }).response.answers
      assert.deepStrictEqual(ownKeys(answers), ["__proto__", "q"])
      assert.strictEqual(prototypeOf(answers), Object.prototype)
      assert.strictEqual(yield* JsonLines.encodeSubmission(submission), text)
    }))

  it("the schemas themselves keep __proto__ (decoded without JsonLines)", () => {
    const json = JSON.parse(`{"type":"future_op","__proto__":{"x":1}}`)
    for (const schema of [Op.Op, EventMsg.EventMsg] as const) {
      const value = Schema.decodeUnknownSync(schema as Schema.Schema<unknown, unknown>)(json)
      assert.deepStrictEqual(ownKeys(value), ["type", "__proto__"])
      const encoded = Schema.encodeSync(schema as Schema.Schema<unknown, unknown>)(value)
      assert.strictEqual(JSON.stringify(encoded), `{"type":"future_op","__proto__":{"x":1}}`)
    }
    const submission = Schema.decodeUnknownSync(Submission.Submission)(
      JSON.parse(`{"id":"s","op":{"type":"shutdown"},"__proto__":{}}`)
    )
    assert.deepStrictEqual(ownKeys(submission), ["id", "op", "__proto__"])
  })
})

const isIndexLike = (key: string) => /^(0|[1-9][0-9]*)$/.test(key) && Number(key) < 2 ** 32 - 1

/** Object entries with unique keys, none of them `type` or array-index-like (JavaScript orders those first). */
const extraEntries = FastCheck.uniqueArray(
  FastCheck.tuple(
    FastCheck.oneof(FastCheck.string(), FastCheck.constantFrom("__proto__", "constructor", "prototype", "id")),
    FastCheck.jsonValue({ maxDepth: 3 })
  ),
  { selector: ([key]) => key, maxLength: 8 }
).map((entries) => entries.filter(([key]) => key !== "type" && !isIndexLike(key)))

const objectText = (entries: ReadonlyArray<readonly [string, unknown]>) =>
  `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`).join(",")}}`

const insertAt = <A>(items: ReadonlyArray<A>, at: number, item: A): Array<A> => [
  ...items.slice(0, at % (items.length + 1)),
  item,
  ...items.slice(at % (items.length + 1))
]

const reencode = (text: string): string =>
  Effect.runSync(JsonLines.encodeEvent(decoded(JsonLines.decodeEvent(text, 1))))

describe("events re-encode to the same bytes", () => {
  it.prop(
    "an unknown type, with random fields in random order, re-encodes byte for byte",
    [
      FastCheck.string({ minLength: 1 }).filter((type) => !EventMsg.knownEventMsgTypes.has(type)),
      extraEntries,
      FastCheck.nat()
    ],
    ([type, entries, at]) => {
      const msg = objectText(insertAt(entries, at, ["type", type] as const))
      const text = `{"id":"s","msg":${msg}}`
      assert.strictEqual(reencode(text), text)
    },
    { fastCheck: { numRuns: runs } }
  )

  const knownEvents: ReadonlyArray<ReadonlyArray<readonly [string, unknown]>> = [
    [["type", "agent_message"], ["message", "hi"]],
    [["type", "exec_command_begin"], ["call_id", "c"], ["turn_id", "t"], ["command", ["ls", "-la"]], ["cwd", "/w"]],
    [["type", "task_complete"], ["turn_id", "t"], ["last_agent_message", null], ["duration_ms", 12]],
    [["type", "token_count"], ["info", {
      last_token_usage: { total_tokens: 3, input_tokens: 1, output_tokens: 2 },
      total_token_usage: { output_tokens: 2, input_tokens: 1, total_tokens: 3, future: [1] }
    }], ["rate_limits", null]],
    [["type", "apply_patch_approval_request"], ["call_id", "c"], ["changes", {
      "b.txt": { content: "x", type: "add" },
      "a.txt": { type: "update", move_path: null, unified_diff: "@@" }
    }], ["grant_root", null]]
  ]

  it.prop(
    "a known type with unknown fields, all fields in random order, re-encodes byte for byte",
    [FastCheck.constantFrom(...knownEvents), extraEntries, FastCheck.array(FastCheck.nat(), { maxLength: 8 })],
    ([known, extras, positions]) => {
      const names = new Set(known.map(([key]) => key))
      let entries: ReadonlyArray<readonly [string, unknown]> = known
      extras.filter(([key]) => !names.has(key)).forEach((entry, index) => {
        entries = insertAt(entries, positions[index] ?? index, entry)
      })
      const text = `{"msg":${objectText(entries)},"id":"s"}`
      assert.strictEqual(decoded(JsonLines.decodeEvent(text, 1)).msg.type, known[0]![1])
      assert.strictEqual(reencode(text), text)
    },
    { fastCheck: { numRuns: runs } }
  )

  it("what does not keep its bytes: aliases, index-like keys, non-canonical JSON text", () => {
    // an alias is written under its primary name
    assert.strictEqual(
      reencode(`{"id":"s","msg":{"type":"turn_started","turn_id":"t"}}`),
      `{"id":"s","msg":{"type":"task_started","turn_id":"t"}}`
    )
    // every JavaScript object (JSON.parse's included) puts array-index keys first
    assert.strictEqual(
      reencode(`{"id":"s","msg":{"type":"future","b":1,"7":2}}`),
      `{"id":"s","msg":{"7":2,"type":"future","b":1}}`
    )
    // numbers, escapes and spaces are written the way JSON.stringify writes them
    assert.strictEqual(
      reencode(`{"id":"s", "msg":{"type":"future","n":1.0,"e":1e2,"s":"\\u0041\\/"}}`),
      `{"id":"s","msg":{"type":"future","n":1,"e":100,"s":"A/"}}`
    )
  })
})

describe("the wrapped schemas still derive", () => {
  it("equivalence and pretty printing delegate to the wrapped schema", () => {
    const equivalent = Schema.equivalence(EventMsg.EventMsg)
    const a = Schema.decodeUnknownSync(EventMsg.EventMsg)({ type: "agent_message", message: "m" })
    assert.isTrue(equivalent(a, Schema.decodeUnknownSync(EventMsg.EventMsg)({ type: "agent_message", message: "m" })))
    assert.isFalse(equivalent(a, Schema.decodeUnknownSync(EventMsg.EventMsg)({ type: "agent_message", message: "n" })))
    assert.include(Pretty.make(Event.Event)({ id: "s", msg: a }), `"agent_message"`)
  })
})
