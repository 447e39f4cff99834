import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Output from "../src/Output.js"

const sink = () => {
  const written: Array<string> = []
  return { written, sink: { write: (text: string) => void written.push(text), isTTY: false } }
}

/** An output holding at most 10 bytes behind a prompt, with the prompt open until `answer` completes. */
const withPromptOpen = Effect.gen(function*() {
  const stdout = sink()
  const stderr = sink()
  const output = yield* Output.make({
    stdout: stdout.sink,
    stderr: stderr.sink,
    color: { stdout: false, stderr: false },
    statusLine: false,
    heldBytes: 10
  })
  const promptOpen = yield* Deferred.make<void>()
  const answer = yield* Deferred.make<void>()
  const prompt = yield* output.exclusive(() =>
    Effect.zipRight(Deferred.succeed(promptOpen, undefined), Deferred.await(answer))
  ).pipe(Effect.fork)
  yield* Deferred.await(promptOpen)
  return { answer, output, prompt, stderr, stdout }
})

describe("Output: bounded output behind a prompt", () => {
  it.scoped("print waits while the held output is full, and goes on, in order, when the prompt ends", () =>
    Effect.gen(function*() {
      const { answer, output, prompt, stdout } = yield* withPromptOpen
      const printer = yield* Effect.forEach(["aaaa", "bbbb", "cccc"], (text) => output.print(text)).pipe(Effect.fork)
      // "aaaa\n" and "bbbb\n" fill the 10 bytes; the third waits for the prompt.
      while (true) {
        yield* Effect.yieldNow()
        const status = yield* Fiber.status(printer)
        if (status._tag === "Suspended") break
      }
      assert.deepStrictEqual(stdout.written, [])
      assert.isTrue((yield* Fiber.poll(printer))._tag === "None")
      yield* Deferred.succeed(answer, undefined)
      yield* Fiber.join(prompt)
      yield* Fiber.join(printer)
      assert.deepStrictEqual(stdout.written, ["aaaa\n", "bbbb\n", "cccc\n"])
    }))

  it.scoped("notes are held within the same bound: a noter waits while it is full, and nothing is lost", () =>
    Effect.gen(function*() {
      const { answer, output, prompt, stderr } = yield* withPromptOpen
      const notes = Array.from({ length: 6 }, (_, i) => `note${i}`)
      const noted = yield* Effect.forEach(notes, (text) => output.note(text)).pipe(Effect.fork)
      // Each note is 6 bytes: one fits, the second waits for the prompt (an unbounded note never waits).
      while (true) {
        const status = (yield* Fiber.status(noted))._tag
        if (status === "Suspended" || status === "Done") break
        yield* Effect.yieldNow()
      }
      assert.isTrue((yield* Fiber.poll(noted))._tag === "None", "the noter waits while the held output is full")
      assert.deepStrictEqual(stderr.written, [])
      yield* Deferred.succeed(answer, undefined)
      yield* Fiber.join(prompt)
      yield* Fiber.join(noted)
      assert.deepStrictEqual(stderr.written, notes.map((text) => `${text}\n`))
    }))

  it.scoped("a line larger than the bound still goes through (an empty buffer takes anything)", () =>
    Effect.gen(function*() {
      const stdout = sink()
      const output = yield* Output.make({
        stdout: stdout.sink,
        stderr: sink().sink,
        color: { stdout: false, stderr: false },
        statusLine: false,
        heldBytes: 4
      })
      yield* output.exclusive(() => output.print("longer than four"))
      assert.deepStrictEqual(stdout.written, ["longer than four\n"])
    }))
})
