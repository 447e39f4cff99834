/**
 * The last bytes a child wrote on stderr, kept for error reports.
 */

/** A bounded tail of a byte stream: keeps at most `maxBytes`, dropping the oldest. */
export class StderrTail {
  private buffer = new Uint8Array(0)

  constructor(private readonly maxBytes: number) {}

  /** Appends a chunk of bytes, keeping only the last `maxBytes`. */
  push(bytes: Uint8Array): void {
    if (this.maxBytes <= 0) return
    if (bytes.length >= this.maxBytes) {
      this.buffer = bytes.slice(bytes.length - this.maxBytes)
      return
    }
    const keep = Math.min(this.buffer.length, this.maxBytes - bytes.length)
    const next = new Uint8Array(keep + bytes.length)
    next.set(this.buffer.subarray(this.buffer.length - keep), 0)
    next.set(bytes, keep)
    this.buffer = next
  }

  /** The tail as text (a character cut at the start shows as U+FFFD), or `undefined` when empty. */
  text(): string | undefined {
    return this.buffer.length === 0 ? undefined : new TextDecoder().decode(this.buffer)
  }
}
