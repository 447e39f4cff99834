/**
 * The one supervisor of a child process, shared by every spawner that runs one (`ProcessAgent`, and
 * `@deputy/codex`'s `CodexAgent`): starting it contained, writing its stdin, keeping its stderr, bounding what
 * it has written and not yet been read, and stopping it and everything it started.
 *
 * - **Containment**: on Linux with a writable cgroup v2 hierarchy (`cgroup.kill`, Linux 5.14) the child runs
 *   in a cgroup of its own and no process it starts can leave it (`setsid`, double forks, `detached` spawns
 *   included) unless it may write to another cgroup (root). Elsewhere its descendants are tracked through
 *   `/proc` (polled, plus its process group and session) and a warning is logged once. `containment` tells
 *   which. Either way every process of the tree carries a mark in its environment (`treeMarkVariable`), by
 *   which those that left it are still found and stopped with it.
 * - **Stopping** (`stop`, and the scope's close): stdin closed, up to `exitGracePeriod` to exit, SIGTERM to
 *   every process of the tree, up to `killGracePeriod`, then SIGKILL to all of them; uninterruptible, it
 *   returns once every process of the tree is gone. When the child exits by itself, what is left of its tree
 *   gets the same SIGTERM / SIGKILL.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as PlatformError from "@effect/platform/Error"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Containment from "./internal/Containment.js"

/**
 * How a process ended: an exit code, or the signal that killed it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExitStatus {
  readonly code: number | null
  readonly signal: string | null
}

/**
 * Waits for a process to end. The platform's executor reports a death by signal only as an error text
 * ("Process interrupted due to receipt of signal: SIGTERM"); the signal name is read back from it.
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const exitStatus = (process: CommandExecutor.Process): Effect.Effect<ExitStatus> =>
  process.exitCode.pipe(
    Effect.map((code): ExitStatus => ({ code, signal: null })),
    Effect.catchAll((error: PlatformError.PlatformError) =>
      Effect.succeed<ExitStatus>({
        code: null,
        signal: /signal: (\w+)/.exec(error._tag === "SystemError" ? error.description ?? "" : error.message)?.[1] ??
          "unknown signal"
      })
    )
  )

/**
 * Forks into the scope, interruptible even when started from an uninterruptible region (a spawn is one,
 * and forked fibers inherit it): the scope's close must be able to interrupt what it forked.
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const forkInterruptible = <A, E>(
  effect: Effect.Effect<A, E>
): Effect.Effect<Fiber.RuntimeFiber<A, E>, never, Scope.Scope> => Effect.forkScoped(Effect.interruptible(effect))

/**
 * A bounded record of a byte stream (a child's stderr), kept for error reports: its first quarter of
 * `maxBytes` (where a program usually says what went wrong: `Error: Cannot find module …`) and its last
 * bytes, with the number of bytes left out between them.
 *
 * @since 0.1.0
 * @category models
 */
export class StderrTail {
  private head = new Uint8Array(0)
  private buffer = new Uint8Array(0)
  private dropped = 0
  private readonly headBytes: number
  private readonly tailBytes: number

  constructor(maxBytes: number) {
    this.headBytes = Math.max(0, Math.floor(maxBytes / 4))
    this.tailBytes = Math.max(0, maxBytes - this.headBytes)
  }

  /** Appends a chunk of bytes. */
  push(bytes: Uint8Array): void {
    if (this.head.length < this.headBytes) {
      const take = Math.min(this.headBytes - this.head.length, bytes.length)
      const next = new Uint8Array(this.head.length + take)
      next.set(this.head, 0)
      next.set(bytes.subarray(0, take), this.head.length)
      this.head = next
      bytes = bytes.subarray(take)
    }
    if (bytes.length === 0 || this.tailBytes <= 0) {
      this.dropped += this.tailBytes <= 0 ? bytes.length : 0
      return
    }
    const total = this.buffer.length + bytes.length
    if (total <= this.tailBytes) {
      const next = new Uint8Array(total)
      next.set(this.buffer, 0)
      next.set(bytes, this.buffer.length)
      this.buffer = next
      return
    }
    this.dropped += total - this.tailBytes
    if (bytes.length >= this.tailBytes) {
      this.buffer = bytes.slice(bytes.length - this.tailBytes)
      return
    }
    const keep = this.tailBytes - bytes.length
    const next = new Uint8Array(this.tailBytes)
    next.set(this.buffer.subarray(this.buffer.length - keep), 0)
    next.set(bytes, keep)
    this.buffer = next
  }

  /** The record as text (a character cut at a seam shows as U+FFFD), or `undefined` when empty. */
  text(): string | undefined {
    if (this.head.length === 0 && this.buffer.length === 0) return undefined
    const decoder = new TextDecoder()
    const head = decoder.decode(this.head)
    if (this.dropped === 0) return head + decoder.decode(this.buffer)
    return `${head}\n… ${this.dropped} bytes of stderr left out …\n${decoder.decode(this.buffer)}`
  }
}

