/**
 * A `codex app-server` that survives its parent's crash: it listens on a unix socket (WebSocket, as Codex
 * serves `--listen unix://PATH`) in a 0700 directory of ours, started by a small watchdog (a `node` process)
 * that is its parent. The watchdog
 * - holds a lease socket next to Codex's: the attached `deputy` keeps one connection to it, which the
 *   kernel closes when that `deputy` dies (SIGKILL included). The lease is exclusive: the watchdog answers
 *   each connection with who runs there (`{"pid":CODEX,"watchdog":PID}`), and a connection made while
 *   another holds it with `"busy":true` before letting it go, so a second `deputy` can neither attach to a
 *   Codex another one drives nor stop it; the pids it gives are checked against the ledger's record before
 *   anything is signalled;
 * - ends Codex and its whole process tree when nobody has held the lease for `idleMs` (Codex 0.171 never
 *   exits by itself once its last client went away: measured alive 45 s after, with nothing pending), when
 *   a client sends `stop`, or on SIGTERM; then removes the directory and ends itself;
 * - ignores SIGINT / SIGHUP (a Ctrl-C on the terminal reaches the whole process group; the `deputy` does
 *   the clean stop);
 * - on Linux, starts Codex through `setpriv --pdeathsig KILL` (util-linux), so that the kernel kills Codex if
 *   the watchdog itself dies (SIGKILL, the OOM killer) after its `deputy` did. Where `setpriv` is missing
 *   such a Codex runs on until a later `deputy` stops it (its record names it). Processes Codex started
 *   are not covered by this: they end with Codex's process group only when the watchdog ends it.
 *
 * `launch` starts it under the shared supervisor (`ChildProcess.start`: the same containment), `attach`
 * connects to one a dead `deputy` left behind; both give a `ChildProcess.Child` whose stdout is the
 * WebSocket's messages (one JSON-RPC message each, a line) and whose stdin sends one message per line, so
 * the session and the translation are exactly the stdio ones.
 */
import { ChildProcess } from "@deputy/agent-process"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as PlatformError from "@effect/platform/Error"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as path from "node:path"

/** Where a durable app-server is, as the ledger records it. */
export interface Location {
  readonly socketPath: string
  /** The `codex app-server` process. */
  readonly pid: number
  /** Its watchdog (its parent). */
  readonly watchdogPid: number
}

/** Name of Codex's socket and of the lease socket in the directory. */
export const socketName = "codex.sock"
const leaseName = "lease.sock"

/**
 * The watchdog (run with `node -e`): argv `DIR IDLE_MS EXTRA_DIR COMMAND ARGS...` (`EXTRA_DIR`, removed at
 * the end too, may be `-`). Prints `{"pid":N}` once Codex's socket exists.
 */
