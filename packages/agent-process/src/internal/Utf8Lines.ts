/**
 * Which lines of a child's stdout are not valid UTF-8, found on the bytes before they are decoded (the
 * decoder would put U+FFFD in place of what the child wrote, and nobody could tell). Lines are numbered from
 * 1 by their `\n`, as `JsonLines.splitLines` numbers them. Valid chunks take the native check
 * (`buffer.isUtf8`) and a newline count; only a chunk that fails it is walked byte by byte.
 */
import { isUtf8 } from "node:buffer"

/** The numbers of the lines seen to hold invalid UTF-8, and not yet taken. */
export class Utf8Lines {
  private line = 1
  /** The bytes of a character cut at the end of the last chunk (at most 3). */
  private carry: Uint8Array = new Uint8Array(0)
  private readonly invalid = new Set<number>()

  /** Checks the next chunk of bytes. */
  push(chunk: Uint8Array): void {
    let bytes = chunk
    if (this.carry.length > 0) {
      bytes = new Uint8Array(this.carry.length + chunk.length)
      bytes.set(this.carry, 0)
      bytes.set(chunk, this.carry.length)
    }
    const cut = incompleteTail(bytes)
    this.carry = bytes.slice(bytes.length - cut)
    const whole = bytes.subarray(0, bytes.length - cut)
    if (isUtf8(whole)) this.line += countNewlines(whole)
    else this.walk(whole)
  }

  /** At the end of the stream: a character cut there is invalid. */
  end(): void {
    if (this.carry.length > 0) this.invalid.add(this.line)
    this.carry = new Uint8Array(0)
  }

  /** Whether line `line` held invalid UTF-8 (asked once per line: the answer is forgotten). */
  take(line: number): boolean {
    return this.invalid.delete(line)
  }

  /** Byte by byte (the Unicode standard's well-formed sequences, table 3-7). */
  private walk(bytes: Uint8Array): void {
    let i = 0
    while (i < bytes.length) {
      const byte = bytes[i]!
      if (byte < 0x80) {
        if (byte === 0x0a) this.line += 1
        i += 1
        continue
      }
      const length = sequenceLength(bytes, i)
      if (length === 0) {
        this.invalid.add(this.line)
        i += 1
      } else {
        i += length
      }
    }
  }
}

/** The bounds of the second byte after a lead byte, and how many continuation bytes follow it (0: not a lead). */
const lead = (byte: number): readonly [number, number, number] =>
  byte >= 0xc2 && byte <= 0xdf
    ? [1, 0x80, 0xbf]
    : byte === 0xe0
    ? [2, 0xa0, 0xbf]
    : byte === 0xed
    ? [2, 0x80, 0x9f]
    : byte >= 0xe1 && byte <= 0xef
    ? [2, 0x80, 0xbf]
    : byte === 0xf0
    ? [3, 0x90, 0xbf]
    : byte === 0xf4
    ? [3, 0x80, 0x8f]
    : byte >= 0xf1 && byte <= 0xf3
    ? [3, 0x80, 0xbf]
    : [0, 0, 0]

/** The length of the well-formed sequence at `at`, or 0 when the bytes there are not one. */
const sequenceLength = (bytes: Uint8Array, at: number): number => {
  const [following, low, high] = lead(bytes[at]!)
  if (following === 0 || at + following >= bytes.length) return 0
  const second = bytes[at + 1]!
  if (second < low || second > high) return 0
  for (let k = 2; k <= following; k++) {
    const next = bytes[at + k]!
    if (next < 0x80 || next > 0xbf) return 0
  }
  return following + 1
}

/** How many bytes at the end are the start of a character that may go on in the next chunk (0 to 3). */
const incompleteTail = (bytes: Uint8Array): number => {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back]!
    if (byte < 0x80) return 0
    if (byte >= 0xc0) {
      const [following, low, high] = lead(byte)
      if (following < back) return 0
      // Only a prefix of a well-formed sequence is carried; anything else is judged now.
      if (back >= 2) {
        const second = bytes[bytes.length - back + 1]!
        if (second < low || second > high) return 0
      }
      return back
    }
  }
  return 0
}

const countNewlines = (bytes: Uint8Array): number => {
  let count = 0
  let at = bytes.indexOf(0x0a)
  while (at !== -1) {
    count += 1
    at = bytes.indexOf(0x0a, at + 1)
  }
  return count
}
