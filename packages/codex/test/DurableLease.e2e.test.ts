/**
 * The durable Codex's lease, attacked (review of the restart paths): a second `deputy` attaching while one
 * is attached, a ledger record whose pids are someone else's, a lease socket that is a symbolic link or
 * another user's. The real watchdog of `internal/durable.ts` runs over a stand-in app-server
 * (`fixtures/fake-app-server.mjs`: no Codex binary, no model), launched by a parent process that is then
 * killed with SIGKILL, as after a crash.
 */
import { ChildProcess } from "@deputy/agent-process"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Durable from "../src/internal/durable.js"

const parentScript = fileURLToPath(new URL("./fixtures/durable-fake-parent.mjs", import.meta.url))
const settings: Durable.Settings = { maxMessageBytes: 1 << 20, timeout: Duration.seconds(5), graceMs: 1000 }

/** Polls (every 20 ms, at most `limitMs`) until `done` holds; whether it did. */
const eventually = (done: () => boolean, limitMs: number) =>
  Effect.promise(async () => {
    const deadline = Date.now() + limitMs
    while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    return done()
  })

const tempRoot = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "deputy-lease-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** A process nobody should signal (checked by pid), killed at the end of the test. */
const bystander = Effect.acquireRelease(
  Effect.sync(() => spawn("sleep", ["60"], { stdio: "ignore" })),
  (child) => Effect.sync(() => child.kill("SIGKILL"))
)

/** A durable app-server whose parent was killed with SIGKILL: where it is. Ended at the end of the test. */
const orphaned = Effect.gen(function*() {
  const root = yield* tempRoot
  const parent = spawn(process.execPath, [parentScript, root], { stdio: ["ignore", "pipe", "pipe"] })
  const closed = new Promise((resolve) => parent.on("close", resolve))
  const line = yield* Effect.promise(() =>
    new Promise<string>((resolve, reject) => {
      let out = ""
      let err = ""
      parent.stdout.on("data", (data) => {
        out += data
        if (out.includes("\n")) resolve(out.split("\n")[0]!)
      })
      parent.stderr.on("data", (data) => (err += data))
      parent.on("close", () => reject(new Error(`the parent ended: ${err}`)))
    })
  )
  const location = JSON.parse(line) as Durable.Location
  yield* Effect.addFinalizer(() => Durable.stopAt(location, undefined, 1000))
  parent.kill("SIGKILL")
  yield* Effect.promise(() => closed)
  assert.isTrue(Durable.isRunning(location.pid) && Durable.isRunning(location.watchdogPid), "it outlived its parent")
  return location
})

describe("durable Codex: it outlives its deputy, even when the next one starts children", () => {
  it.scopedLive(
    "a later spawn's sweep of dead deputies' trees leaves a durable app-server running",
    () =>
      Effect.gen(function*() {
        const location = yield* orphaned
        // Any child started now sweeps what dead deputies left (their cgroups are killed whole).
        const child = yield* ChildProcess.start({
          command: "true",
          args: [],
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
          stderrTailBytes: 1024,
          exitGracePeriod: "1 second",
          killGracePeriod: "1 second"
        }).pipe(Effect.provide(NodeContext.layer))
        yield* child.exit
        assert.isTrue(Durable.isRunning(location.pid), "the app-server a dead deputy left still runs")
        assert.isTrue(Durable.isRunning(location.watchdogPid), "and its watchdog")
      }),
    30_000
  )
})

describe("durable Codex: nothing outlives its watchdog", () => {
  it.scopedLive(
    "the watchdog killed with SIGKILL after its deputy died: the app-server it ran goes with it",
    () =>
      Effect.gen(function*() {
        const location = yield* orphaned
        // Codex never exits by itself once its clients are gone; only its watchdog would end it.
        process.kill(location.watchdogPid, "SIGKILL")
        assert.isTrue(
          yield* eventually(() => !Durable.isRunning(location.pid), 5000),
          `the app-server (pid ${location.pid}) still runs 5 s after its watchdog was killed`
        )
      }),
    30_000
  )
})

