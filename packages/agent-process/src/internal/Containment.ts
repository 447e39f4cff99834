/**
 * Keeping every process a child starts inside the child's lifetime. On Linux with a writable cgroup v2
 * hierarchy each child gets a cgroup of its own: the kernel keeps every descendant in it (`setsid`, double
 * forks and `detached` spawns included), `cgroup.procs` lists them and `cgroup.kill` ends them all at once.
 * Elsewhere the child's descendants are tracked through `/proc` (polled, plus its process group and session,
 * which catch orphans re-parented before a poll saw them), and a warning says so once.
 *
 * Either way every process of the tree inherits a mark, `DEPUTY_PROCESS_TREE=<random id>` in its
 * environment (after the ids of the trees Deputy itself runs in, should it run inside a sub-agent): a
 * process that left the tree by the mechanism's own rules (a root process that moved itself out of its
 * cgroup, a double-forked `setsid` no poll saw) is still found by it when the tree is stopped.
 * Only a process that also starts a program with a scrubbed environment, or hides its environment (another
 * user's, non-dumpable, when Deputy is not root), escapes both.
 */
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as ProcessTree from "./ProcessTree.js"

/** Where a writable cgroup v2 directory for children is, or why there is none. */
type Probe =
  | { readonly _tag: "Cgroup"; readonly base: string }
  | { readonly _tag: "Tracking"; readonly reason: string }

let probed: Probe | undefined
let counter = 0

const cgroup2Mount = (): string | undefined => {
  const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n")
  for (const line of mounts) {
    // "id parent major:minor root mountpoint options [optional...] - fstype source superoptions"
    const [left, right] = line.split(" - ")
    if (right?.startsWith("cgroup2 ")) return left!.split(" ")[4]
  }
  return undefined
}

const probe = (): Probe => {
  if (probed !== undefined) return probed
  probed = (() => {
    if (process.platform !== "linux") return { _tag: "Tracking", reason: `${process.platform} has no cgroups` }
    if (process.env.DEPUTY_CONTAINMENT === "process-tracking") {
      return { _tag: "Tracking", reason: "DEPUTY_CONTAINMENT=process-tracking is set" }
    }
    try {
      const mount = cgroup2Mount()
      if (mount === undefined) return { _tag: "Tracking", reason: "no cgroup v2 hierarchy is mounted" }
      const own = fs.readFileSync("/proc/self/cgroup", "utf8").split("\n").find((line) => line.startsWith("0::"))
      const base = path.join(mount, own?.slice(3) ?? "/")
      const dir = fs.mkdtempSync(path.join(base, `deputy-probe-`))
      try {
        fs.accessSync(path.join(dir, "cgroup.kill"), fs.constants.W_OK)
        fs.accessSync(path.join(dir, "cgroup.procs"), fs.constants.W_OK)
      } finally {
        fs.rmdirSync(dir)
      }
      return { _tag: "Cgroup", base }
    } catch (error) {
      return { _tag: "Tracking", reason: `no writable cgroup v2 with cgroup.kill (${(error as Error).message})` }
    }
  })()
  return probed
}

/**
 * The mechanism in use on this machine: `"cgroup"` (kernel-guaranteed) or `"process-tracking"` (best effort).
 * The first call warns (Effect log) when it is the fallback.
 */
export const mechanism: Effect.Effect<"cgroup" | "process-tracking"> = Effect.suspend(() => {
  const first = probed === undefined
  const result = probe()
  if (result._tag === "Cgroup") return Effect.succeed("cgroup" as const)
  return (first
    ? Effect.logWarning(
      `Deputy cannot contain child processes with the kernel here (${result.reason}); it tracks their ` +
        "descendants through /proc instead (and by a mark in their environment): a process that escapes its parent " +
        "and its session between two polls and also scrubs or hides its environment may outlive its agent"
    )
    : Effect.void).pipe(Effect.as("process-tracking" as const))
})

/**
 * The variable that marks every process of a child's tree: the tree's own random id, after those of the trees
 * this process itself runs in (comma-separated). A process is the tree's when its environment holds the id.
 */
export const markVariable = "DEPUTY_PROCESS_TREE"

/** The processes of one child's tree, and how to end them. */
export interface Tree {
  readonly mechanism: "cgroup" | "process-tracking"
  /** Variables for the child's environment: the tree's mark, inherited by every process it starts. */
  readonly env: Readonly<Record<string, string>>
  /** The command that starts `command args` inside the tree. */
  readonly wrap: (
    command: string,
    args: ReadonlyArray<string>,
    env: Readonly<Record<string, string>>
  ) => readonly [string, ReadonlyArray<string>]
  /** Called once the child is started. */
  readonly started: (pid: number) => void
  /** Records the descendants seen now (process tracking only; cheap no-op with a cgroup). */
  readonly poll: () => void
  /** Records the processes that carry the tree's mark (found through `/proc`, wherever they went). */
  readonly collect: () => void
  /** The running processes of the tree (the child included while it runs). */
  readonly members: () => Array<ProcessTree.ProcessId>
  /** Signals every process of the tree, those that carry its mark included (collected first). */
  readonly signal: (signal: "SIGTERM" | "SIGKILL") => void
  /** Releases what the tree holds (the cgroup directory) once it is empty. */
  readonly release: () => void
}

