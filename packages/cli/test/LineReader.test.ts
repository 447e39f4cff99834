import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { PassThrough } from "node:stream"
import * as LineReader from "../src/internal/LineReader.js"
import * as Cli from "./utils/cli.js"

const reader = (maxLine?: number) => {
  const input = new PassThrough()
  const tooLong: Array<number> = []
  const readLine = LineReader.make(input as unknown as NodeJS.ReadStream, {
    maxLine,
    onTooLong: (limit) => void tooLong.push(limit)
  })
  return { input, tooLong, readLine }
}

describe("LineReader: bounded lines from stdin", () => {
  it.effect("lines across chunks, CRLF, the last line without a newline, then the end", () =>
    Effect.gen(function*() {
      const { input, readLine } = reader()
      input.write("fir")
      input.write("st\r\nsecond\nthi")
      input.end("rd")
      assert.strictEqual(yield* readLine, "first")
      assert.strictEqual(yield* readLine, "second")
      assert.strictEqual(yield* readLine, "third")
      const end = yield* Effect.flip(readLine)
      assert.strictEqual(end._tag, "QuitException")
    }))

  it.effect("a line over the limit ends the input and is reported, whatever follows", () =>
    Effect.gen(function*() {
      const { input, readLine, tooLong } = reader(1000)
      input.write("ok\n")
      assert.strictEqual(yield* readLine, "ok")
      for (let chunk = 0; chunk < 5; chunk++) input.write("\0".repeat(400))
      const end = yield* Effect.flip(readLine)
      assert.strictEqual(end._tag, "QuitException")
      assert.deepStrictEqual(tooLong, [1000])
      input.write("late\n")
      assert.strictEqual((yield* Effect.flip(readLine))._tag, "QuitException")
    }))

  it("deputy run -i </dev/zero ends with the message instead of growing", async () => {
    const zero = fs.openSync("/dev/zero", "r")
    const child = spawn(process.execPath, [Cli.bin, "run", "-i", "--agent-command", Cli.agentCommand()], {
      stdio: [zero, "pipe", "pipe"]
    })
    fs.closeSync(zero)
    let stderr = ""
    child.stderr!.on("data", (data) => (stderr += data))
    const code = await new Promise((resolve) => child.on("close", resolve))
    assert.include(stderr, "deputy: a line on stdin is longer than 1 MiB; reading stopped (end of input)")
    assert.strictEqual(code, 0)
  }, 60_000)
})