const watchdogSource = String.raw`
const fs = require("fs"), net = require("net"), path = require("path"), cp = require("child_process")
const [dir, idle, extra, command, ...args] = process.argv.slice(1)
const idleMs = Number(idle)
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {})
process.on("SIGINT", () => {})
process.on("SIGHUP", () => {})
// On Linux, through util-linux's setpriv (it sets the signal, then execs: the pid stays Codex's): the kernel
// kills Codex when this watchdog dies, even by SIGKILL, as Codex never exits by itself once idle.
const setpriv = process.platform !== "linux" ? undefined : ["/usr/bin/setpriv", "/bin/setpriv"].find((file) => {
  try { fs.accessSync(file, fs.constants.X_OK); return true } catch { return false }
})
const codexArgs = [...args, "--listen", "unix://" + path.join(dir, "codex.sock")]
const codex = setpriv === undefined
  ? cp.spawn(command, codexArgs, { stdio: ["ignore", "ignore", "pipe"], detached: true })
  : cp.spawn(setpriv, ["--pdeathsig", "KILL", "--", command, ...codexArgs], { stdio: ["ignore", "ignore", "pipe"], detached: true })
codex.stderr.on("data", (data) => { try { process.stderr.write(data) } catch {} })
let clients = 0, idleSince = Date.now(), ending = false
const group = (signal) => { try { process.kill(-codex.pid, signal) } catch {} }
const end = () => {
  if (ending) return
  ending = true
  group("SIGTERM")
  setTimeout(() => group("SIGKILL"), 2000).unref()
}
process.on("SIGTERM", end)
codex.on("error", (error) => { process.stderr.write("could not start codex: " + error.message + "\n"); finish(127) })
codex.on("exit", (code) => finish(code === null ? 1 : code))
const finish = (code) => {
  group("SIGKILL")
  // Codex links its socket from /tmp/codex-daemon-<uid>/ and leaves it there when it is killed.
  try {
    const real = fs.realpathSync(path.join(dir, "codex.sock"))
    if (/codex-daemon-/.test(path.dirname(real))) for (const file of [real, real + ".lock"]) fs.rmSync(file, { force: true })
  } catch {}
  fs.rmSync(dir, { recursive: true, force: true })
  if (extra !== "-") fs.rmSync(extra, { recursive: true, force: true })
  process.exit(code)
}
// One holder at a time: a second client is told who runs here and that the lease is held, and let go.
let holder
const lease = net.createServer((socket) => {
  socket.on("error", () => {})
  const identity = { pid: codex.pid, watchdog: process.pid }
  if (holder !== undefined) return void socket.end(JSON.stringify({ ...identity, busy: true }) + "\n")
  holder = socket
  clients = 1
  socket.write(JSON.stringify(identity) + "\n")
  let text = ""
  socket.on("data", (data) => { text = (text + data).slice(-16); if (text.includes("stop")) end() })
  socket.on("close", () => {
    if (holder !== socket) return
    holder = undefined
    clients = 0
    idleSince = Date.now()
  })
})
lease.listen(path.join(dir, "lease.sock"))
setInterval(() => { if (clients === 0 && Date.now() - idleSince >= idleMs) end() }, Math.max(50, Math.min(1000, idleMs / 4)))
const ready = setInterval(() => {
  if (!fs.existsSync(path.join(dir, "codex.sock"))) return
  clearInterval(ready)
  process.stdout.write(JSON.stringify({ pid: codex.pid }) + "\n")
}, 10)
`

const ownUid = (): number => process.getuid?.() ?? -1

/**
 * Makes a fresh 0700 directory for a socket under `root` (created 0700 when missing). `root` must be a
 * directory of ours that nobody else can write (not a symbolic link).
 */
export const makeSocketDir = (root: string): Either.Either<string, string> => {
  try {
    fs.mkdirSync(root, { recursive: true, mode: 0o700 })
    const stat = fs.lstatSync(root)
    if (!stat.isDirectory()) return Either.left(`${root} is not a directory (a symbolic link, or a file)`)
    if (stat.uid !== ownUid()) return Either.left(`${root} is owned by uid ${stat.uid}, not by us`)
    if ((stat.mode & 0o077) !== 0) fs.chmodSync(root, 0o700)
    // Short: a unix socket path has at most 107 bytes.
    const dir = fs.mkdtempSync(path.join(root, "c-"))
    fs.chmodSync(dir, 0o700)
    return Either.right(dir)
  } catch (error) {
    return Either.left(`could not make a socket directory under ${root}: ${(error as Error).message}`)
  }
}

/** A socket (not a symbolic link) of ours, in a directory (not a symbolic link) of ours nobody else can enter. */
const checkPrivate = (file: string, uid: number): Either.Either<void, string> => {
  const dir = path.dirname(file)
  const dirStat = fs.lstatSync(dir)
  if (dirStat.isSymbolicLink()) return Either.left(`its directory ${dir} is a symbolic link`)
  if (!dirStat.isDirectory()) return Either.left(`${dir} is not a directory`)
  if (dirStat.uid !== uid) return Either.left(`its directory ${dir} is owned by uid ${dirStat.uid}, not by us`)
  if ((dirStat.mode & 0o077) !== 0) {
    return Either.left(`its directory ${dir} is open to others (mode ${(dirStat.mode & 0o777).toString(8)})`)
  }
  const stat = fs.lstatSync(file)
  if (stat.isSymbolicLink()) return Either.left(`${file} is a symbolic link`)
  if (!stat.isSocket()) return Either.left(`${file} is not a socket`)
  if (stat.uid !== uid) return Either.left(`${file} is owned by uid ${stat.uid}, not by us`)
  return Either.right(undefined)
}

