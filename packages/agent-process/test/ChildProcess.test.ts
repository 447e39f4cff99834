import { ChildProcess } from "@deputy/agent-process"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

describe("ChildProcess.makeEventBuffer", () => {
  it.live("offering waits while the bytes not yet taken would pass the limit, and resumes when taken", () =>
    Effect.gen(function*() {
      const buffer = yield* ChildProcess.makeEventBuffer<string, never>({ maxEvents: 100, maxBytes: 25 })
      yield* buffer.offerAll(["a", "b"], [10, 10])
      assert.strictEqual(buffer.bytes(), 20)
      assert.isFalse(buffer.isFull())
      const blocked = yield* Effect.fork(buffer.offerAll(["c", "d"], [10, 10]))
      yield* Effect.sleep("100 millis")
      // "c" would make 30 bytes: nothing more is offered (the reader stops pulling stdout).
      assert.isNull(blocked.unsafePoll())
      assert.deepStrictEqual(Chunk.toArray((yield* buffer.mailbox.takeN(1))[0]), ["a"])
      // 10 taken: "c" fits (20), "d" would not (30).
      yield* Effect.sleep("100 millis")
      assert.strictEqual(buffer.bytes(), 20)
      assert.isNull(blocked.unsafePoll())
      const [rest] = yield* buffer.mailbox.takeAll
      assert.deepStrictEqual(Chunk.toArray(rest), ["b", "c"])
      yield* Fiber.join(blocked)
      assert.deepStrictEqual(Chunk.toArray((yield* buffer.mailbox.takeAll)[0]), ["d"])
      assert.strictEqual(buffer.bytes(), 0)
    }))

  it.live("one event larger than the limit alone still passes (the splitter skips lines over the limit)", () =>
    Effect.gen(function*() {
      const buffer = yield* ChildProcess.makeEventBuffer<string, never>({ maxEvents: 100, maxBytes: 5 })
      yield* buffer.offerAll(["big"], [50])
      assert.isTrue(buffer.isFull())
    }))
})

describe("ChildProcess.explainStderr", () => {
  it("keeps the lines that carry an error message, never stack frames", () => {
    const node = [
      "node:internal/modules/cjs/loader:1228",
      "  throw err;",
      "  ^",
      "",
      "Error: Cannot find module '/x.mjs'",
      "    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)",
      "  code: 'MODULE_NOT_FOUND',",
      "Node.js v20.19.0"
    ].join("\n")
    assert.deepStrictEqual(ChildProcess.explainStderr(node), ["Error: Cannot find module '/x.mjs'"])
    const codex =
      "Error: CODEX_HOME points to \"/nope\", but that path does not exist\n\nStack backtrace:\n   0: <unknown>\n"
    assert.deepStrictEqual(ChildProcess.explainStderr(codex), [
      "Error: CODEX_HOME points to \"/nope\", but that path does not exist"
    ])
    assert.deepStrictEqual(ChildProcess.explainStderr("all good\n"), [])
  })
})

describe("ChildProcess.StderrTail", () => {
  it("keeps the start and the end, and says how much was left out", () => {
    const tail = new ChildProcess.StderrTail(40)
    tail.push(new TextEncoder().encode("Error: first line\n" + "x".repeat(100) + "\nlast line\n"))
    const text = tail.text()!
    assert.isTrue(text.startsWith("Error: fi"))
    assert.isTrue(text.endsWith("last line\n"))
    assert.match(text, /… \d+ bytes of stderr left out …/)
  })
})
