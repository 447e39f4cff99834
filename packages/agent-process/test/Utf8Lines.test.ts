/**
 * `Utf8Lines` against the platform's own strict decoder: for any bytes, cut into chunks anywhere, the lines
 * it finds invalid are exactly those `TextDecoder` with `fatal: true` refuses.
 */
import { assert, describe, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { Utf8Lines } from "../src/internal/Utf8Lines.js"

/** The lines (numbered from 1 by `\n`) a strict decoder refuses. */
const refused = (bytes: Uint8Array): Array<number> => {
  const decoder = new TextDecoder("utf-8", { fatal: true })
  const lines: Array<number> = []
  let start = 0
  let line = 1
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0x0a) continue
    try {
      decoder.decode(bytes.subarray(start, i))
    } catch {
      lines.push(line)
    }
    line += 1
    start = i + 1
  }
  return lines
}

const found = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<number> => {
  const utf8 = new Utf8Lines()
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
  let start = 0
  for (const point of [...points, bytes.length]) {
    utf8.push(bytes.subarray(start, point))
    start = point
  }
  utf8.end()
  const lines: Array<number> = []
  for (let line = 1; line <= bytes.length + 1; line++) if (utf8.take(line)) lines.push(line)
  return lines
}

/** Bytes rich in what matters: lead and continuation bytes, the edges of the valid ranges, newlines. */
const byte = FastCheck.oneof(
  FastCheck.integer({ min: 0, max: 255 }),
  FastCheck.constantFrom(0x0a, 0x41, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef),
  FastCheck.constantFrom(0xf0, 0xf1, 0xf4, 0xf5, 0xff)
)
/** Valid text too, so that long valid stretches (the native path) are cut inside characters. */
const piece = FastCheck.oneof(
  FastCheck.array(byte, { maxLength: 12 }),
  FastCheck.string({ unit: "binary", maxLength: 12 }).map((text) => [...Buffer.from(text)]),
  // The edges of table 3-7: surrogates, overlongs, past U+10FFFF, and their valid neighbours.
  FastCheck.constantFrom(
    [0xed, 0xa0, 0x80],
    [0xed, 0x9f, 0xbf],
    [0xe0, 0x80, 0x80],
    [0xe0, 0xa0, 0x80],
    [0xf0, 0x80, 0x80, 0x80],
    [0xf0, 0x90, 0x80, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0xf4, 0x8f, 0xbf, 0xbf],
    [0xc0, 0x80],
    [0xc2, 0x80]
  )
)

describe("Utf8Lines", () => {
  it("finds exactly the lines a strict decoder refuses, however the bytes are cut", () =>
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(piece, { maxLength: 20 }),
        FastCheck.array(FastCheck.nat(), { maxLength: 8 }),
        (pieces, cuts) => {
          const bytes = Uint8Array.from(pieces.flat())
          assert.deepStrictEqual(found(bytes, cuts), refused(bytes))
        }
      ),
      { numRuns: 2000 }
    ))
})