const errorLine =
  /\b(error|cannot|can't|could not|couldn't|failed|fatal|not found|no such|denied|panicked|invalid|points to|refused|missing)\b/i
const frameLine = /^(at |\d+: |\^+\s*$|throw |\}$|\{$|code: |requireStack|Node\.js v)/

/**
 * The lines of a stderr record that explain a failure: those that carry an error message (`Error: Cannot
 * find module …`, `CODEX_HOME points to …`), never stack frames; empty when no line does.
 *
 * @since 0.2.0
 * @category utils
 */
export const explainStderr = (text: string | undefined, maxLines = 3): Array<string> => {
  if (text === undefined) return []
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "")
  const messages = lines.filter((line) => errorLine.test(line) && !frameLine.test(line))
  return [...new Set(messages)].slice(0, maxLines)
}

/**
 * Which mechanism keeps a child's processes inside its lifetime on this machine: `"cgroup"` (the kernel
 * guarantees it) or `"process-tracking"` (descendants tracked through `/proc`: best effort; a warning is
 * logged the first time).
 *
 * @since 0.2.0
 * @category containment
 */
export const containment: Effect.Effect<"cgroup" | "process-tracking"> = Containment.mechanism

/**
 * The variable every child gets, with a random id of its own (after the ids of the trees this process runs
 * in, comma-separated), and every process it starts inherits: how
 * a process that left the child's cgroup, or its process group and session, is still found and stopped with
 * the child. Only a process that also scrubs its environment (`env -i`) or hides it escapes that.
 *
 * @since 0.2.0
 * @category containment
 */
export const treeMarkVariable: string = Containment.markVariable

/**
 * SIGKILLs the whole tree of every child still running, synchronously: for a program that exits at once
 * (a second Ctrl-C) without closing their scopes. It also runs by itself on `process.exit`.
 *
 * @since 0.2.0
 * @category lifecycle
 */
export const killAllNow: () => void = Containment.killAllNow

/**
 * Which variables of the parent's environment a child gets: exact `names` and name `prefixes`.
 *
 * @since 0.2.0
 * @category environment
 */
export interface EnvAllowList {
  readonly names: ReadonlyArray<string>
  readonly prefixes: ReadonlyArray<string>
}

/**
 * What every child gets from the parent's environment (unless the parent's whole environment is inherited):
 * `PATH`, `HOME`, `LANG`, `TERM`, `TMPDIR`, `USER`, `SHELL`, `TZ` and every `LC_*`.
 *
 * @since 0.2.0
 * @category environment
 */
export const baseEnvAllowList: EnvAllowList = {
  names: ["PATH", "HOME", "LANG", "TERM", "TMPDIR", "USER", "SHELL", "TZ"],
  prefixes: ["LC_"]
}

/**
 * A child's environment: the parent's variables (all of them with `inherit`, else those of `allow`, which
 * extends `baseEnvAllowList`), then the trace context, then the caller's own variables: later ones win.
 *
 * @since 0.2.0
 * @category environment
 */
export const environment = (options: {
  readonly parent: NodeJS.ProcessEnv
  readonly inherit: boolean
  readonly allow?: EnvAllowList | undefined
  readonly trace: Readonly<Record<string, string>>
  readonly extra: ReadonlyArray<Readonly<Record<string, string>> | undefined>
}): Record<string, string> => {
  const names = new Set([...baseEnvAllowList.names, ...(options.allow?.names ?? [])])
  const prefixes = [...baseEnvAllowList.prefixes, ...(options.allow?.prefixes ?? [])]
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(options.parent)) {
    if (value === undefined) continue
    if (options.inherit || names.has(name) || prefixes.some((prefix) => name.startsWith(prefix))) env[name] = value
  }
  Object.assign(env, options.trace)
  for (const extra of options.extra) if (extra) Object.assign(env, extra)
  return env
}

/**
 * How to start and supervise a child.
 *
 * @since 0.2.0
 * @category models
 */
export interface StartOptions {
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** The child's whole environment (see `environment`). */
  readonly env: Readonly<Record<string, string>>
  readonly cwd?: string | undefined
  /** How much of stderr is kept for error reports, in bytes. */
  readonly stderrTailBytes: number
  /** After stdin is closed, how long the child may take to exit before SIGTERM. */
  readonly exitGracePeriod: Duration.DurationInput
  /** After SIGTERM, how long before SIGKILL. */
  readonly killGracePeriod: Duration.DurationInput
  /** Lines waiting to be written to stdin; beyond this, offering waits. Default: unbounded. */
  readonly inputCapacity?: number | undefined
  /**
   * The child is meant to outlive this process if it dies (a durable Codex's watchdog, which ends itself):
   * its tree is still contained and ended with the scope, but another process's sweep of the trees that
   * dead processes left (which kills them whole) leaves it running. Since 0.2.0.
   */
  readonly outlivesParent?: boolean | undefined
}

