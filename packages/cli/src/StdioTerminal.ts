/**
 * The `Terminal` of `@effect/platform` over the process's stdin, with prompts displayed on **stderr**, so
 * that stdout stays the program's output (JSON lines, or a transcript piped to a file) while a person
 * answers prompts on the terminal.
 *
 * - `readInput`: stdin in raw mode while the scope lives, one `UserInput` per key; after Ctrl-C or
 *   Ctrl-D (delivered first) or the end of stdin, the mailbox ends — as `NodeTerminal` does. Keys in the
 *   first 30 ms (typed before the prompt appeared) are dropped, except Ctrl-C, which is never swallowed.
 * - `readLine`: one line in the terminal's own line mode (echo and editing by the terminal); lines read
 *   ahead are kept for the next call; the end of stdin is a `QuitException`.
 *
 * stdin is read only while a read is in progress: between reads it is paused, so Ctrl-C reaches the
 * program as a signal and nothing keeps the process alive.
 *
 * @since 0.1.0
 */
import * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"

/** Input arriving this soon after raw mode starts was typed before the prompt appeared. */
const typeAheadWindowMs = 30

const key = (name: string, input: string | undefined, ctrl = false, shift = false): Terminal.UserInput => ({
  input: Option.fromNullable(input),
  key: { name, ctrl, meta: false, shift }
})

const escapes: Record<string, string> = {
  "[A": "up",
  "[B": "down",
  "[C": "right",
  "[D": "left",
  "[H": "home",
  "[F": "end",
  "OA": "up",
  "OB": "down",
  "OC": "right",
  "OD": "left",
  "OH": "home",
  "OF": "end",
  "[3~": "delete"
}

/**
 * Decodes what a terminal in raw mode sent into keys (names as Node's `readline` gives them).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeKeys = (chunk: string): Array<Terminal.UserInput> => {
  const keys: Array<Terminal.UserInput> = []
  for (let index = 0; index < chunk.length; index++) {
    const char = chunk[index]
    const code = char.charCodeAt(0)
    if (char === "\x1b") {
      const sequence = /^\x1b(\[[0-9;]*[A-Za-z~]|O[A-Z])/.exec(chunk.slice(index))
      if (sequence) {
        const body = sequence[1]
        keys.push(key(escapes[body] ?? "undefined", undefined))
        index += sequence[0].length - 1
      } else {
        keys.push(key("escape", char))
      }
    } else if (char === "\r") {
      keys.push(key("return", char))
    } else if (char === "\n") {
      keys.push(key("enter", char))
    } else if (char === "\t") {
      keys.push(key("tab", char))
    } else if (char === "\x7f" || char === "\b") {
      keys.push(key("backspace", char))
    } else if (code >= 1 && code <= 26) {
      keys.push(key(String.fromCharCode(code + 96), char, true))
    } else if (char === " ") {
      keys.push(key("space", char))
    } else if (code >= 32) {
      const lower = char.toLowerCase()
      keys.push(key(lower, char, false, lower !== char))
    }
  }
  return keys
}

/**
 * The streams a stdio terminal works on: `process.stdin` and `process.stderr`, or stand-ins in tests.
 *
 * @since 0.2.0
 * @category models
 */
export interface Streams {
  readonly stdin: {
    readonly isTTY?: boolean | undefined
    readonly readableEnded: boolean
    readonly setRawMode?: ((mode: boolean) => unknown) | undefined
    setEncoding(encoding: "utf8"): unknown
    on(event: "data" | "end", listener: (data: string) => void): unknown
    once(event: "end", listener: () => void): unknown
    off(event: "data", listener: (data: string) => void): unknown
    pause(): unknown
    resume(): unknown
  }
  readonly stderr: {
    readonly isTTY?: boolean | undefined
    readonly columns?: number | undefined
    readonly rows?: number | undefined
    write(text: string): unknown
  }
  /** The clock of the type-ahead window (default `Date.now`). */
  readonly now?: (() => number) | undefined
}

