/**
 * The one writer of the program's output: the main output on stdout, notes for the person on stderr, a
 * status line with a spinner on a terminal, and exclusive use of the terminal for prompts (the status
 * line is hidden and other output held until the prompt is answered, so nothing is garbled).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Style from "./Style.js"

/**
 * Where text goes: a stream and whether it is a terminal (and how wide).
 *
 * @since 0.1.0
 * @category models
 */
export interface Sink {
  readonly write: (text: string) => void
  readonly isTTY: boolean
  readonly columns?: number | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Output extends Context.Tag("@deputy/cli/Output")<Output, {
  /** Styles of the main output (colour only on a terminal). */
  readonly style: Style.Style
  /** Styles of the terminal (stderr), where prompts go. */
  readonly terminalStyle: Style.Style
  /** Writes lines of the main output (a newline is added). */
  readonly print: (text: string) => Effect.Effect<void>
  /** Writes lines for the person on stderr: warnings, errors, advice (a newline is added). */
  readonly note: (text: string) => Effect.Effect<void>
  /** Shows what the sub-agent is doing on the status line (`undefined`: idle). Only on a terminal. */
  readonly status: (text: string | undefined) => Effect.Effect<void>
  /**
   * Runs a prompt with the terminal to itself: `write` goes to the terminal as is; the status line is
   * hidden and other output is held until the prompt ends.
   */
  readonly exclusive: <A, E, R>(
    use: (write: (text: string) => Effect.Effect<void>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E, R>
}>() {}

/**
 * What `make` needs: the two sinks, colour for each, and whether to draw a status line (on stderr).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly stdout: Sink
  readonly stderr: Sink
  readonly color: { readonly stdout: boolean; readonly stderr: boolean }
  readonly statusLine: boolean
}

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
const clearLine = "\r\x1b[2K"

/**
 * An `Output` over two sinks. With a status line, a spinner fiber redraws it every 80 ms in the current
 * scope; closing the scope erases it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.gen(function*() {
    const { stderr, stdout } = options
    const terminalStyle = Style.make(options.color.stderr)
    let statusText: string | undefined
    let busySince = 0
    let drawn = false
    let frame = 0
    let held = 0
    const heldOutput: Array<readonly [Sink, string]> = []

    const erase = () => {
      if (drawn) {
        stderr.write(clearLine)
        drawn = false
      }
    }
    const draw = () => {
      if (!options.statusLine || statusText === undefined || held > 0) return
      const seconds = Math.floor((Date.now() - busySince) / 1000)
      const text = `${frames[frame % frames.length]} ${statusText}${seconds > 0 ? ` · ${seconds}s` : ""}`
      const width = Math.max(10, (stderr.columns || 80) - 1)
      stderr.write(`${clearLine}${terminalStyle.dim(text.length > width ? `${text.slice(0, width - 1)}…` : text)}`)
      drawn = true
    }
    const emit = (sink: Sink, text: string) => {
      if (held > 0) {
        heldOutput.push([sink, text])
        return
      }
      erase()
      sink.write(text)
      draw()
    }

    if (options.statusLine) {
      yield* Effect.sync(() => {
        frame++
        if (statusText !== undefined) draw()
      }).pipe(Effect.repeat(Schedule.spaced("80 millis")), Effect.forkScoped)
      yield* Effect.addFinalizer(() => Effect.sync(erase))
    }

    return Output.of({
      style: Style.make(options.color.stdout),
      terminalStyle,
      print: (text) => Effect.sync(() => emit(stdout, `${text}\n`)),
      note: (text) => Effect.sync(() => emit(stderr, `${text}\n`)),
      status: (text) =>
        Effect.sync(() => {
          if (text !== undefined && statusText === undefined) busySince = Date.now()
          statusText = text
          if (text === undefined) erase()
          else if (!drawn) draw()
        }),
      exclusive: (use) =>
        Effect.acquireUseRelease(
          Effect.sync(() => {
            erase()
            held++
          }),
          () => use((text) => Effect.sync(() => stderr.write(text))),
          () =>
            Effect.sync(() => {
              held--
              if (held > 0) return
              for (const [sink, text] of heldOutput.splice(0)) sink.write(text)
              draw()
            })
        )
    })
  })

const sinkOf = (stream: NodeJS.WriteStream): Sink => ({
  write: (text) => {
    if (!stream.destroyed) stream.write(text)
  },
  isTTY: stream.isTTY === true,
  get columns() {
    return stream.columns
  }
})

/**
 * The process's stdout and stderr: colour on terminals without `NO_COLOR`; a status line on a terminal
 * stderr unless `statusLine` is false (JSON output has none).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: { readonly statusLine: boolean }): Layer.Layer<Output> =>
  Layer.scoped(
    Output,
    make({
      stdout: sinkOf(process.stdout),
      stderr: sinkOf(process.stderr),
      color: {
        stdout: Style.colorFor(process.stdout, process.env),
        stderr: Style.colorFor(process.stderr, process.env)
      },
      statusLine: options.statusLine && process.stderr.isTTY === true
    })
  )

/**
 * Keeps the program alive when a reader of stdout or stderr goes away (`deputy run --json | head -1`):
 * write errors are ignored, and what is written afterwards is dropped. The run goes on; its exit code
 * does not change. Installed for the rest of the process (a write's error arrives a tick later, possibly
 * after the program's scope closed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const ignoreClosedReaders: Effect.Effect<void> = Effect.sync(() => {
  const ignore = () => {}
  process.stdout.on("error", ignore)
  process.stderr.on("error", ignore)
})