/**
 * A started, supervised child.
 *
 * @since 0.2.0
 * @category models
 */
export interface Child {
  readonly pid: number
  readonly containment: "cgroup" | "process-tracking"
  /** Its stdout, as the platform reads it (pulled: a reader that stops pulling stops the child's writes). */
  readonly stdout: Stream.Stream<Uint8Array, PlatformError.PlatformError>
  /** Text written to stdin in order (each line with its `\n`); ending it closes stdin. */
  readonly input: Mailbox.Mailbox<string>
  /** Why writing to stdin failed, once it has. */
  readonly inputFailure: () => string | undefined
  /** Waits for the exit. */
  readonly exit: Effect.Effect<ExitStatus>
  /** Whether Deputy started stopping the child (its scope closed, or its stdout ended without an exit). */
  readonly stopping: () => boolean
  /** The escalation (see the module's doc); runs once, uninterruptible, returns when the tree is gone. */
  readonly stop: Effect.Effect<void>
  /**
   * For the reader, once stdout has ended: waits up to `grace` for the exit, stops the child if it has not
   * exited by then (the end of stdout is the child's end), and returns how it ended.
   */
  readonly stdoutEnded: (grace: Duration.DurationInput) => Effect.Effect<ExitStatus>
  /** Waits for the end of stderr, at most `limit`. */
  readonly stderrEnded: (limit: Duration.DurationInput) => Effect.Effect<void>
  readonly stderrTail: () => string | undefined
  /** The pids of the tree's running processes (the child's included while it runs). */
  readonly members: () => Array<number>
}

const pollInterval = Duration.millis(20)

/** How long to wait for the tree to be gone after SIGKILL (a process in uninterruptible sleep). */
const killWait = 5_000

/** Polls `done` until it holds or `limitMs` passed; real time (processes live in it), fine in a finalizer. */
const waitUntil = (done: () => boolean, limitMs: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const deadline = Date.now() + limitMs
    while (!done()) {
      if (Date.now() >= deadline) return false
      yield* Effect.sleep(pollInterval)
    }
    return true
  })

const notExecutable = (command: string, reason: "NotFound" | "PermissionDenied", description: string) =>
  new PlatformError.SystemError({ reason, module: "Command", method: "spawn", pathOrDescriptor: command, description })

/** Resolves the program as `execvp` would, so a wrapper's `exec` cannot turn a missing program into exit 127. */
const resolveProgram = (
  command: string,
  env: Readonly<Record<string, string>>,
  cwd: string | undefined
): Effect.Effect<string, PlatformError.SystemError> =>
  Effect.suspend(() => {
    const executable = (file: string) => {
      try {
        return fs.statSync(file).isFile() ? (fs.accessSync(file, fs.constants.X_OK), "ok" as const) : "missing"
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === "EACCES" ? "denied" as const : "missing" as const
      }
    }
    if (command.includes("/")) {
      const file = path.resolve(cwd ?? process.cwd(), command)
      const found = executable(file)
      return found === "ok"
        ? Effect.succeed(file)
        : Effect.fail(notExecutable(command, found === "denied" ? "PermissionDenied" : "NotFound", `spawn ${command}`))
    }
    let denied = false
    for (const dir of (env.PATH ?? "").split(":")) {
      if (dir === "") continue
      const file = path.resolve(cwd ?? process.cwd(), dir, command)
      const found = executable(file)
      if (found === "ok") return Effect.succeed(file)
      denied ||= found === "denied"
    }
    return Effect.fail(notExecutable(command, denied ? "PermissionDenied" : "NotFound", `spawn ${command} ENOENT`))
  })

/**
 * Starts a child contained (see the module's doc), with its stdin writer, stderr record, exit watcher and
 * stopping finalizer forked into the current scope. Run it uninterruptibly up to the point where the caller's
 * own finalizers are in the scope.
 *
 * @since 0.2.0
 * @category constructors
 */
