import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Text from "../src/internal/Text.js"

/** Anything a terminal could interpret or not draw: what must never reach it raw from a sub-agent. */
const raw = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u115f\u1160\u3164\uffa0]|(?! )\p{Zs}/u

/** Every class of character that must be shown as an escape, with how it is shown. */
const classes: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, string]>]> = [
  ["C0 controls", [
    ["\x00", "\\x00"],
    ["\x07", "\\x07"],
    ["\b", "\\x08"],
    ["\t", "\\t"],
    ["\n", "\\n"],
    ["\x0b", "\\x0b"],
    ["\x0c", "\\x0c"],
    ["\r", "\\r"],
    ["\x1b", "\\x1b"],
    ["\x1f", "\\x1f"]
  ]],
  ["DEL", [["\x7f", "\\x7f"]]],
  ["C1 controls (U+009B is a CSI in VTE terminals)", [
    ["\u0080", "\\x80"],
    ["\u0085", "\\x85"],
    ["\u009b", "\\x9b"],
    ["\u009d", "\\x9d"],
    ["\u009f", "\\x9f"]
  ]],
  ["bidi overrides, embeddings, isolates and marks", [
    ["\u202a", "\\u202a"],
    ["\u202b", "\\u202b"],
    ["\u202c", "\\u202c"],
    ["\u202d", "\\u202d"],
    ["\u202e", "\\u202e"],
    ["\u2066", "\\u2066"],
    ["\u2067", "\\u2067"],
    ["\u2068", "\\u2068"],
    ["\u2069", "\\u2069"],
    ["\u200e", "\\u200e"],
    ["\u200f", "\\u200f"],
    ["\u061c", "\\u061c"]
  ]],
  ["zero-width characters", [
    ["\u200b", "\\u200b"],
    ["\u200c", "\\u200c"],
    ["\u200d", "\\u200d"],
    ["\u2060", "\\u2060"],
    ["\ufeff", "\\ufeff"]
  ]],
  ["other format characters (Cf)", [
    ["\u00ad", "\\xad"],
    ["\u2061", "\\u2061"],
    ["\ufff9", "\\ufff9"],
    ["\u{e0041}", "\\u{e0041}"],
    ["\u{1d173}", "\\u{1d173}"]
  ]],
  ["line and paragraph separators", [["\u2028", "\\u2028"], ["\u2029", "\\u2029"]]],
  ["lone surrogates", [["\ud800", "\\ud800"], ["\udfff", "\\udfff"]]],
  ["spaces that are not the ASCII space, and blank fillers", [
    ["\u00a0", "\\xa0"],
    ["\u2007", "\\u2007"],
    ["\u3000", "\\u3000"],
    ["\u3164", "\\u3164"]
  ]]
]

describe("Text", () => {
  for (const [name, samples] of classes) {
    it(`shows ${name} as visible escapes, never raw and never dropped`, () => {
      for (const [char, escape] of samples) {
        const shown = Text.visible(`rm${char}-rf`)
        assert.strictEqual(shown, `rm${escape}-rf`, JSON.stringify(char))
        assert.notMatch(shown, raw)
        assert.isTrue(Text.hasHidden(char))
      }
    })
  }

  it("leaves printable text alone: ASCII, accents, CJK, emoji (pairs), the ASCII space", () => {
    const text = "ls -la ~/café/日本 😀 'a b' \"c\" $HOME \\"
    assert.strictEqual(Text.visible(text), text)
    assert.isFalse(Text.hasHidden(text))
  })

  it("an ANSI sequence, an OSC title and a C1 CSI come out as text", () => {
    assert.strictEqual(
      Text.visible("\x1b[2J\x1b]0;pwned\x07\u009b1A\x1b[8m"),
      "\\x1b[2J\\x1b]0;pwned\\x07\\x9b1A\\x1b[8m"
    )
  })

  it("one line keeps the start and the end of a long field, and says how much is left out", () => {
    const hostile = `rm -rf ~/important-data${"\n".repeat(60)}ls -la`
    const line = Text.oneLine(hostile, 60)
    assert.notInclude(line, "\n")
    assert.isTrue(line.startsWith("rm -rf ~/"), line)
    assert.isTrue(line.endsWith("ls -la"), line)
    assert.match(line, /…\[\d+ more characters\]…/)
    assert.isAtMost(line.length, 60)
    assert.strictEqual(Text.oneLine("short", 60), "short")
  })

  it("a mark sets escapes off without changing the width", () => {
    const mark = (escape: string) => `[${escape}]`
    assert.strictEqual(Text.visible("a\nb\\n", mark), "a[\\n]b\\n")
    assert.strictEqual(
      Text.oneLine(`x\n${"y".repeat(100)}\nz`, 40, mark),
      "x[\\n]yyyyyy…[89 more characters]…yyyyy[\\n]z"
    )
  })

  it("one line never cuts an escape in two", () => {
    const line = Text.oneLine("\x1b".repeat(100), 30)
    assert.match(line, /^(\\x1b)+…\[\d+ more characters\]…(\\x1b)+$/)
  })

  it("an excerpt keeps the first and the last lines with the count in between", () => {
    const text = ["rm -rf ~/important-data", ...Array.from({ length: 60 }, () => ""), "ls -la"].join("\n")
    assert.deepStrictEqual(Text.excerpt(text, { head: 2, tail: 2, width: 80 }), [
      "rm -rf ~/important-data",
      "",
      "… 58 more lines …",
      "",
      "ls -la"
    ])
    assert.deepStrictEqual(Text.excerpt("a\r\nb\rc\n", { head: 2, tail: 2, width: 80 }), ["a", "b\\rc"])
  })

  it.prop(
    "nothing raw gets through visible, oneLine or excerpt, whatever the text",
    [FastCheck.string({ unit: "binary", maxLength: 300 }), FastCheck.integer({ min: 1, max: 200 })],
    ([text, width]) => {
      assert.notMatch(Text.visible(text), raw)
      const line = Text.oneLine(text, width)
      assert.notMatch(line, raw)
      for (const excerptLine of Text.excerpt(text, { head: 2, tail: 2, width })) assert.notMatch(excerptLine, raw)
      // Its start and its end are the start and the end of the whole, shown.
      const whole = Text.visible(text)
      const [head, tail] = line.split(/…\[[\d,]+ more characters?\]…/)
      assert.isTrue(whole.startsWith(head))
      assert.isTrue(tail === undefined ? line === whole : whole.endsWith(tail))
    },
    { fastCheck: { numRuns: 300 } }
  )
})
