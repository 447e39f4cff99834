/**
 * A durable Codex (`CodexAgent.Options.durable`) with the pinned binary and the scripted model: it behaves as
 * the stdio agent and leaves nothing after a clean end; it survives its parent's SIGKILL, a new parent
 * reattaches (`Options.attach`) and gets the pending request replayed; nobody reattaching ends it after its
 * idle bound; a hostile socket is refused with a clear error.
 */
import { CodexAgent, CodexHome, ScriptedModel } from "@deputy/codex"
import type { Event } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { isTurnEnd, provideNode, reader, spawnScripted, text } from "./utils.js"

const parentScript = fileURLToPath(new URL("./fixtures/durable-parent.mjs", import.meta.url))

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
  return !["Z", "X"].includes(stat.slice(stat.lastIndexOf(")") + 2)[0]!)
}

/** Polls (every 20 ms, at most `limitMs`) until `done` holds; whether it did. */
const eventually = (done: () => boolean, limitMs: number) =>
  Effect.promise(async () => {
    const deadline = Date.now() + limitMs
    while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    return done()
  })

const socketRoot = () =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "deputy-durable-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

const decideAccept = (event: Event.Event) =>
  event.msg.type === "exec_approval_request"
    ? {
      type: "exec_approval" as const,
      id: String(event.msg.approval_id ?? event.msg.call_id),
      turn_id: event.id,
      decision: "approved" as const
    }
    : undefined

/** Starts `durable-parent.mjs` (a parent of a durable Codex) and waits for its pending request. */
const crashingParent = (settings: Record<string, unknown>) =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [parentScript, JSON.stringify(settings)], { stdio: ["ignore", "pipe", "pipe"] })
      ),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    const line = yield* Effect.promise(() =>
      new Promise<string>((resolve, reject) => {
        let out = ""
        let err = ""
        child.stdout.on("data", (data) => {
          out += data
          if (out.includes("\n")) resolve(out.split("\n")[0]!)
        })
        child.stderr.on("data", (data) => (err += data))
        child.on("close", () => reject(new Error(`the parent ended: ${err}`)))
      })
    )
    const { point, request } = JSON.parse(line) as { point: CodexAgent.ReattachPoint; request: Event.Event }
    return { child, point, request }
  })

describe("CodexAgent durable: a Codex that survives its parent", () => {
  it.scopedLive(
    "behaves as the stdio agent; a clean end leaves no process and no socket",
    () =>
      Effect.gen(function*() {
        const root = yield* socketRoot()
        const outcome = yield* Effect.scoped(Effect.gen(function*() {
          const { agent, cwd } = yield* spawnScripted(
            ScriptedModel.scenario([ScriptedModel.exec("echo once >> out.txt", { justification: "durable" })]),
            { approvalPolicy: "on-request", sandbox: "read-only", durable: { socketDir: root } }
          )
          const point = agent.durable!
          assert.strictEqual(path.dirname(path.dirname(point.socketPath)), root)
          assert.strictEqual(fs.statSync(path.dirname(point.socketPath)).mode & 0o777, 0o700)
          assert.isTrue(alive(point.pid) && alive(point.watchdogPid))
          const events = yield* reader(agent)
          yield* agent.submit(text("go"))
          const seen = yield* events.until(isTurnEnd, decideAccept)
          const types = seen.map((event) => event.msg.type)
          assert.includeMembers(types, ["session_configured", "task_started", "exec_approval_request", "task_complete"])
          assert.strictEqual(fs.readFileSync(path.join(cwd, "out.txt"), "utf8"), "once\n")
          return point
        }))
        assert.isFalse(alive(outcome.pid), "codex app-server ended with the agent")
        assert.isFalse(alive(outcome.watchdogPid), "its watchdog ended with it")
        assert.isFalse(fs.existsSync(path.dirname(outcome.socketPath)), "its socket directory is removed")
      }).pipe(provideNode),
    60_000
  )

  it.scopedLive(
    "the parent killed with SIGKILL: a new parent reattaches, the request is replayed, answered once",
    () =>
      Effect.gen(function*() {
        const root = yield* socketRoot()
        const model = yield* ScriptedModel.make(
          ScriptedModel.scenario([ScriptedModel.exec("echo once >> out.txt", { justification: "reattach" })])
        )
        const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
        const cwd = yield* socketRoot()
        const parent = yield* crashingParent({ codexHome: home.path, env: home.env, socketDir: root, cwd })
        parent.child.kill("SIGKILL")
        yield* Effect.promise(() => new Promise((resolve) => parent.child.once("close", resolve)))
        assert.isTrue(alive(parent.point.pid), "codex app-server outlived its parent")

        const point = yield* Effect.scoped(Effect.gen(function*() {
          const agent = yield* CodexAgent.spawn({ codexHome: home.path, env: home.env, attach: parent.point }, {
            source: "review",
            cwd
          })
          assert.strictEqual(agent.threadId, parent.point.threadId)
          const events = yield* reader(agent)
          const seen = yield* events.until(isTurnEnd, decideAccept)
          const replayed = seen.filter((event) => event.msg.type === "exec_approval_request")
          assert.strictEqual(replayed.length, 1, "asked again once")
          assert.strictEqual(
            (replayed[0]!.msg as { call_id: string }).call_id,
            (parent.request.msg as { call_id: string }).call_id
          )
          assert.strictEqual(seen.at(-1)!.msg.type, "task_complete")
          return agent.durable!
        }))
        assert.strictEqual(fs.readFileSync(path.join(cwd, "out.txt"), "utf8"), "once\n", "the command ran once")
        assert.isFalse(alive(point.pid) || alive(point.watchdogPid), "nothing left after the new parent's end")
        assert.isFalse(fs.existsSync(path.dirname(point.socketPath)))
      }).pipe(provideNode),
    90_000
  )

  it.scopedLive("nobody reattaches: the watchdog ends Codex after the idle bound", () =>
    Effect.gen(function*() {
      const root = yield* socketRoot()
      const model = yield* ScriptedModel.make(
        ScriptedModel.scenario([ScriptedModel.exec("echo never >> out.txt", { justification: "idle" })])
      )
      const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
      const cwd = yield* socketRoot()
      const parent = yield* crashingParent({
        codexHome: home.path,
        env: home.env,
        socketDir: root,
        cwd,
        idleTimeout: "1 second"
      })
      const killedAt = Date.now()
      parent.child.kill("SIGKILL")
      assert.isTrue(yield* eventually(() => !alive(parent.point.pid) && !alive(parent.point.watchdogPid), 10_000))
      const tookMs = Date.now() - killedAt
      assert.isAtLeast(tookMs, 900, "not before the idle bound")
      assert.isFalse(fs.existsSync(path.dirname(parent.point.socketPath)))
      assert.isFalse(fs.existsSync(path.join(cwd, "out.txt")))
    }).pipe(provideNode), 60_000)
})