export const start = (
  options: StartOptions
): Effect.Effect<Child, PlatformError.PlatformError, CommandExecutor.CommandExecutor | Scope.Scope> =>
  Effect.gen(function*() {
    const exitGrace = Duration.toMillis(Duration.decode(options.exitGracePeriod))
    const killGrace = Duration.toMillis(Duration.decode(options.killGracePeriod))
    const tree = yield* Containment.make(options.outlivesParent === true)
    const program = tree.mechanism === "cgroup"
      ? yield* resolveProgram(options.command, options.env, options.cwd).pipe(
        Effect.tapError(() => Effect.sync(tree.release))
      )
      : options.command
    const [command, args] = tree.wrap(program, options.args, options.env)
    const cwd = options.cwd
    const child = yield* Command.make(command, ...args).pipe(
      Command.env({ ...options.env, ...tree.env }, { extendEnv: false }),
      cwd === undefined ? identity : Command.workingDirectory(cwd),
      Command.start,
      Effect.tapError(() => Effect.sync(tree.release))
    )
    const pid = child.pid
    tree.started(pid)

    let status: ExitStatus | undefined
    let stopRequested = false
    let inputFailure: string | undefined
    let stderrDone = false
    const tail = new StderrTail(options.stderrTailBytes)
    const input = yield* Mailbox.make<string>(options.inputCapacity)
    const gone = () => status !== undefined && tree.members().length === 0

    const escalate = Effect.gen(function*() {
      yield* input.end
      if (status === undefined) yield* waitUntil(() => status !== undefined, exitGrace)
      // What left the tree by the mechanism's rules (out of its cgroup, out of its session) is found by its mark.
      tree.collect()
      if (!gone()) {
        tree.signal("SIGTERM")
        if (!(yield* waitUntil(gone, killGrace))) {
          // Again until nothing is left: what a process started just before it died is killed too.
          yield* waitUntil(() => {
            tree.signal("SIGKILL")
            return gone()
          }, killWait)
        }
      }
      tree.release()
    }).pipe(Effect.uninterruptible)
    const stop = yield* Effect.cached(escalate)

    const exited = yield* exitStatus(child).pipe(
      Effect.tap((result) =>
        Effect.suspend(() => {
          status = result
          // What the child left behind (its tools, their children) may hold stdout open.
          return stop
        })
      ),
      forkInterruptible
    )

    if (tree.mechanism === "process-tracking") {
      yield* Effect.sync(tree.poll).pipe(
        Effect.zipRight(Effect.sleep(Duration.millis(200))),
        Effect.forever,
        forkInterruptible
      )
    }

    yield* child.stderr.pipe(
      Stream.runForEachChunk((chunk) => Effect.sync(() => Chunk.forEach(chunk, (bytes) => tail.push(bytes)))),
      Effect.ignore,
      Effect.ensuring(Effect.sync(() => stderrDone = true)),
      forkInterruptible
    )

    const encoder = new TextEncoder()
    yield* Mailbox.toStream(input).pipe(
      Stream.mapChunks((lines) => Chunk.of(encoder.encode(Chunk.join(lines, "")))),
      Stream.run(child.stdin),
      Effect.catchAll((error) => Effect.sync(() => inputFailure ??= `writing to its stdin failed: ${error.message}`)),
      // Nobody takes from the mailbox any more: release writers waiting for room.
      Effect.ensuring(input.shutdown),
      forkInterruptible
    )

    // Registered after the fibers above, so it runs before they are interrupted: the exit watcher sees the
    // exit, stderr is read to its end, and the writer closes stdin after what it holds. Uninterruptible:
    // whatever interrupted whom, the tree is gone when the scope's close returns.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        stopRequested = true
        return stop
      })
    )

    const awaitExit = Effect.map(exited.await, (): ExitStatus => status ?? { code: null, signal: "unknown signal" })
    return {
      pid,
      containment: tree.mechanism,
      stdout: child.stdout,
      input,
      inputFailure: () => inputFailure,
      exit: awaitExit,
      stopping: () => stopRequested,
      stop: Effect.suspend(() => {
        stopRequested = true
        return stop
      }),
      stdoutEnded: (grace) =>
        Effect.gen(function*() {
          const exitedInTime = yield* waitUntil(() => status !== undefined, Duration.toMillis(Duration.decode(grace)))
          if (!exitedInTime) {
            stopRequested = true
            yield* stop
          }
          return yield* awaitExit
        }),
      stderrEnded: (limit) => Effect.asVoid(waitUntil(() => stderrDone, Duration.toMillis(Duration.decode(limit)))),
      stderrTail: () => tail.text(),
      members: () => tree.members().map((member) => member.pid)
    } satisfies Child
  })

/**
 * Defaults of the buffer of events read from a child and not yet taken (an `Agent.EventChannel` made with
 * `Agent.makeChannel(maxEvents, { maxBytes })`): 1024 events, 32 MiB (with 8 MB events and a slow consumer the parent peaks at
 * about 250 MB; with 64 MiB at about 320 MB: V8 collects the large strings lazily).
 *
 * @since 0.2.0
 * @category constants
 */
export const eventBufferDefaults = { maxEvents: 1024, maxBytes: 32 * 1024 * 1024 } as const