/**
 * A `Terminal` over the given streams: keys from `stdin`, display on `stderr`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeWith = (streams: Streams): Effect.Effect<Terminal.Terminal> =>
  Effect.sync(() => {
    const { stderr, stdin } = streams
    const now = streams.now ?? Date.now
    let pending = ""
    let ended = false
    let started = false
    const endWaiters = new Set<() => void>()
    /** Reads text, and learns of the end of stdin even while no read is in progress (it may come then). */
    const start = () => {
      if (started) return
      started = true
      stdin.setEncoding("utf8")
      stdin.once("end", () => {
        ended = true
        for (const waiter of endWaiters) waiter()
      })
    }
    const takeLine = (): string | undefined => {
      const newline = pending.indexOf("\n")
      if (newline === -1) return undefined
      const line = pending.slice(0, newline).replace(/\r$/, "")
      pending = pending.slice(newline + 1)
      return line
    }

    /** At the end of input: what is left as a last line, else `QuitException`. */
    const endOfInput = (): Effect.Effect<string, Terminal.QuitException> => {
      if (pending === "") return Effect.fail(new Terminal.QuitException())
      const last = pending
      pending = ""
      return Effect.succeed(last)
    }

    const readLine: Effect.Effect<string, Terminal.QuitException> = Effect.async((resume) => {
      const ready = takeLine()
      if (ready !== undefined) return resume(Effect.succeed(ready))
      start()
      if (ended || stdin.readableEnded) return resume(endOfInput())
      const stop = () => {
        stdin.off("data", onData)
        endWaiters.delete(onEnd)
        stdin.pause()
      }
      const onData = (data: string) => {
        pending += data
        const line = takeLine()
        if (line !== undefined) {
          stop()
          resume(Effect.succeed(line))
        }
      }
      const onEnd = () => {
        stop()
        resume(endOfInput())
      }
      stdin.on("data", onData)
      endWaiters.add(onEnd)
      stdin.resume()
      return Effect.sync(stop)
    })

    const readInput = Effect.gen(function*() {
      const mailbox = yield* Mailbox.make<Terminal.UserInput>()
      start()
      if (ended || stdin.readableEnded) {
        yield* mailbox.end
        return mailbox
      }
      // Type-ahead must not answer a prompt: lines read ahead are dropped, and so is what the terminal hands
      // over right after the switch to raw mode (a half-typed line) — except Ctrl-C, which is never swallowed.
      pending = ""
      let armedAt = Number.POSITIVE_INFINITY
      const onData = (data: string) => {
        const typedAhead = now() < armedAt
        for (const input of decodeKeys(data)) {
          if (typedAhead && !(input.key.ctrl && input.key.name === "c")) continue
          mailbox.unsafeOffer(input)
          if (input.key.ctrl && (input.key.name === "c" || input.key.name === "d")) {
            mailbox.unsafeDone(Exit.void)
            return
          }
        }
      }
      const onEnd = () => mailbox.unsafeDone(Exit.void)
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          if (stdin.isTTY) stdin.setRawMode?.(true)
          armedAt = now() + typeAheadWindowMs
          stdin.on("data", onData)
          endWaiters.add(onEnd)
          stdin.resume()
        }),
        () =>
          Effect.sync(() => {
            stdin.off("data", onData)
            endWaiters.delete(onEnd)
            stdin.pause()
            if (stdin.isTTY) stdin.setRawMode?.(false)
          })
      )
      return mailbox as Mailbox.ReadonlyMailbox<Terminal.UserInput>
    })

    return Terminal.Terminal.of({
      columns: Effect.sync(() => stderr.columns ?? 0),
      rows: Effect.sync(() => stderr.rows ?? 0),
      isTTY: Effect.sync(() => stdin.isTTY === true && stderr.isTTY === true),
      readInput,
      readLine,
      display: (text) => Effect.sync(() => void stderr.write(text))
    })
  })

/**
 * A `Terminal` over `process.stdin` (input) and `process.stderr` (display).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Terminal.Terminal> = Effect.suspend(() =>
  makeWith({ stdin: process.stdin, stderr: process.stderr })
)

/**
 * The stdin/stderr `Terminal`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Terminal.Terminal> = Layer.effect(Terminal.Terminal, make)
