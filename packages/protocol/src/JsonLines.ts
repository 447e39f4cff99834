/**
 * JSON-lines transport codec: one JSON value per line, decoded with a schema, with typed errors that say
 * which line failed and show a snippet of it, and bounds on line length, nesting depth and width.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Event } from "./Event.js"
import { excess } from "./internal/json.js"
import { Submission } from "./Submission.js"

/**
 * Default maximum line length in characters (8 MiB): a child that writes more on one line is misbehaving.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxLineLength = 8 * 1024 * 1024

/**
 * Default maximum nesting depth of arrays and objects in one line (128, serde_json's recursion limit: the
 * deepest JSON Codex itself reads). Real Codex events nest 8 levels at most; a deeper line is refused before
 * it is parsed, so nothing downstream (`JSON.stringify` overflows its stack near 5,000 levels) ever sees it.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultMaxDepth = 128

/**
 * Default maximum number of items (object members and array elements, over the whole line) in one line:
 * 50,000. Each costs the schema pass microseconds and decoding holds the event loop (measured on a loaded
 * machine: 700,000 keys in one 8 MB line took 38 s, 100,000 keys 4.5 s, 1.5 million command words 3.7 s), so a
 * wider line is refused before it is parsed.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultMaxItems = 50_000

/**
 * Options of `decodeLine` and `parseJson`.
 *
 * @since 0.2.0
 * @category models
 */
export interface DecodeOptions {
  /** Deepest nesting of arrays and objects accepted; default `defaultMaxDepth`. */
  readonly maxDepth?: number | undefined
  /** Most items (object members and array elements, in all) accepted in one line; default `defaultMaxItems`. */
  readonly maxItems?: number | undefined
}

const snippetLength = 120

/**
 * A short, single-line excerpt of an offending line for error messages.
 *
 * @since 0.1.0
 * @category utils
 */
export const snippet = (text: string): string => {
  // only the start is shown: flatten a bounded prefix, not a line of megabytes
  const prefix = text.slice(0, 4 * snippetLength)
  const flat = prefix.replace(/\s+/g, " ")
  return prefix.length === text.length && flat.length <= snippetLength
    ? flat
    : `${flat.slice(0, snippetLength)}… (${text.length} chars)`
}

/**
 * A line that is not valid JSON, or JSON that does not match the schema.
 *
 * @since 0.1.0
 * @category errors
 */
export class LineDecodeError extends Schema.TaggedError<LineDecodeError>("@deputy/protocol/LineDecodeError")(
  "LineDecodeError",
  {
    line: Schema.Number,
    snippet: Schema.String,
    reason: Schema.String
  }
) {
  override get message(): string {
    return `line ${this.line}: ${this.reason}\n  in: ${this.snippet}`
  }
}

/**
 * A line longer than the transport allows; its content was skipped, not buffered.
 *
 * @since 0.1.0
 * @category errors
 */
export class LineTooLong extends Schema.TaggedError<LineTooLong>("@deputy/protocol/LineTooLong")("LineTooLong", {
  line: Schema.Number,
  length: Schema.Number,
  maxLength: Schema.Number,
  snippet: Schema.String
}) {
  override get message(): string {
    return `line ${this.line} is ${this.length} characters long, over the limit of ${this.maxLength}; it was skipped\n  starts: ${this.snippet}`
  }
}

/**
 * A numbered line of text read from a transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface Line {
  readonly line: number
  readonly text: string
}

/**
 * Parses one line of text as JSON, refusing, before parsing it, a line nested deeper than `maxDepth` or with
 * more than `maxItems` object members and array elements.
 * `__proto__` keys stay own data properties (as `JSON.parse` makes them); the protocol's schemas keep them so.
 *
 * @since 0.2.0
 * @category decoding
 */
export const parseJson = (
  text: string,
  line: number,
  options?: DecodeOptions
): Either.Either<unknown, LineDecodeError> => {
  const maxDepth = options?.maxDepth ?? defaultMaxDepth
  const maxItems = options?.maxItems ?? defaultMaxItems
  switch (excess(text, maxDepth, maxItems)) {
    case "too_deep":
      return Either.left(
        new LineDecodeError({ line, snippet: snippet(text), reason: `nested deeper than ${maxDepth}` })
      )
    case "too_many_items":
      return Either.left(
        new LineDecodeError({ line, snippet: snippet(text), reason: `more than ${maxItems} members and elements` })
      )
  }
  try {
    return Either.right(JSON.parse(text))
  } catch (error) {
    return Either.left(
      new LineDecodeError({ line, snippet: snippet(text), reason: `invalid JSON (${(error as Error).message})` })
    )
  }
}

