import { JsonLines } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"

describe("JsonLines", () => {
  it("decodes an Event line", () => {
    const result = JsonLines.decodeEvent(`{"id":"s","msg":{"type":"agent_message","message":"hi"}}`, 3)
    assert.deepStrictEqual(result, Either.right({ id: "s", msg: { type: "agent_message", message: "hi" } }))
  })

  it("malformed JSON names the line and shows a snippet", () => {
    const result = JsonLines.decodeEvent(`{"id":"s","msg":{"type":`, 17)
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.strictEqual(result.left._tag, "LineDecodeError")
      assert.strictEqual(result.left.line, 17)
      assert.include(result.left.snippet, `{"id":"s"`)
      assert.match(result.left.message, /^line 17: invalid JSON/)
    }
  })

  it("a schema mismatch names the line, the path and what was expected", () => {
    const result = JsonLines.decodeSubmission(
      `{"id":"s","op":{"type":"patch_approval","id":1,"decision":"approved"}}`,
      2
    )
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.match(result.left.message, /^line 2: does not match the protocol/)
      assert.match(result.left.reason, /Expected string, actual 1/)
    }
  })

  it("a snippet flattens whitespace and shows only the start of a huge line", () => {
    assert.strictEqual(JsonLines.snippet("{\n  \"a\": 1\n}"), `{ "a": 1 }`)
    const huge = `{"a":"${"x\n".repeat(4_000_000)}"`
    const started = performance.now()
    const shown = JsonLines.snippet(huge)
    // 0.1.0 flattened the whole line: 3-4 s here, per malformed line; now well under a millisecond
    assert.isBelow(performance.now() - started, 1_000)
    assert.isTrue(shown.startsWith(`{"a":"x x x`))
    assert.isTrue(shown.endsWith(`… (${huge.length} chars)`))
    assert.isBelow(shown.length, 160)
  })

  it("a long offending line is cut in the snippet", () => {
    const text = `{"id":"${"x".repeat(1000)}"`
    const result = JsonLines.decodeEvent(text, 1)
    assert.isTrue(Either.isLeft(result) && result.left.snippet.length < 200)
  })

  it.effect("encodes to one line that decodes back", () =>
    Effect.gen(function*() {
      const line = yield* JsonLines.encodeSubmission({ id: "s", op: { type: "shutdown" } })
      assert.notInclude(line, "\n")
      assert.deepStrictEqual(JsonLines.decodeSubmission(line, 1), Either.right({ id: "s", op: { type: "shutdown" } }))
    }))

  it.effect("splitLines joins chunks, numbers lines, skips blanks, handles CRLF", () =>
    Effect.gen(function*() {
      const out = yield* Stream.make("a\r\nb", "c\n\n", "d").pipe(JsonLines.splitLines(), Stream.runCollect)
      assert.deepStrictEqual(Chunk.toReadonlyArray(out), [
        Either.right({ line: 1, text: "a" }),
        Either.right({ line: 2, text: "bc" }),
        Either.right({ line: 4, text: "d" })
      ])
    }))

  it.effect("splitLines reports an over-long line without buffering it and reads on", () =>
    Effect.gen(function*() {
      const out = yield* Stream.make("ok\n", "x".repeat(8), "y".repeat(8), "z\nnext\n").pipe(
        JsonLines.splitLines({ maxLineLength: 10 }),
        Stream.runCollect
      )
      const items = Chunk.toReadonlyArray(out)
      assert.deepStrictEqual(items[0], Either.right({ line: 1, text: "ok" }))
      assert.isTrue(Either.isLeft(items[1]!))
      if (Either.isLeft(items[1]!)) {
        assert.strictEqual(items[1].left.line, 2)
        assert.strictEqual(items[1].left.length, 17)
        assert.strictEqual(items[1].left.maxLength, 10)
        assert.match(items[1].left.message, /line 2 is 17 characters long, over the limit of 10/)
      }
      assert.deepStrictEqual(items[2], Either.right({ line: 3, text: "next" }))
    }))

  it.effect("an over-long last line without a newline is still reported", () =>
    Effect.gen(function*() {
      const out = yield* Stream.make("x".repeat(20)).pipe(
        JsonLines.splitLines({ maxLineLength: 10 }),
        Stream.runCollect
      )
      assert.strictEqual(Chunk.size(out), 1)
      assert.isTrue(Either.isLeft(Chunk.unsafeGet(out, 0)))
    }))
})