/**
 * Whether a socket path may be connected to: a socket owned by us in a directory of ours nobody else can
 * enter (neither a symbolic link). Codex 0.171 makes `--listen unix://PATH` a symbolic link to its real
 * socket in `/tmp/codex-daemon-<uid>/` (0700): one link is followed when the link is in such a directory of
 * ours and its target passes the same test. The reason when it may not be connected to.
 */
export const checkSocket = (socketPath: string): Either.Either<void, string> => {
  const uid = ownUid()
  try {
    if (!fs.lstatSync(socketPath).isSymbolicLink()) return checkPrivate(socketPath, uid)
    const linkDir = fs.lstatSync(path.dirname(socketPath))
    if (linkDir.isSymbolicLink() || linkDir.uid !== uid || (linkDir.mode & 0o077) !== 0) {
      return Either.left(`${socketPath} is a symbolic link in a directory that is not private to us`)
    }
    const target = path.resolve(path.dirname(socketPath), fs.readlinkSync(socketPath))
    return Either.mapLeft(
      checkPrivate(target, uid),
      (reason) => `${socketPath} is a symbolic link to ${target}, and ${reason}`
    )
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return Either.left(
      code === "ENOENT" ? `${socketPath} (or what it links to) does not exist` : (error as Error).message
    )
  }
}

/** Whether a pid runs (a zombie does not). */
export const isRunning = (pid: number): boolean => {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
    return state !== "Z" && state !== "X"
  } catch {
    return process.platform !== "linux"
  }
}

/** The part of the `ws` package used here (it ships no types). */
interface WebSocketLike {
  send(data: string, callback: (error?: Error | null) => void): void
  readonly isPaused: boolean
  pause(): void
  resume(): void
  close(): void
  terminate(): void
  on(event: "open", listener: () => void): void
  on(event: "message", listener: (data: Buffer | ArrayBuffer | Array<Buffer>) => void): void
  on(event: "close", listener: (code: number, reason: Buffer) => void): void
  on(event: "error", listener: (error: Error) => void): void
  on(event: "unexpected-response", listener: (request: unknown, response: { statusCode?: number }) => void): void
}

type WebSocketConstructor = new(url: string, options: Record<string, unknown>) => WebSocketLike

const WebSocket = (createRequire(import.meta.url)("ws") as { readonly WebSocket: WebSocketConstructor }).WebSocket

const failure = (description: string) =>
  new PlatformError.SystemError({ reason: "Unknown", module: "Stream", method: "read", description })

/** A WebSocket client on Codex's socket. */
interface Connection {
  readonly messages: Stream.Stream<Uint8Array, PlatformError.PlatformError>
  readonly input: Mailbox.Mailbox<string>
  readonly inputFailure: () => string | undefined
  readonly closed: () => boolean
}

/**
 * Connects to Codex's socket (checked first: `checkSocket`). Messages longer than `maxMessageBytes` close
 * the connection with an error that says so (the `ws` client's `maxPayload`), as does any frame that is
 * not WebSocket. Closed with the scope.
 */
