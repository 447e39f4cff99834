import { Text } from "@deputy/core"
import { View } from "@deputy/web"
import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"

const hostile = FastCheck.oneof(
  FastCheck.string({ unit: "binary", maxLength: 300 }),
  FastCheck.constantFrom("<script>alert(1)</script>", "\x1b[2J\x1b]0;t\x07", "a\u202eb\u200bc\r\n", "\0\x9b\ud800")
)

describe("View.shown", () => {
  it.prop("is Text.oneLine cut into runs: text at even positions, one escape at each odd position", [
    hostile,
    FastCheck.integer({ min: 16, max: 400 })
  ], ([text, width]) => {
    const runs = View.shown(text, width)
    assert.strictEqual(runs.join(""), Text.oneLine(text, width))
    assert.strictEqual(runs.length % 2, 1)
    runs.forEach((run, index) => {
      if (index % 2 === 1) assert.match(run, /^\\(x[0-9a-f]{2}|u[0-9a-f]{4}|u\{[0-9a-f]+\}|n|r|t)$/)
      else assert.isFalse(Text.hasHidden(run), JSON.stringify(run))
    })
  })

  it("keeps a long field's start and end", () => {
    const runs = View.shown(`rm -rf ~/x${" ".repeat(5000)}ls`, 100)
    const joined = runs.join("")
    assert.isTrue(joined.startsWith("rm -rf ~/x"))
    assert.isTrue(joined.endsWith("ls"))
    assert.include(joined, "more characters")
  })
})

describe("the page script", () => {
  it("has no HTML sink: everything goes in through text nodes", async () => {
    const fs = await import("node:fs")
    const source = fs.readFileSync(new URL("../client/app.ts", import.meta.url), "utf8")
    const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "")
    for (
      const sink of [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "DOMParser",
        "createContextualFragment",
        "srcdoc",
        "eval(",
        "new Function"
      ]
    ) {
      assert.notInclude(code, sink)
    }
  })
})
