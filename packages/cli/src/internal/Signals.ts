/**
 * Ctrl-C. `NodeRuntime.runMain` interrupts the main fiber on the first SIGINT or SIGTERM: the run's scope
 * closes, the sub-agent gets `interrupt` + `shutdown` and is drained (bounded by the drain timeout), and
 * the program ends with exit code 130 (143 for SIGTERM). This module adds the rest: a note on the first
 * signal, an immediate exit (terminal restored) on the second, SIGHUP (the terminal went away) handled
 * like SIGTERM, and the record of which signal came.
 *
 * @since 0.1.0
 */
import { ChildProcess } from "@deputy/agent-process"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import { ExitCode } from "../Errors.js"

/**
 * The signal that ended the program, if one did; read by the exit-code teardown.
 *
 * @since 0.1.0
 * @category models
 */
export interface Received {
  signal: Signal | undefined
}

/**
 * The signals that end the program.
 *
 * @since 0.1.0
 * @category models
 */
export type Signal = "SIGINT" | "SIGTERM" | "SIGHUP"

/**
 * Watches SIGINT, SIGTERM and SIGHUP while the scope lives (next to `runMain`'s own handler, which does
 * the interruption): the first gets a note on stderr (SIGHUP is relayed as SIGTERM, which `runMain`
 * listens to), the second exits at once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const watch = (received: Received): Effect.Effect<void, never, Scope.Scope> => {
  let count = 0
  let relayed = false
  const onSignal = (signal: Signal) => {
    if (signal === "SIGTERM" && relayed) {
      relayed = false
      return
    }
    received.signal ??= signal
    count++
    if (signal === "SIGHUP" && count === 1) {
      relayed = true
      process.kill(process.pid, "SIGTERM")
    }
    const tty = process.stderr.isTTY === true
    if (count === 1) {
      process.stderr.write(
        `${tty ? "\r\x1b[2K" : "\n"}Interrupting the sub-agent… (press Ctrl-C again to quit at once)\n`
      )
      return
    }
    if (process.stdin.isTTY && process.stdin.isRaw) process.stdin.setRawMode(false)
    process.stderr.write(`${tty ? "\r\x1b[2K" : ""}Quitting without waiting for the sub-agent.\n`)
    // Children first (synchronously: finalizers will not run), so none writes into what is removed next.
    ChildProcess.killAllNow()
    removeNow()
    process.exit(ExitCode.signalled[received.signal])
  }
  const listeners = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((signal) =>
    [signal, () => onSignal(signal)] as const
  )
  return Effect.acquireRelease(
    Effect.sync(() => {
      for (const [signal, listener] of listeners) process.on(signal, listener)
    }),
    () =>
      Effect.sync(() => {
        for (const [signal, listener] of listeners) process.off(signal, listener)
      })
  )
}

const removedOnQuit = new Set<string>()

const remove = (dir: string) => {
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 })
  } catch {
    // Best effort: the program is quitting, or the scope's own removal follows.
  }
}

const removeNow = () => {
  for (const dir of removedOnQuit) remove(dir)
}

/**
 * Removes `dir` when the scope closes, and also if the program quits at once before that (a second
 * Ctrl-C skips the finalizers).
 *
 * @since 0.2.0
 * @category constructors
 */
export const removeOnQuit = (dir: string): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => void removedOnQuit.add(dir)),
    // Removed here, then forgotten: a second Ctrl-C between this release and the scope's own removal
    // would otherwise find the directory neither removed nor remembered.
    () =>
      Effect.sync(() => {
        remove(dir)
        removedOnQuit.delete(dir)
      })
  )

/**
 * Acts as if the person pressed Ctrl-C (a prompt in raw mode receives Ctrl-C as a key, not a signal).
 *
 * @since 0.1.0
 * @category constructors
 */
export const interruptSelf: Effect.Effect<void> = Effect.sync(() => {
  process.kill(process.pid, "SIGINT")
})
