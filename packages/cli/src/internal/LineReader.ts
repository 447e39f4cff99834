/**
 * Lines from stdin for `deputy run -i`, bounded: a line longer than the limit (default 1 MiB; e.g.
 * `</dev/zero`, which never sends a newline) ends the input with a message on stderr, instead of growing
 * without end. Only the new chunk is searched for the newline, so a long line costs linear time.
 *
 * @since 0.2.0
 */
import * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"

/**
 * The longest line read from stdin: 1 MiB (UTF-16 code units).
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultMaxLine = 1024 * 1024

/**
 * `Terminal.readLine` over `stdin`: one line per call (lines read ahead are kept); at the end of input
 * what is left is the last line, then `QuitException`. A line over `maxLine` is reported through
 * `onTooLong` and ends the input (`QuitException`, as Ctrl-D would).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  stdin: NodeJS.ReadStream,
  options: { readonly maxLine?: number | undefined; readonly onTooLong: (limit: number) => void }
): Effect.Effect<string, Terminal.QuitException> => {
  const maxLine = options.maxLine ?? defaultMaxLine
  const ready: Array<string> = []
  let partial: Array<string> = []
  let partialLength = 0
  let ended = false
  let started = false

  /** Adds a chunk; returns false when a line went over the limit. */
  const push = (chunk: string): boolean => {
    let from = 0
    while (true) {
      const newline = chunk.indexOf("\n", from)
      if (newline === -1) break
      partial.push(chunk.slice(from, newline))
      ready.push(partial.join("").replace(/\r$/, ""))
      partial = []
      partialLength = 0
      from = newline + 1
    }
    const rest = chunk.slice(from)
    if (rest !== "") {
      partial.push(rest)
      partialLength += rest.length
    }
    return partialLength <= maxLine
  }

  const end = (): Effect.Effect<string, Terminal.QuitException> => {
    ended = true
    const next = ready.shift()
    if (next !== undefined) return Effect.succeed(next)
    if (partialLength === 0) return Effect.fail(new Terminal.QuitException())
    const last = partial.join("")
    partial = []
    partialLength = 0
    return Effect.succeed(last)
  }

  return Effect.async<string, Terminal.QuitException>((resume) => {
    const next = ready.shift()
    if (next !== undefined) return resume(Effect.succeed(next))
    if (ended || stdin.readableEnded) return resume(end())
    if (!started) {
      started = true
      stdin.setEncoding("utf8")
    }
    const stop = () => {
      stdin.off("data", onData)
      stdin.off("end", onEnd)
      stdin.pause()
    }
    const onData = (data: string) => {
      if (!push(data)) {
        stop()
        ended = true
        ready.length = 0
        partial = []
        partialLength = 0
        options.onTooLong(maxLine)
        return resume(Effect.fail(new Terminal.QuitException()))
      }
      const line = ready.shift()
      if (line !== undefined) {
        stop()
        resume(Effect.succeed(line))
      }
    }
    const onEnd = () => {
      stop()
      resume(end())
    }
    stdin.on("data", onData)
    stdin.on("end", onEnd)
    stdin.resume()
    return Effect.sync(stop)
  })
}

/**
 * The process's stdin, with the message `deputy: a line on stdin is longer than 1 MiB; reading stopped
 * (end of input)` on stderr.
 *
 * @since 0.2.0
 * @category constructors
 */
export const stdin: Effect.Effect<Effect.Effect<string, Terminal.QuitException>> = Effect.sync(() =>
  make(process.stdin, {
    onTooLong: (limit) =>
      void process.stderr.write(
        `deputy: a line on stdin is longer than ${
          limit >= 1024 * 1024 ? `${limit / 1024 / 1024} MiB` : `${limit} characters`
        }; reading stopped (end of input)\n`
      )
  })
)