describe("CodexAgent attach: a hostile socket fails closed", () => {
  /** A directory like the durable one, with a lease listener; `serve` makes the socket. */
  const hostile = (serve: (socketPath: string) => Effect.Effect<void, never, Scope.Scope>) =>
    Effect.gen(function*() {
      const root = yield* socketRoot()
      const dir = path.join(root, "c-x")
      fs.mkdirSync(dir, { mode: 0o700 })
      // Stand-ins for Codex and its watchdog, ended by the failed attach's clean-up at the latest.
      const sleeper = yield* Effect.acquireRelease(
        Effect.sync(() => spawn("sleep", ["60"], { stdio: "ignore" })),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      // The lease answers as the watchdog does, for the stand-in.
      const lease = net.createServer((socket) => {
        socket.on("error", () => {})
        socket.write(JSON.stringify({ pid: sleeper.pid, watchdog: sleeper.pid }) + "\n")
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void lease.listen(path.join(dir, "lease.sock"), () => resume(Effect.void))),
        () => Effect.sync(() => lease.close())
      )
      const socketPath = path.join(dir, "codex.sock")
      yield* serve(socketPath)
      const point: CodexAgent.ReattachPoint = {
        socketPath,
        pid: sleeper.pid!,
        watchdogPid: sleeper.pid!,
        threadId: "thread-1"
      }
      const exit = yield* Effect.scoped(CodexAgent.spawn({ attach: point, maxLineLength: 4096 }, { source: "review" }))
        .pipe(provideNode, Effect.exit)
      return exit
    })

  const listen = (server: net.Server, socketPath: string) =>
    Effect.acquireRelease(
      Effect.async<void>((resume) => void server.listen(socketPath, () => resume(Effect.void))),
      () => Effect.sync(() => server.close())
    )

  const failure = (exit: Exit.Exit<unknown, unknown>): string => {
    assert.isTrue(Exit.isFailure(exit), "the attach must fail")
    return Exit.isFailure(exit) ? String((exit.cause as { error?: { message?: string } }).error?.message) : ""
  }

  it.scopedLive("a symbolic link instead of the socket", () =>
    Effect.gen(function*() {
      const elsewhere = yield* socketRoot()
      const exit = yield* hostile((socketPath) =>
        Effect.gen(function*() {
          // A socket anyone could have put there (its directory is open to others).
          fs.chmodSync(elsewhere, 0o777)
          const real = path.join(elsewhere, "real.sock")
          yield* listen(net.createServer(), real)
          fs.symlinkSync(real, socketPath)
        })
      )
      assert.match(
        failure(exit),
        /could not reattach .*codex\.sock is a symbolic link to .*real\.sock, and its directory .* is open to others/
      )
    }))

  it.scopedLive("a socket owned by someone else", () =>
    Effect.gen(function*() {
      if (process.getuid?.() !== 0) return
      const exit = yield* hostile((socketPath) =>
        Effect.gen(function*() {
          yield* listen(net.createServer(), socketPath)
          fs.chownSync(socketPath, 4242, 4242)
        })
      )
      assert.match(failure(exit), /codex\.sock is owned by uid 4242, not by us/)
    }))

  it.scopedLive("a server that answers the handshake with garbage", () =>
    Effect.gen(function*() {
      const exit = yield* hostile((socketPath) =>
        listen(
          net.createServer((socket) => {
            socket.on("error", () => {})
            socket.end("\u0000\u00ff garbage, not HTTP\r\n\r\n")
          }),
          socketPath
        )
      )
      assert.match(failure(exit), /could not reattach .*WebSocket handshake failed|closed the connection/)
    }))

  it.scopedLive("a server that sends a message over the line bound", () =>
    Effect.gen(function*() {
      const { WebSocketServer } = createRequire(import.meta.url)("ws") as {
        WebSocketServer: new(options: { server: net.Server }) => {
          on: (event: "connection", listener: (socket: { send: (data: string) => void }) => void) => void
          close: () => void
        }
      }
      const http = yield* Effect.promise(() => import("node:http"))
      const exit = yield* hostile((socketPath) =>
        Effect.gen(function*() {
          const server = http.createServer()
          const wss = new WebSocketServer({ server })
          // Answers `initialize` with a message far over `maxLineLength` (4 KiB).
          wss.on("connection", (socket) => socket.send(JSON.stringify({ id: 0, result: "x".repeat(64 * 1024) })))
          yield* Effect.addFinalizer(() => Effect.sync(() => wss.close()))
          yield* listen(server, socketPath)
        })
      )
      assert.match(failure(exit), /initialize failed.*(Max payload size exceeded|has exited)/s)
    }))
})
