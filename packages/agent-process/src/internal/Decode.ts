/**
 * Turns numbered stdout lines into events: each line decodes as an `Event`; a line that does not, or one
 * that is too long, becomes a `deputy_diagnostic` event (or, in strict mode, the end of the agent).
 */
import { AgentDiagnostic } from "@deputy/core"
import type { Event } from "@deputy/protocol"
import { JsonLines } from "@deputy/protocol"
import type * as Chunk from "effect/Chunk"
import * as Either from "effect/Either"

/** The events of one chunk of lines and, in strict mode, the problem that ends the agent. */
export interface Decoded {
  readonly events: Array<Event>
  readonly fatal: JsonLines.LineDecodeError | JsonLines.LineTooLong | undefined
}

const diagnostic = (problem: JsonLines.LineDecodeError | JsonLines.LineTooLong): Event =>
  AgentDiagnostic.toEvent({
    type: "deputy_diagnostic",
    kind: problem._tag === "LineTooLong" ? "line_too_long" : "malformed_line",
    message: problem.message,
    line: problem.line,
    snippet: problem.snippet
  })

/** Decodes a chunk of lines in one plain loop (no effect per line). Strict mode stops at the first problem. */
export const decodeChunk = (
  lines: Chunk.Chunk<Either.Either<JsonLines.Line, JsonLines.LineTooLong>>,
  strict: boolean
): Decoded => {
  const events: Array<Event> = []
  for (const item of lines) {
    const result: Either.Either<Event, JsonLines.LineDecodeError | JsonLines.LineTooLong> = Either.isRight(item)
      ? JsonLines.decodeEvent(item.right.text, item.right.line)
      : Either.left(item.left)
    if (Either.isRight(result)) {
      events.push(result.right)
    } else if (strict) {
      return { events, fatal: result.left }
    } else {
      events.push(diagnostic(result.left))
    }
  }
  return { events, fatal: undefined }
}