const readProcs = (dir: string): Array<number> => {
  try {
    return fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter((line) => line !== "").map(
      Number
    )
  } catch {
    return []
  }
}

const idsOf = (pids: ReadonlyArray<number>): Array<ProcessTree.ProcessId> => {
  const ids: Array<ProcessTree.ProcessId> = []
  for (const pid of pids) {
    const stat = ProcessTree.readStat(pid)
    if (ProcessTree.isRunningStat(stat)) ids.push({ pid, startTime: stat.startTime })
  }
  return ids
}

/** Cgroups of this process's children that could not be removed yet (a zombie not yet reaped was in them). */
const unreleased = new Set<string>()

let namespace: string | undefined

/** The inode of this process's PID namespace (`/proc/self/ns/pid`), or `"0"` where it cannot be read. */
const pidNamespace = (): string => {
  if (namespace !== undefined) return namespace
  try {
    namespace = /\[(\d+)\]/.exec(fs.readlinkSync("/proc/self/ns/pid"))?.[1] ?? "0"
  } catch {
    namespace = "0"
  }
  return namespace
}

/**
 * Removes the cgroups left by earlier children (of this process or of one that has ended) once empty. The
 * cgroup of a process that has ended (killed with SIGKILL, by its own child perhaps, before it could stop
 * its children) is first killed whole: what is left in it outlived its delegate. Only those of this PID
 * namespace (its inode is in the cgroup's name): elsewhere a live owner's pid may mean nothing here.
 */
const sweep = (base: string, live: ReadonlySet<string>) => {
  let entries: Array<string>
  try {
    entries = fs.readdirSync(base)
  } catch {
    return
  }
  for (const entry of entries) {
    const match = /^deputy-(\d+)-\d+(?:-(\d+))?(-durable)?$/.exec(entry)
    if (match === null) continue
    const dir = path.join(base, entry)
    const owner = Number(match[1])
    // A pid is only known dead in its own namespace: another namespace's trees (and those named before the
    // namespace was in the name) are left to their owners.
    if (match[2] !== pidNamespace()) continue
    if (owner === process.pid ? live.has(dir) || !unreleased.has(dir) : ProcessTree.readStat(owner) !== undefined) {
      continue
    }
    // A tree meant to outlive its owner (a durable Codex's watchdog) is removed once empty, never killed.
    if (owner !== process.pid && match[3] === undefined) {
      try {
        fs.writeFileSync(path.join(dir, "cgroup.kill"), "1")
      } catch {
        // gone meanwhile, or not ours to kill
      }
    }
    try {
      fs.rmdirSync(dir)
      unreleased.delete(dir)
    } catch {
      // still populated
    }
  }
}

const liveTrees = new Set<string>()

/** A tree as its mechanism alone sees it (no mark). */
type Mechanism = Omit<Tree, "env" | "collect">

const cgroupTree = (base: string, outlivesOwner: boolean): Mechanism => {
  sweep(base, liveTrees)
  const dir = path.join(base, `deputy-${process.pid}-${++counter}-${pidNamespace()}${outlivesOwner ? "-durable" : ""}`)
  fs.mkdirSync(dir)
  liveTrees.add(dir)
  let released = false
  return {
    mechanism: "cgroup",
    // `0` moves the writing process (the shell) itself; `exec` keeps its pid for the program.
    // The shell sets PWD: unset again unless the child's environment has it.
    wrap: (command, args, env) => [
      "/bin/sh",
      [
        "-c",
        `echo 0 > "$0/cgroup.procs" && ${"PWD" in env ? "" : "unset PWD && "}exec "$@"`,
        dir,
        command,
        ...args
      ]
    ],
    started: () => {},
    poll: () => {},
    members: () => idsOf(readProcs(dir)),
    signal: (signal) => {
      if (signal === "SIGKILL") {
        try {
          fs.writeFileSync(path.join(dir, "cgroup.kill"), "1")
          return
        } catch {
          // fall back to signalling each member
        }
      }
      ProcessTree.signalAll(idsOf(readProcs(dir)), signal)
    },
    release: () => {
      if (released) return
      released = true
      liveTrees.delete(dir)
      try {
        fs.rmdirSync(dir)
      } catch {
        // Still populated (a zombie not yet reaped): removed by the sweep when the next child starts.
        unreleased.add(dir)
      }
    }
  }
}

