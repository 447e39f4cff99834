/**
 * Signals and liveness of a child's process group. The platform's Node executor starts children detached
 * (`detached: true` on POSIX), so each child leads its own group whose id is the child's pid, and signalling
 * `-pid` reaches the child and every process it started in that group (its tools, their children).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"

const pollInterval = Duration.millis(25)

/** How long to wait for a group to be gone after SIGKILL before giving up. */
const killWait = Duration.seconds(1)

/** Sends `signal` to the group; `false` when the group no longer exists. */
export const signal = (pgid: number, name: NodeJS.Signals | 0): boolean => {
  try {
    process.kill(-pgid, name)
    return true
  } catch (error) {
    // ESRCH: no such group. EPERM: only processes we may not signal are left, so none of ours.
    const code = (error as NodeJS.ErrnoException).code
    if (code === "ESRCH" || code === "EPERM") return false
    // Platforms without process groups: signal the child itself.
    try {
      process.kill(pgid, name)
      return true
    } catch {
      return false
    }
  }
}

/**
 * Whether any process of the group still runs. Zombies (dead, not yet reaped: common in containers whose
 * init does not reap orphans) do not count; on Linux `/proc` tells them apart.
 */
export const isAlive = (pgid: number): boolean => {
  if (!signal(pgid, 0)) return false
  if (process.platform !== "linux") return true
  let entries: Array<string>
  try {
    entries = fs.readdirSync("/proc")
  } catch {
    return true
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue
    let stat: string
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "latin1")
    } catch {
      continue
    }
    // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses, so read after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") return true
  }
  return false
}

/** Completes once no process of the group runs (polled: the kernel has no event for an emptied group). */
const untilGone = (pgid: number): Effect.Effect<void> =>
  Effect.repeat(Effect.sync(() => isAlive(pgid)), {
    schedule: Schedule.spaced(pollInterval),
    until: (alive) => !alive
  })

/**
 * Ends the group: SIGTERM, up to `grace` for it to be gone, then SIGKILL (and up to 1 s more). Safe in a
 * finalizer: the waits are interruptible and timed.
 */
export const terminate = (pgid: number, grace: Duration.Duration): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (!signal(pgid, "SIGTERM")) return
    const gone = yield* untilGone(pgid).pipe(Effect.interruptible, Effect.timeoutOption(grace))
    if (Option.isSome(gone) || !signal(pgid, "SIGKILL")) return
    yield* untilGone(pgid).pipe(Effect.interruptible, Effect.timeoutOption(killWait))
  })
