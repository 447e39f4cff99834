import { assert, describe, it } from "@effect/vitest"
import * as Option from "effect/Option"
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
})
