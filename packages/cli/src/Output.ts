/**
 * The one writer of the program's output: the main output on stdout, notes for the person on stderr, a
 * status line with a spinner on a terminal, and exclusive use of the terminal for prompts (the status
 * line is hidden and other output held until the prompt is answered, so nothing is garbled).
 *
 * Memory is bounded, and a slow reader slows the sub-agent down instead: `print` and `note` wait while the
 * output held behind a prompt is full (`heldBytes`, default 8 MiB), and until stdout's reader took what was
 * written (the stream's `write` returned false, then `drain`). The Session stops reading the delegate's
 * events while it waits, the delegate's buffer fills, and the child's writes block.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Style from "./internal/Style.js"

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
  /**
   * Waits until the sink can take more (its reader took what was written); returns at once when it went
   * away. Absent: it always can.
   *
   * @since 0.2.0
   */
  readonly ready?: Effect.Effect<void> | undefined
}

/**
 * The default bound of the output held while a prompt is open: 8 MiB.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultHeldBytes = 8 * 1024 * 1024

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
  /**
   * Writes lines for the person on stderr: warnings, errors, advice (a newline is added). Held behind a
   * prompt like `print`, within the same bound (it waits while that is full).
   */
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
  /**
   * How many bytes (UTF-16 code units, as written) of output may wait behind a prompt; `print` waits
   * beyond that until the prompt ends. Default `defaultHeldBytes`. Notes (Deputy's own) never wait.
   *
   * @since 0.2.0
   */
  readonly heldBytes?: number | undefined
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
    const heldLimit = Math.max(1, options.heldBytes ?? defaultHeldBytes)
    let heldSize = 0
    /** Writers waiting for the held output to be released. */
    const waiters = new Set<() => void>()
    const released = () => {
      for (const waiter of waiters) waiter()
      waiters.clear()
    }
    /** Waits while the output is held and `size` more would not fit (an empty buffer takes anything). */
    const room = (size: number): Effect.Effect<void> =>
      Effect.suspend(() =>
        held === 0 || heldSize === 0 || heldSize + size <= heldLimit
          ? Effect.void
          : Effect.zipRight(
            Effect.async<void>((resume) => {
              const waiter = () => resume(Effect.void)
              waiters.add(waiter)
              return Effect.sync(() => void waiters.delete(waiter))
            }),
            room(size)
          )
      )

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
        heldSize += text.length
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
      print: (text) => {
        const line = `${text}\n`
        return Effect.zipRight(
          room(line.length),
          Effect.suspend(() => {
            emit(stdout, line)
            return held > 0 ? Effect.void : stdout.ready ?? Effect.void
          })
        )
      },
      note: (text) => {
        const line = `${text}\n`
        // Held behind a prompt within the same bound as the main output: a noter waits, nothing is dropped.
        return Effect.zipRight(room(line.length), Effect.sync(() => emit(stderr, line)))
      },
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
              heldSize = 0
              released()
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
  },
  ready: whenDrained(stream)
})

/** Waits until `stream` took what was written (`drain`), or is gone (`close`, `error`). */
const whenDrained = (stream: NodeJS.WriteStream): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (!stream.writableNeedDrain || stream.destroyed) return resume(Effect.void)
    const done = () => {
      stop()
      resume(Effect.void)
    }
    const stop = () => {
      stream.off("drain", done)
      stream.off("close", done)
      stream.off("error", done)
    }
    stream.on("drain", done)
    stream.on("close", done)
    stream.on("error", done)
    return Effect.sync(stop)
  })

/**
 * The process's stdout and stderr: colour on terminals without `NO_COLOR`; a status line on a terminal
 * stderr unless `statusLine` is false (JSON output has none). Writes to stdout wait for its reader.
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
 * stdout failed before the run ended: its reader went away (`EPIPE`) or the write failed otherwise. The
 * run is stopped (the sub-agent shut down) and the program exits with code 141 (128 + SIGPIPE).
 *
 * @since 0.2.0
 * @category errors
 */
export class OutputClosed extends Data.TaggedError("OutputClosed")<{ readonly code: string }> {
  override get message() {
    return this.code === "EPIPE"
      ? "stdout was closed by its reader before the run ended (EPIPE); the sub-agent was stopped"
      : `writing to stdout failed (${this.code}); the sub-agent was stopped`
  }
}

let stdoutError: string | undefined
const stdoutWatchers = new Set<(code: string) => void>()

/**
 * Installs the listeners on stdout and stderr for the rest of the process (a write's error arrives a
 * tick later, possibly after the program's scope closed): an error on stderr is ignored (what is written
 * afterwards is dropped); an error on stdout is recorded and fails `stdoutFailure`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const watchStreams: Effect.Effect<void> = Effect.sync(() => {
  process.stderr.on("error", () => {})
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    stdoutError ??= error.code ?? error.message
    for (const watcher of stdoutWatchers) watcher(stdoutError)
  })
})

/**
 * Fails with `OutputClosed` when stdout fails (see `watchStreams`); never succeeds. Race the program
 * against it.
 *
 * @since 0.2.0
 * @category constructors
 */
export const stdoutFailure: Effect.Effect<never, OutputClosed> = Effect.async<never, OutputClosed>((resume) => {
  if (stdoutError !== undefined) return resume(Effect.fail(new OutputClosed({ code: stdoutError })))
  const watcher = (code: string) => resume(Effect.fail(new OutputClosed({ code })))
  stdoutWatchers.add(watcher)
  return Effect.sync(() => void stdoutWatchers.delete(watcher))
})

/**
 * Waits until everything written to stdout reached its reader; fails with `OutputClosed` if stdout
 * failed (the last record may not have arrived).
 *
 * @since 0.2.0
 * @category constructors
 */
export const stdoutFlushed: Effect.Effect<void, OutputClosed> = Effect.suspend(() => {
  const flushed = Effect.async<void>((resume) => {
    if (process.stdout.writableLength === 0 || process.stdout.destroyed) return resume(Effect.void)
    // `write("")` calls back once everything before it was handed to the reader.
    process.stdout.write("", () => resume(Effect.void))
  })
  return Effect.zipRight(
    Effect.raceFirst(flushed, stdoutFailure),
    Effect.suspend(() => stdoutError === undefined ? Effect.void : Effect.fail(new OutputClosed({ code: stdoutError })))
  )
})

/**
 * Keeps the program alive when a reader of stdout or stderr goes away: write errors are ignored.
 *
 * @since 0.1.0
 * @category constructors
 * @deprecated Since 0.2.0 a reader of stdout that goes away ends the run (exit 141): use `watchStreams`
 *   and `stdoutFailure`.
 */
export const ignoreClosedReaders: Effect.Effect<void> = Effect.sync(() => {
  const ignore = () => {}
  process.stdout.on("error", ignore)
  process.stderr.on("error", ignore)
})