/**
 * Decodes one line of text as JSON matching `schema` (see `parseJson` for the bounds on depth and width).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeLine = <A, I>(schema: Schema.Schema<A, I>, options?: DecodeOptions) => {
  const decode = ParseResult.decodeUnknownEither(schema)
  return (text: string, line: number): Either.Either<A, LineDecodeError> =>
    Either.flatMap(parseJson(text, line, options), (json) =>
      Either.mapLeft(
        decode(json),
        (issue) => new LineDecodeError({ line, snippet: snippet(text), reason: formatIssue(issue) })
      ))
}

const formatIssue = (issue: ParseResult.ParseIssue): string => {
  const first = ParseResult.ArrayFormatter.formatIssueSync(issue)[0]
  if (first === undefined) return "does not match the schema"
  const path = first.path.length > 0 ? ` at ${first.path.map((key) => JSON.stringify(key)).join(".")}` : ""
  return `does not match the protocol${path}: ${first.message}`
}

/**
 * Encodes a value as one line of JSON (no trailing newline).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeLine = <A, I>(schema: Schema.Schema<A, I>) => {
  const encode = Schema.encode(schema)
  return (value: A): Effect.Effect<string, ParseResult.ParseError> =>
    Effect.map(encode(value), (json) => JSON.stringify(json))
}

/**
 * Decodes an `Event` line.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeEvent: (text: string, line: number) => Either.Either<Event, LineDecodeError> = decodeLine(Event)

/**
 * Decodes a `Submission` line.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeSubmission: (text: string, line: number) => Either.Either<Submission, LineDecodeError> = decodeLine(
  Submission
)

/**
 * Encodes an `Event` as one line.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeEvent: (event: Event) => Effect.Effect<string, ParseResult.ParseError> = encodeLine(Event)

/**
 * Encodes a `Submission` as one line.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeSubmission: (submission: Submission) => Effect.Effect<string, ParseResult.ParseError> = encodeLine(
  Submission
)

/**
 * Splits a stream of text chunks into numbered lines (`\n` or `\r\n`; blank lines skipped but counted).
 * A line over `maxLineLength` is never buffered whole: it is skipped up to its newline and reported as
 * a `LineTooLong` in the output, and reading goes on with the next line.
 *
 * @since 0.1.0
 * @category transport
 */
export const splitLines =
  (options?: { readonly maxLineLength?: number | undefined }) =>
  <E, R>(chunks: Stream.Stream<string, E, R>): Stream.Stream<Either.Either<Line, LineTooLong>, E, R> =>
    Stream.suspend(() => {
      const splitter = new LineSplitter(options?.maxLineLength ?? defaultMaxLineLength)
      return chunks.pipe(
        Stream.mapConcat((chunk) => splitter.push(chunk)),
        Stream.concat(Stream.sync(() => splitter.end()).pipe(Stream.flattenIterables))
      )
    })

class LineSplitter {
  private pending = ""
  private lineNumber = 0
  /** Length of the over-long line being skipped, or -1 when not skipping. */
  private skipped = -1
  private skippedStart = ""

  constructor(private readonly maxLength: number) {}

  push(chunk: string): Array<Either.Either<Line, LineTooLong>> {
    const out: Array<Either.Either<Line, LineTooLong>> = []
    let start = 0
    while (start <= chunk.length) {
      const newline = chunk.indexOf("\n", start)
      const piece = newline === -1 ? chunk.slice(start) : chunk.slice(start, newline)
      if (this.skipped >= 0) {
        this.skipped += piece.length
      } else if (this.pending.length + piece.length > this.maxLength) {
        this.skippedStart = (this.pending + piece.slice(0, snippetLength)).slice(0, snippetLength)
        this.skipped = this.pending.length + piece.length
        this.pending = ""
      } else {
        this.pending += piece
      }
      if (newline === -1) break
      this.finishLine(out)
      start = newline + 1
    }
    return out
  }

  end(): Array<Either.Either<Line, LineTooLong>> {
    const out: Array<Either.Either<Line, LineTooLong>> = []
    if (this.pending.length > 0 || this.skipped >= 0) this.finishLine(out)
    return out
  }

  private finishLine(out: Array<Either.Either<Line, LineTooLong>>): void {
    this.lineNumber += 1
    if (this.skipped >= 0) {
      out.push(Either.left(
        new LineTooLong({
          line: this.lineNumber,
          length: this.skipped,
          maxLength: this.maxLength,
          snippet: snippet(this.skippedStart)
        })
      ))
      this.skipped = -1
      this.skippedStart = ""
      return
    }
    const text = this.pending.endsWith("\r") ? this.pending.slice(0, -1) : this.pending
    this.pending = ""
    if (text.trim().length > 0) out.push(Either.right({ line: this.lineNumber, text }))
  }
}