export const connect = (
  socketPath: string,
  options: { readonly maxMessageBytes: number; readonly timeout: Duration.Duration }
): Effect.Effect<Connection, string, Scope.Scope> =>
  Effect.gen(function*() {
    const safe = checkSocket(socketPath)
    if (Either.isLeft(safe)) return yield* Effect.fail(safe.left)
    const ws = new WebSocket(`ws+unix://${socketPath}:/`, {
      maxPayload: options.maxMessageBytes,
      handshakeTimeout: Duration.toMillis(options.timeout),
      perMessageDeflate: false,
      followRedirects: false
    })
    const incoming = yield* Mailbox.make<Uint8Array, PlatformError.PlatformError>()
    let isClosed = false
    let opened = false
    let unread = 0
    const highWater = 2 * options.maxMessageBytes
    const newline = Buffer.from("\n")
    const opening = Effect.async<void, string>((resume) => {
      ws.on("open", () => {
        opened = true
        resume(Effect.void)
      })
      ws.on("unexpected-response", (_request, response) => {
        isClosed = true
        ws.terminate()
        resume(Effect.fail(`it answered the WebSocket handshake with HTTP ${response.statusCode ?? "?"}`))
      })
      ws.on("error", (error) => {
        isClosed = true
        if (!opened) return resume(Effect.fail(`the WebSocket handshake failed: ${error.message}`))
        incoming.unsafeDone(Exit.fail(failure(`the WebSocket connection failed: ${error.message}`)))
      })
      ws.on("close", (code, reason) => {
        isClosed = true
        if (!opened) return resume(Effect.fail(`it closed the connection during the handshake (code ${code})`))
        incoming.unsafeDone(
          code === 1000 || code === 1005 || code === 1006
            ? Exit.void
            : Exit.fail(failure(`it closed the WebSocket with code ${code} ${String(reason)}`))
        )
      })
      ws.on("message", (data) => {
        const bytes = Buffer.isBuffer(data)
          ? data
          : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data)
        const line = Buffer.concat([bytes, newline])
        incoming.unsafeOffer(line)
        // Not read further while a reader that stopped pulling has this much waiting (backpressure).
        unread += line.length
        if (unread > highWater && !ws.isPaused) ws.pause()
      })
    })
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        isClosed = true
        ws.terminate()
      })
    )
    yield* opening.pipe(
      Effect.timeoutFail({
        duration: options.timeout,
        onTimeout: () => `no WebSocket handshake within ${Duration.format(options.timeout)}`
      })
    )
    const input = yield* Mailbox.make<string>()
    let inputFailure: string | undefined
    yield* Effect.gen(function*() {
      while (true) {
        const [lines, done] = yield* input.takeAll
        for (const line of lines) {
          const text = line.endsWith("\n") ? line.slice(0, -1) : line
          yield* Effect.async<void, string>((resume) =>
            ws.send(text, (error) =>
              resume(error === undefined || error === null ? Effect.void : Effect.fail(error.message)))
          )
        }
        if (done) {
          return
        }
      }
    }).pipe(
      Effect.catchAll((error) =>
        Effect.sync(() => inputFailure ??= `sending to codex app-server failed: ${error}`)
      ),
      Effect.ensuring(Effect.sync(() => ws.close())),
      Effect.ensuring(input.shutdown),
      ChildProcess.forkInterruptible
    )
    return {
      messages: Mailbox.toStream(incoming).pipe(
        Stream.mapChunks((chunk) => {
          for (const bytes of chunk) unread -= bytes.length
          if (ws.isPaused && unread <= highWater / 2) ws.resume()
          return chunk
        })
      ),
      input,
      inputFailure: () => inputFailure,
      closed: () => isClosed
    }
  })

/** What the watchdog says when the lease is asked for: who runs there, and whether another holds it. */
interface LeaseAnswer {
  readonly socket: net.Socket
  /** The `codex app-server` process, and the watchdog itself, as the watchdog tells them. */
  readonly pid: number
  readonly watchdog: number
}

/** The start of the reason `attach` fails with when another `deputy` holds the lease. */
export const leaseBusy = "another deputy holds its lease"

/**
 * Why `attach` failed when another `deputy` holds the lease: that one is alive and drives the Codex, so its
 * requests are not to be settled (carried as a `SpawnError`'s `cause`; `CodexAgent.leaseIsBusy` reads it).
 */
export class LeaseBusy extends Data.TaggedError("LeaseBusy")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

