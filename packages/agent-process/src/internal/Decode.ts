/**
 * Turns numbered stdout lines into events: each line decodes as an `Event`; a line that does not, or one
 * that is too long, becomes a `deputy_diagnostic` event (or, in strict mode, the end of the agent).
 */
import { Agent, AgentDiagnostic } from "@deputy/core"
import { type Event, JsonLines } from "@deputy/protocol"
import type * as Chunk from "effect/Chunk"
import * as Either from "effect/Either"

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

/** Decodes a chunk of lines in one plain loop (no effect per line). Strict mode stops at the first problem. */
export const decodeChunk = (
  lines: Chunk.Chunk<Either.Either<JsonLines.Line, JsonLines.LineTooLong>>,
  strict: boolean
): Decoded => {
  const events: Array<Event.Event> = []
  const bytes: Array<number> = []
  for (const item of lines) {
    const result: Either.Either<Event.Event, JsonLines.LineDecodeError | JsonLines.LineTooLong> = Either.isRight(item)
      ? JsonLines.decodeEvent(item.right.text, item.right.line)
      : Either.left(item.left)
    if (Either.isLeft(result) && strict) return { events, bytes, fatal: result.left }
    const event = Either.isRight(result) ? result.right : diagnostic(result.left)
    const size = Either.isRight(item) ? Buffer.byteLength(item.right.text, "utf8") + 1 : 256
    onDecoded(event, size)
    events.push(event)
    bytes.push(size)
  }
  return { events, bytes, fatal: undefined }
}
