/**
 * Stopping Codex and everything it started. The platform's Node executor starts children detached, so the
 * app-server leads its own process group (`-pid` reaches it and what stayed in its group); the sandbox and
 * PTY helpers Codex starts open sessions of their own, so they are also found by walking `/proc` (Linux)
 * from the app-server's pid and killed if they outlive it.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"

/** A process, identified by pid and start time (so a reused pid is never mistaken for it). */
export interface ProcessId {
  readonly pid: number
  readonly startTime: string
}

interface Stat {
  readonly ppid: number
  readonly state: string
  readonly startTime: string
}

const readStat = (pid: number): Stat | undefined => {
  let stat: string
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return undefined
  }
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
  // cstime priority nice threads itrealvalue starttime ...": comm may hold spaces, read after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return { state: fields[0]!, ppid: Number(fields[1]), startTime: fields[19]! }
}

const isRunning = (stat: Stat | undefined): stat is Stat =>
  stat !== undefined && stat.state !== "Z" && stat.state !== "X"

/** The running descendants of `root` (empty where `/proc` is not available). */
export const descendants = (root: number): Array<ProcessId> => {
  let entries: Array<string>
  try {
    entries = fs.readdirSync("/proc")
  } catch {
    return []
  }
  const children = new Map<number, Array<ProcessId>>()
  for (const entry of entries) {
    const code = entry.charCodeAt(0)
    if (code < 48 || code > 57) continue
    const pid = Number(entry)
    const stat = readStat(pid)
    if (!isRunning(stat)) continue
    const siblings = children.get(stat.ppid)
    const id = { pid, startTime: stat.startTime }
    if (siblings === undefined) children.set(stat.ppid, [id])
    else siblings.push(id)
  }
  const found: Array<ProcessId> = []
  const queue = [root]
  while (queue.length > 0) {
    for (const child of children.get(queue.pop()!) ?? []) {
      found.push(child)
      queue.push(child.pid)
    }
  }
  return found
}

/** Whether that very process still runs (not a zombie). */
export const isAlive = (process: ProcessId): boolean => {
  const stat = readStat(process.pid)
  return isRunning(stat) && stat.startTime === process.startTime
}

/** SIGKILLs those of `processes` that still run. */
export const killAll = (processes: ReadonlyArray<ProcessId>): void => {
  for (const target of processes) {
    if (!isAlive(target)) continue
    try {
      process.kill(target.pid, "SIGKILL")
    } catch {
      // gone meanwhile, or not ours
    }
  }
}

/** Sends `signal` to the process group `pgid`, or to the process alone where groups do not exist. */
export const signalGroup = (pgid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pgid, signal)
  } catch {
    try {
      process.kill(pgid, signal)
    } catch {
      // already gone
    }
  }
}

/**
 * Waits until `exited` completes, escalating: up to `grace` as is, then SIGTERM to the group and up to
 * `killGrace`, then SIGKILL to the group and up to one more second. Safe in a finalizer (timed, interruptible
 * waits). Returns whether the process exited.
 */
export const stop = (
  pid: number,
  exited: Effect.Effect<unknown>,
  grace: Duration.Duration,
  killGrace: Duration.Duration
): Effect.Effect<boolean> => {
  const waitFor = (duration: Duration.Duration) =>
    exited.pipe(Effect.interruptible, Effect.timeoutOption(duration), Effect.map(Option.isSome))
  return Effect.gen(function*() {
    if (yield* waitFor(grace)) return true
    signalGroup(pid, "SIGTERM")
    if (yield* waitFor(killGrace)) return true
    signalGroup(pid, "SIGKILL")
    return yield* waitFor(Duration.seconds(1))
  })
}

/** Polls until none of `processes` runs, for at most `limit`. */
export const awaitGone = (processes: ReadonlyArray<ProcessId>, limit: Duration.Duration): Effect.Effect<void> =>
  Effect.repeat(Effect.sync(() => processes.some(isAlive)), {
    schedule: Schedule.spaced(Duration.millis(20)),
    until: (alive) => !alive
  }).pipe(Effect.interruptible, Effect.timeoutOption(limit), Effect.asVoid)