/** One ask for the lease: the watchdog's first line, or why there is none. */
const askLease = (leasePath: string): Effect.Effect<LeaseAnswer, string> =>
  Effect.async<LeaseAnswer, string>((resume) => {
    let done = false
    const socket = net.createConnection(leasePath)
    const settle = (result: Effect.Effect<LeaseAnswer, string>) => {
      if (done) return
      done = true
      resume(result)
    }
    const refuse = (reason: string) => {
      socket.destroy()
      settle(Effect.fail(reason))
    }
    let text = ""
    socket.on("data", (data) => {
      text += data
      const end = text.indexOf("\n")
      if (end < 0) return text.length > 4096 ? refuse("its watchdog answered the lease with no line") : undefined
      let answer: { readonly pid?: unknown; readonly watchdog?: unknown; readonly busy?: unknown }
      try {
        answer = JSON.parse(text.slice(0, end))
      } catch {
        return refuse("its watchdog answered the lease with something that is not JSON")
      }
      if (typeof answer.pid !== "number" || typeof answer.watchdog !== "number") {
        return refuse("its watchdog's answer to the lease names no pids")
      }
      if (answer.busy === true) {
        return refuse(`${leaseBusy} (it is attached to codex pid ${answer.pid}); nothing was sent or stopped`)
      }
      settle(Effect.succeed({ socket, pid: answer.pid, watchdog: answer.watchdog }))
    })
    socket.once("error", (error) => refuse(`its watchdog cannot be reached: ${error.message}`))
    socket.once("close", () => refuse("its watchdog closed the lease without answering"))
    return Effect.sync(() => socket.destroy())
  })

/**
 * Takes the lease: one connection to the watchdog (a socket of ours, not a symbolic link, in the checked
 * directory), closed with the scope (or by the kernel, on a crash). Fails when another `deputy` holds it
 * (asked again for about half a second: the kernel's close of a holder that just died may still be on
 * its way to the watchdog).
 */
const holdLease = (dir: string, timeout: Duration.Duration): Effect.Effect<LeaseAnswer, string, Scope.Scope> =>
  Effect.gen(function*() {
    const leasePath = path.join(dir, leaseName)
    const safe = Either.flatMap(
      Either.try({ try: () => fs.lstatSync(leasePath), catch: (error) => (error as Error).message }),
      () => checkPrivate(leasePath, ownUid())
    )
    if (Either.isLeft(safe)) return yield* Effect.fail(`its lease socket cannot be trusted: ${safe.left}`)
    return yield* Effect.uninterruptibleMask((restore) =>
      restore(
        askLease(leasePath).pipe(
          Effect.retry({
            while: (reason) => reason.startsWith(leaseBusy),
            schedule: Schedule.spaced(Duration.millis(50)),
            times: 10
          }),
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => `its watchdog did not answer the lease within ${Duration.format(timeout)}`
          })
        )
      ).pipe(
        Effect.tap((answer) => Effect.addFinalizer(() => Effect.sync(() => answer.socket.destroy())))
      )
    )
  })

/**
 * The socket directory's parent (`$DEPUTY_HOME/codex`): a directory, not a symbolic link, of ours, that
 * nobody else may write (else another user could swap the socket directory between the check and the
 * connection).
 */
const checkRoot = (dir: string): Either.Either<void, string> => {
  const root = path.dirname(dir)
  try {
    const stat = fs.lstatSync(root)
    if (stat.isSymbolicLink()) return Either.left(`${root} is a symbolic link`)
    if (!stat.isDirectory()) return Either.left(`${root} is not a directory`)
    if (stat.uid !== ownUid()) return Either.left(`${root} is owned by uid ${stat.uid}, not by us`)
    if ((stat.mode & 0o022) !== 0) {
      return Either.left(`${root} may be written by others (mode ${(stat.mode & 0o777).toString(8)})`)
    }
    return Either.right(undefined)
  } catch (error) {
    return Either.left((error as Error).message)
  }
}

const pollInterval = Duration.millis(20)

const waitUntil = (done: () => boolean, limitMs: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const deadline = Date.now() + limitMs
    while (!done()) {
      if (Date.now() >= deadline) return false
      yield* Effect.sleep(pollInterval)
    }
    return true
  })

const kill = (pid: number, signal: NodeJS.Signals, group = false) => {
  try {
    process.kill(group ? -pid : pid, signal)
  } catch {
    // gone
  }
}

/**
 * Ends a durable app-server and its tree: `stop` to the watchdog over the lease, SIGTERM to it, then
 * SIGKILL to Codex's process group and the watchdog; returns once both are gone (or after the bound).
 */