const trackingTree = (): Mechanism => {
  let root = -1
  let rootStart = ""
  const seen = new Map<number, ProcessTree.ProcessId>()
  const groups = new Set<number>()
  const own = ProcessTree.readStat(process.pid)
  const record = (stats: ReadonlyArray<ProcessTree.Stat>) => {
    for (const stat of stats) {
      seen.set(stat.pid, { pid: stat.pid, startTime: stat.startTime })
      groups.add(stat.pgrp)
      groups.add(stat.session)
    }
  }
  const poll = () => {
    if (root < 0) return
    const processes = ProcessTree.all()
    record(ProcessTree.descendants(root, processes))
    // Orphans re-parented before a poll saw them still carry the child's group or session.
    record(processes.filter((stat) => groups.has(stat.pgrp) || groups.has(stat.session)))
  }
  return {
    mechanism: "process-tracking",
    wrap: (command, args) => [command, args],
    started: (pid) => {
      root = pid
      rootStart = ProcessTree.readStat(pid)?.startTime ?? ""
      groups.add(pid)
      // Never the parent's own group or session, should the child share them.
      if (own !== undefined) {
        groups.delete(own.pgrp)
        groups.delete(own.session)
      }
    },
    poll,
    members: () => {
      poll()
      const alive = [...seen.values()].filter(ProcessTree.isAlive)
      const rootId = { pid: root, startTime: rootStart }
      if (root > 0 && !seen.has(root) && ProcessTree.isAlive(rootId)) alive.push(rootId)
      return alive
    },
    signal: (signal) => {
      poll()
      if (root > 0) ProcessTree.signalGroup(root, signal)
      ProcessTree.signalAll(seen.values(), signal)
    },
    release: () => {}
  }
}

/** The tree's mechanism, and the processes that carry its mark (`markVariable`) besides. */
const marked = (tree: Mechanism): Tree => {
  const mark = randomUUID()
  // No process of the tree started before the child (nor, before it has started, before this process).
  let since = Number(ProcessTree.readStat(process.pid)?.startTime ?? 0)
  const found = new Map<number, ProcessTree.ProcessId>()
  const collect = () => {
    for (const stat of ProcessTree.withEnvironment(mark, since)) {
      found.set(stat.pid, { pid: stat.pid, startTime: stat.startTime })
    }
  }
  return {
    ...tree,
    // After the marks of the trees this process runs in (Deputy inside a sub-agent): those find it too.
    env: {
      [markVariable]: [process.env[markVariable], mark].filter((part) => part !== undefined && part !== "").join(",")
    },
    started: (pid) => {
      tree.started(pid)
      since = Number(ProcessTree.readStat(pid)?.startTime ?? since)
    },
    collect,
    members: () => {
      const members = new Map(tree.members().map((member) => [member.pid, member]))
      for (const process of found.values()) {
        if (!members.has(process.pid) && ProcessTree.isAlive(process)) members.set(process.pid, process)
      }
      return [...members.values()]
    },
    signal: (signal) => {
      collect()
      tree.signal(signal)
      ProcessTree.signalAll(found.values(), signal)
    }
  }
}

/** Every tree not yet released: killed synchronously if the program exits without closing their scopes. */
const unreleasedTrees = new Set<Tree>()
let exitHookInstalled = false

/**
 * `process.exit` (a second Ctrl-C quits at once, skipping finalizers) must not leave a child behind:
 * SIGKILL every tree still held, synchronously, as the process goes.
 */
const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on("exit", killAllNow)
}

/** SIGKILLs every tree still held, synchronously (for a program about to exit without its finalizers). */
export const killAllNow = (): void => {
  for (const tree of unreleasedTrees) {
    try {
      tree.signal("SIGKILL")
    } catch {
      // best effort: the process is exiting
    }
  }
}

const tracked = (mechanism: Mechanism): Tree => {
  const tree = marked(mechanism)
  installExitHook()
  unreleasedTrees.add(tree)
  return {
    ...tree,
    release: () => {
      unreleasedTrees.delete(tree)
      tree.release()
    }
  }
}

/**
 * A tree for one child, by the machine's mechanism. `outlivesOwner`: the tree may outlive this process (a
 * durable Codex's watchdog), so a later process's sweep of dead owners' trees leaves it alone.
 */
export const make = (outlivesOwner = false): Effect.Effect<Tree> =>
  Effect.map(mechanism, (kind) => {
    if (kind === "cgroup") {
      try {
        return tracked(cgroupTree((probed as { readonly base: string }).base, outlivesOwner))
      } catch {
        // the hierarchy went away or filled up (cgroup.max.descendants): track instead
      }
    }
    return tracked(trackingTree())
  })
