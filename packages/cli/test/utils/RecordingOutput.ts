import * as Effect from "effect/Effect"
import * as Output from "../../src/Output.js"

/** An `Output` that records what is written to each stream (no colour, no status line). */
export const make = (options: { readonly color?: boolean } = {}) =>
  Effect.gen(function*() {
    const stdout: Array<string> = []
    const stderr: Array<string> = []
    const output = yield* Output.make({
      stdout: { write: (text) => void stdout.push(text), isTTY: false },
      stderr: { write: (text) => void stderr.push(text), isTTY: false },
      color: { stdout: options.color ?? false, stderr: options.color ?? false },
      statusLine: false
    })
    return { output, stdout: () => stdout.join(""), stderr: () => stderr.join("") }
  })