export const stopAt = (
  location: Location,
  lease: net.Socket | undefined,
  graceMs: number
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const gone = () => !isRunning(location.pid) && !isRunning(location.watchdogPid)
    if (gone()) return
    lease?.write("stop\n")
    kill(location.watchdogPid, "SIGTERM")
    if (yield* waitUntil(gone, graceMs + 2_500)) return
    kill(location.pid, "SIGKILL", true)
    kill(location.pid, "SIGKILL")
    kill(location.watchdogPid, "SIGKILL")
    yield* waitUntil(gone, 5_000)
  }).pipe(Effect.uninterruptible)

/** A `ChildProcess.Child` over a connection to a durable app-server. */
const asChild = (
  location: Location,
  connection: Connection,
  lease: net.Socket,
  options: {
    readonly graceMs: number
    /** The watchdog's supervisor, when this process started it. */
    readonly watchdog?: ChildProcess.Child | undefined
  }
): Effect.Effect<ChildProcess.Child, never, Scope.Scope> =>
  Effect.gen(function*() {
    let stopRequested = false
    // Uninterruptible around the memo too: a first caller interrupted mid-way would leave the others waiting.
    const stop = Effect.uninterruptible(
      yield* Effect.cached(
        Effect.zipRight(
          stopAt(location, lease, options.graceMs),
          options.watchdog === undefined ? Effect.void : options.watchdog.stop
        )
      )
    )
    const running = () => isRunning(location.pid)
    const exit: Effect.Effect<ChildProcess.ExitStatus> = options.watchdog !== undefined
      ? options.watchdog.exit
      : Effect.as(waitUntil(() => !running(), Number.MAX_SAFE_INTEGER), { code: null, signal: null })
    // Ending the input (the session's shutdown) ends the app-server, as closing its stdin would.
    yield* Effect.zipRight(connection.input.await, Effect.suspend(() => (stopRequested = true, stop))).pipe(
      Effect.ignore,
      ChildProcess.forkInterruptible
    )
    yield* Effect.addFinalizer(() => Effect.suspend(() => (stopRequested = true, stop)))
    return {
      pid: location.pid,
      containment: options.watchdog?.containment ?? (yield* ChildProcess.containment),
      stdout: connection.messages,
      input: connection.input,
      inputFailure: connection.inputFailure,
      exit,
      stopping: () => stopRequested,
      stop: Effect.suspend(() => (stopRequested = true, stop)),
      stdoutEnded: (grace) =>
        Effect.gen(function*() {
          const ended = yield* waitUntil(() => !running(), Duration.toMillis(Duration.decode(grace)))
          if (!ended) {
            stopRequested = true
            yield* stop
          }
          return options.watchdog === undefined
            ? { code: null, signal: null }
            : yield* options.watchdog.exit.pipe(
              Effect.timeoutOption(Duration.millis(options.graceMs)),
              Effect.map((status) => status._tag === "Some" ? status.value : { code: null, signal: null })
            )
        }),
      stderrEnded: (limit) => options.watchdog?.stderrEnded(limit) ?? Effect.void,
      stderrTail: () => options.watchdog?.stderrTail(),
      members: () => [location.pid, location.watchdogPid].filter(isRunning)
    } satisfies ChildProcess.Child
  })

/** Settings of `launch` and `attach`. */
export interface Settings {
  readonly maxMessageBytes: number
  readonly timeout: Duration.Duration
  /** How long Codex's tree gets to end after `stop`. */
  readonly graceMs: number
}

/**
 * Starts a durable app-server in a fresh directory under `root` (its watchdog supervised in the current
 * scope), connects to it and takes the lease.
 */
export const launch = (
  options: ChildProcess.StartOptions & {
    readonly root: string
    readonly idleMs: number
    /** Removed with the directory once Codex ended (a scratch overlay of its home), if any. */
    readonly alsoRemove?: string | undefined
  },
  settings: Settings
): Effect.Effect<
  { readonly child: ChildProcess.Child; readonly location: Location },
  string,
  CommandExecutor.CommandExecutor | Scope.Scope
