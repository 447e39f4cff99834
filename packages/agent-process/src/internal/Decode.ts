/**
 * Turns numbered stdout lines into events: each line decodes as an `Event`; a line that does not, one that
 * is too long, or one that held invalid UTF-8 (`Utf8Lines`), becomes a `deputy_diagnostic` event (or, in
 * strict mode, the end of the agent).
 */
import { Agent, AgentDiagnostic } from "@deputy/core"
import { type Event, JsonLines } from "@deputy/protocol"
import type * as Chunk from "effect/Chunk"
import * as Either from "effect/Either"
import type { Utf8Lines } from "./Utf8Lines.js"

/** The events of one chunk of lines, their sizes in bytes and, in strict mode, the problem that ends the agent. */
export interface Decoded {
  readonly events: Array<Event.Event>
  /** The UTF-8 length of the line each event came from (same order as `events`). */
  readonly bytes: Array<number>
  readonly fatal: JsonLines.LineDecodeError | JsonLines.LineTooLong | undefined
}

const diagnostic = (problem: JsonLines.LineDecodeError | JsonLines.LineTooLong): Event.Event =>
  AgentDiagnostic.toEvent({
    type: "deputy_diagnostic",
    kind: problem._tag === "LineTooLong" ? "line_too_long" : "malformed_line",
    message: problem.message,
    line: problem.line,
    snippet: problem.snippet
  })

/**
 * THE place where an event's size in bytes is known: every event read from a child passes here once, with
 * the UTF-8 length of its line, recorded for the delegate's byte-bounded buffer (`Agent.bytesOf`).
 */
export const onDecoded = (event: Event.Event, bytes: number): void => Agent.recordBytes(event, bytes)

/**
 * Decodes a chunk of lines in one plain loop (no effect per line); `utf8` tells which lines held invalid
 * UTF-8. Strict mode stops at the first problem.
 */
export const decodeChunk = (
  lines: Chunk.Chunk<Either.Either<JsonLines.Line, JsonLines.LineTooLong>>,
  strict: boolean,
  utf8: Utf8Lines
): Decoded => {
  const events: Array<Event.Event> = []
  const bytes: Array<number> = []
  for (const item of lines) {
    const invalid = utf8.take(Either.isRight(item) ? item.right.line : item.left.line)
    const result: Either.Either<Event.Event, JsonLines.LineDecodeError | JsonLines.LineTooLong> = Either.isLeft(item)
      ? Either.left(item.left)
      : invalid
      ? Either.left(
        new JsonLines.LineDecodeError({
          line: item.right.line,
          snippet: JsonLines.snippet(item.right.text),
          reason: "invalid UTF-8 (bytes that are no character, shown here as U+FFFD); the line was skipped"
        })
      )
      : JsonLines.decodeEvent(item.right.text, item.right.line)
    if (Either.isLeft(result) && strict) return { events, bytes, fatal: result.left }
    const event = Either.isRight(result) ? result.right : diagnostic(result.left)
    const size = Either.isRight(item) ? Buffer.byteLength(item.right.text, "utf8") + 1 : 256
    onDecoded(event, size)
    events.push(event)
    bytes.push(size)
  }
  return { events, bytes, fatal: undefined }
}
