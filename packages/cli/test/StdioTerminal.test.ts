import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { EventEmitter } from "node:events"
import * as StdioTerminal from "../src/StdioTerminal.js"

const names = (chunk: string) =>
  StdioTerminal.decodeKeys(chunk).map(({ input, key }) =>
    `${key.ctrl ? "ctrl+" : ""}${key.shift ? "shift+" : ""}${key.name}${
      Option.isSome(input) ? `(${JSON.stringify(input.value)})` : ""
    }`
  )

describe("StdioTerminal", () => {
  it("decodes what a terminal in raw mode sends into keys, as readline names them", () => {
    assert.deepStrictEqual(names("aZ 1"), ["a(\"a\")", "shift+z(\"Z\")", "space(\" \")", "1(\"1\")"])
    assert.deepStrictEqual(names("\x03\x04\r\n\t\x7f"), [
      "ctrl+c(\"\\u0003\")",
      "ctrl+d(\"\\u0004\")",
      "return(\"\\r\")",
      "enter(\"\\n\")",
      "tab(\"\\t\")",
      "backspace(\"\x7f\")"
    ])
    assert.deepStrictEqual(names("\x1b[A\x1b[B\x1bOC\x1b[3~\x1b[99X\x1b"), [
      "up",
      "down",
      "right",
      "delete",
      "undefined",
      "escape(\"\\u001b\")"
    ])
  })

  /** A stdin in raw mode whose data the test sends, and a clock the test sets. */
  const fakeStdio = () => {
    const emitter = new EventEmitter()
    const clock = { now: 1_000 }
    const stdin = {
      isTTY: true,
      readableEnded: false,
      rawMode: [] as Array<boolean>,
      setRawMode: (mode: boolean) => void stdin.rawMode.push(mode),
      setEncoding: () => undefined,
      on: (event: "data" | "end", listener: (data: string) => void) => emitter.on(event, listener),
      once: (event: "end", listener: () => void) => emitter.once(event, listener),
      off: (event: "data", listener: (data: string) => void) => emitter.off(event, listener),
      pause: () => undefined,
      resume: () => undefined
    }
    const terminal = StdioTerminal.makeWith({ stdin, stderr: { write: () => true }, now: () => clock.now })
    return { terminal, clock, stdin, send: (data: string) => emitter.emit("data", data) }
  }

  it.scoped("Ctrl-C right after a prompt appears is delivered; other type-ahead is dropped", () =>
    Effect.gen(function*() {
      const stdio = fakeStdio()
      const terminal = yield* stdio.terminal
      const keys = yield* terminal.readInput
      // Within the type-ahead window (the clock has not moved): a half-typed "y" must not answer the prompt.
      stdio.send("y\x03")
      const [taken, done] = yield* keys.takeAll
      assert.deepStrictEqual(Chunk.toReadonlyArray(taken).map((input) => input.key.name), ["c"])
      assert.isTrue(Chunk.unsafeGet(taken, 0).key.ctrl)
      assert.isTrue(done, "the input ends after Ctrl-C, as NodeTerminal's does")
    }))

  it.scoped("after the type-ahead window keys are delivered as typed", () =>
    Effect.gen(function*() {
      const stdio = fakeStdio()
      const terminal = yield* stdio.terminal
      const keys = yield* terminal.readInput
      assert.deepStrictEqual(stdio.stdin.rawMode, [true])
      stdio.send("z")
      stdio.clock.now += 31
      stdio.send("a")
      const taken = yield* keys.take
      assert.strictEqual(taken.key.name, "a")
    }))
})
