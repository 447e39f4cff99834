import { ChildProcess } from "@deputy/agent-process"
import { assert, describe, it } from "@effect/vitest"

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