> =>
  Effect.gen(function*() {
    const dir = makeSocketDir(options.root)
    if (Either.isLeft(dir)) return yield* Effect.fail(dir.left)
    const watchdog = yield* ChildProcess.start({
      // Left running by the next deputy's sweep of dead deputies' trees: it waits to be reattached.
      outlivesParent: true,
      command: process.execPath,
      args: [
        "-e",
        watchdogSource,
        dir.right,
        String(options.idleMs),
        options.alsoRemove ?? "-",
        options.command,
        ...options.args
      ],
      env: options.env,
      cwd: options.cwd,
      stderrTailBytes: options.stderrTailBytes,
      exitGracePeriod: options.exitGracePeriod,
      killGracePeriod: options.killGracePeriod
    }).pipe(
      Effect.tapError(() => Effect.sync(() => fs.rmSync(dir.right, { recursive: true, force: true }))),
      Effect.mapError((error) => `could not start its watchdog (${process.execPath}): ${error.message}`)
    )
    const first = yield* watchdog.stdout.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runHead,
      Effect.timeoutFail({
        duration: settings.timeout,
        onTimeout: () => `codex app-server did not listen on its socket within ${Duration.format(settings.timeout)}`
      }),
      Effect.mapError((error) => typeof error === "string" ? error : error.message)
    )
    const pid = first._tag === "Some" ? (JSON.parse(first.value) as { readonly pid?: unknown }).pid : undefined
    if (typeof pid !== "number") {
      const tail = ChildProcess.explainStderr(watchdog.stderrTail(), 3)
      return yield* Effect.fail(
        `codex app-server ended before it listened on its socket${tail.length === 0 ? "" : `: ${tail.join(" / ")}`}`
      )
    }
    const location: Location = { socketPath: path.join(dir.right, socketName), pid, watchdogPid: watchdog.pid }
    const lease = yield* holdLease(dir.right, settings.timeout)
    if (lease.pid !== pid || lease.watchdog !== watchdog.pid) {
      return yield* Effect.fail(
        `the lease of ${dir.right} is answered for codex pid ${lease.pid} (watchdog ${lease.watchdog}), ` +
          `not for the codex (pid ${pid}, watchdog ${watchdog.pid}) this process started`
      )
    }
    const connection = yield* connect(location.socketPath, settings)
    const child = yield* asChild(location, connection, lease.socket, { graceMs: settings.graceMs, watchdog })
    return { child, location }
  })

/**
 * Connects to the durable app-server a dead `deputy` left at `location` (a record nobody vouches for: read
 * from a ledger): the socket is checked (`checkSocket`) and so is its directory's parent, Codex's pid must
 * run; takes the lease (exclusive: fails if another `deputy` holds it, `leaseBusy`), and the watchdog
 * must name the recorded pids (else nothing is connected, sent or signalled: the pids would be someone
 * else's). The scope's close ends it and its tree.
 */
export const attach = (
  location: Location,
  settings: Settings
): Effect.Effect<ChildProcess.Child, string | LeaseBusy, Scope.Scope> =>
  Effect.gen(function*() {
    const safe = Either.flatMap(checkSocket(location.socketPath), () => checkRoot(path.dirname(location.socketPath)))
    if (Either.isLeft(safe)) return yield* Effect.fail(safe.left)
    if (!isRunning(location.pid)) return yield* Effect.fail(`its codex app-server (pid ${location.pid}) is gone`)
    const lease = yield* holdLease(path.dirname(location.socketPath), settings.timeout).pipe(
      Effect.mapError((reason) => reason.startsWith(leaseBusy) ? new LeaseBusy({ reason }) : reason)
    )
    if (lease.pid !== location.pid || lease.watchdog !== location.watchdogPid) {
      return yield* Effect.fail(
        `its watchdog runs codex pid ${lease.pid} (watchdog ${lease.watchdog}), not the recorded pid ` +
          `${location.pid} (watchdog ${location.watchdogPid}): the record is not this Codex's; nothing was ` +
          `sent or stopped`
      )
    }
    const connection = yield* connect(location.socketPath, settings)
    return yield* asChild(location, connection, lease.socket, { graceMs: settings.graceMs })
  })
