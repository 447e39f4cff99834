/**
 * Processes as Linux `/proc` shows them: the one parser of `/proc/<pid>/stat`, a child's descendants, and
 * signals by pid that never reach a reused pid (a process is its pid and its start time).
 */
import * as fs from "node:fs"

/** A process, identified by pid and start time (so a reused pid is never mistaken for it). */
export interface ProcessId {
  readonly pid: number
  readonly startTime: string
}

/** A process's line of `/proc/<pid>/stat`, the fields Deputy reads. */
export interface Stat {
  readonly pid: number
  readonly state: string
  readonly ppid: number
  readonly pgrp: number
  readonly session: number
  readonly startTime: string
}

/** Reads `/proc/<pid>/stat`; `undefined` when the process is gone or `/proc` does not exist. */
export const readStat = (pid: number): Stat | undefined => {
  let stat: string
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return undefined
  }
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
  // cstime priority nice threads itrealvalue starttime ...": comm may hold spaces and ')', read after the last.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return {
    pid,
    state: fields[0]!,
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    session: Number(fields[3]),
    startTime: fields[19]!
  }
}

/** Zombies (dead, not yet reaped: common in containers whose init does not reap orphans) do not run. */
export const isRunningStat = (stat: Stat | undefined): stat is Stat =>
  stat !== undefined && stat.state !== "Z" && stat.state !== "X"

/** Every running process (empty where `/proc` is not available). */
export const all = (): Array<Stat> => {
  let entries: Array<string>
  try {
    entries = fs.readdirSync("/proc")
  } catch {
    return []
  }
  const found: Array<Stat> = []
  for (const entry of entries) {
    const code = entry.charCodeAt(0)
    if (code < 48 || code > 57) continue
    const stat = readStat(Number(entry))
    if (isRunningStat(stat)) found.push(stat)
  }
  return found
}

/** The running descendants of `root` in a snapshot of the processes (`all()` by default). */
export const descendants = (root: number, processes: ReadonlyArray<Stat> = all()): Array<Stat> => {
  const children = new Map<number, Array<Stat>>()
  for (const stat of processes) {
    const siblings = children.get(stat.ppid)
    if (siblings === undefined) children.set(stat.ppid, [stat])
    else siblings.push(stat)
  }
  const found: Array<Stat> = []
  const queue = [root]
  while (queue.length > 0) {
    for (const child of children.get(queue.pop()!) ?? []) {
      found.push(child)
      queue.push(child.pid)
    }
  }
  return found
}

/**
 * Those of `processes` started at or after clock tick `since` whose environment, as it was when their
 * program started (`/proc/<pid>/environ`), holds `text` (in any variable); processes whose environment cannot
 * be read (another user's, or made non-dumpable, unless Deputy runs as root) are not found.
 */
export const withEnvironment = (
  text: string,
  since: number,
  processes: ReadonlyArray<Stat> = all()
): Array<Stat> => {
  const needle = Buffer.from(text)
  const found: Array<Stat> = []
  for (const stat of processes) {
    if (Number(stat.startTime) < since || stat.pid === process.pid) continue
    try {
      if (fs.readFileSync(`/proc/${stat.pid}/environ`).includes(needle)) found.push(stat)
    } catch {
      // gone, or not readable
    }
  }
  return found
}

/** Whether that very process still runs (not a zombie, not a new process under a reused pid). */
export const isAlive = (process: ProcessId): boolean => {
  const stat = readStat(process.pid)
  return isRunningStat(stat) && stat.startTime === process.startTime
}

/** Sends `signal` to those of `processes` that still run. */
export const signalAll = (processes: Iterable<ProcessId>, signal: NodeJS.Signals): void => {
  for (const target of processes) {
    if (!isAlive(target)) continue
    try {
      process.kill(target.pid, signal)
    } catch {
      // gone meanwhile, or not ours
    }
  }
}

/** Sends `signal` to the process group `pgid`; `false` when no process of the group may be signalled. */
export const signalGroup = (pgid: number, signal: NodeJS.Signals | 0): boolean => {
  try {
    process.kill(-pgid, signal)
    return true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === "ESRCH" || code === "EPERM") return false
    // Platforms without process groups: signal the process itself.
    try {
      process.kill(pgid, signal)
      return true
    } catch {
      return false
    }
  }
}

/** Whether a process of the group `pgid` still runs (zombies do not count where `/proc` tells them apart). */
export const groupAlive = (pgid: number): boolean => {
  if (!signalGroup(pgid, 0)) return false
  if (process.platform !== "linux") return true
  return all().some((stat) => stat.pgrp === pgid)
}