describe("durable Codex: the lease is exclusive and vouches for the pids", () => {
  it.scopedLive(
    "a second deputy cannot attach to a Codex another one is attached to, nor stop it",
    () =>
      Effect.gen(function*() {
        const location = yield* orphaned
        const first = yield* Scope.make()
        const child = yield* Durable.attach(location, settings).pipe(Scope.extend(first))
        const second = yield* Effect.either(Effect.scoped(Durable.attach(location, settings)))
        assert.isTrue(Either.isLeft(second), "the second attach must be refused")
        // A typed fact, not a text to match: the reattach sweep leaves a live holder's requests alone on it.
        const busy = Either.isLeft(second) ? second.left : undefined
        assert.instanceOf(busy, Durable.LeaseBusy, "the lease is busy")
        assert.include((busy as Durable.LeaseBusy).reason, Durable.leaseBusy)
        assert.isTrue(Durable.isRunning(location.pid), "the Codex the first deputy drives still runs")
        assert.deepStrictEqual(child.members(), [location.pid, location.watchdogPid])
        // The first one's end ends it.
        yield* Scope.close(first, Exit.void)
        assert.isTrue(yield* eventually(() => !Durable.isRunning(location.pid), 5_000))
        assert.isFalse(fs.existsSync(path.dirname(location.socketPath)), "its directory is removed")
      }),
    30_000
  )

  it.scopedLive(
    "a record whose pids are not the watchdog's is refused, and the process it names is not signalled",
    () =>
      Effect.gen(function*() {
        const location = yield* orphaned
        const other = yield* bystander
        const forged = { ...location, pid: other.pid!, watchdogPid: other.pid! }
        const exit = yield* Effect.either(Effect.scoped(Durable.attach(forged, settings)))
        assert.isTrue(Either.isLeft(exit), "the attach must be refused")
        if (Either.isLeft(exit)) assert.match(String(exit.left), /not the recorded pid .*nothing was sent or stopped/)
        assert.isTrue(Durable.isRunning(other.pid!), "the process the record names was not signalled")
        // The real one is untouched and can still be attached with the true record.
        const child = yield* Durable.attach(location, settings)
        assert.deepStrictEqual(child.members(), [location.pid, location.watchdogPid])
      }),
    30_000
  )
})

describe("durable Codex: a lease socket that cannot be trusted", () => {
  /** A directory like a durable one: a WebSocket server as `codex.sock`; `lease` makes `lease.sock`. */
  const lookalike = (lease: (leasePath: string, pid: number) => Effect.Effect<void, never, Scope.Scope>) =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const dir = path.join(root, "c-x")
      fs.mkdirSync(dir, { mode: 0o700 })
      const { WebSocketServer } = createRequire(import.meta.url)("ws") as {
        WebSocketServer: new(options: { server: net.Server }) => { close: () => void }
      }
      const server = http.createServer()
      const wss = new WebSocketServer({ server })
      const socketPath = path.join(dir, "codex.sock")
      yield* listen(server, socketPath)
      yield* Effect.addFinalizer(() => Effect.sync(() => wss.close()))
      const other = yield* bystander
      yield* lease(path.join(dir, "lease.sock"), other.pid!)
      const point: Durable.Location = { socketPath, pid: other.pid!, watchdogPid: other.pid! }
      const exit = yield* Effect.either(Effect.scoped(Durable.attach(point, settings)))
      return { exit, other }
    })

  /** A lease server that answers as the watchdog would, for `pid`. */
  const answering = (pid: number) =>
    net.createServer((socket) => {
      socket.on("error", () => {})
      socket.write(JSON.stringify({ pid, watchdog: pid }) + "\n")
    })

  const listen = (server: net.Server, at: string) =>
    Effect.acquireRelease(
      Effect.async<void>((resume) => void server.listen(at, () => resume(Effect.void))),
      () => Effect.sync(() => server.close())
    )

  it.scopedLive("lease.sock is a symbolic link", () =>
    Effect.gen(function*() {
      const elsewhere = yield* tempRoot
      const { exit, other } = yield* lookalike((leasePath, pid) =>
        Effect.gen(function*() {
          const real = path.join(elsewhere, "lease.sock")
          yield* listen(answering(pid), real)
          fs.symlinkSync(real, leasePath)
        })
      )
      assert.isTrue(Either.isLeft(exit), "the attach must be refused")
      if (Either.isLeft(exit)) {
        assert.match(String(exit.left), /lease socket cannot be trusted: .*lease\.sock is a symbolic link/)
      }
      assert.isTrue(Durable.isRunning(other.pid!), "nothing was signalled")
    }), 30_000)

  it.scopedLive("lease.sock is owned by another uid", () =>
    Effect.gen(function*() {
      if (process.getuid?.() !== 0) return
      const { exit, other } = yield* lookalike((leasePath, pid) =>
        Effect.gen(function*() {
          yield* listen(answering(pid), leasePath)
          fs.chownSync(leasePath, 4242, 4242)
        })
      )
      assert.isTrue(Either.isLeft(exit), "the attach must be refused")
      if (Either.isLeft(exit)) assert.match(String(exit.left), /lease\.sock is owned by uid 4242, not by us/)
      assert.isTrue(Durable.isRunning(other.pid!), "nothing was signalled")
    }), 30_000)
})
