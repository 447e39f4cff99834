/**
 * The reattach sweep at a run's start, attacked (review of the restart paths): ledger rows are untrusted
 * input (a forged, corrupt or foreign row), and a second `deputy` may be attached already. Two writers
 * share the ledger's in-memory store (the same logic as SQLite): a `deputy` that died, and this process.
 */
import { Approvals, DecidedBy } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import * as Terminal from "@effect/platform/Terminal"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as ledgerInternal from "../../ledger/src/internal/ledger.js"
import * as memoryStore from "../../ledger/src/internal/memoryStore.js"
import * as ApprovalSetup from "../src/ApprovalSetup.js"
import * as LedgerSetup from "../src/LedgerSetup.js"
import { Output } from "../src/Output.js"
import * as MockTerminal from "./utils/MockTerminal.js"
import * as RecordingOutput from "./utils/RecordingOutput.js"
import * as Requests from "./utils/requests.js"

const host = os.hostname()

/** The pid of a process that ran and has exited (reaped): certainly dead. */
const deadPid = (): number =>
  Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString())

const writers = Effect.gen(function*() {
  const store = yield* memoryStore.makeStore
  const dead = { host, pid: deadPid(), runId: "old-run" }
  const old = ledgerInternal.makeService(store, dead)
  const self = ledgerInternal.makeService(store, { host, pid: process.pid, runId: "this-run" })
  /** Appends a row as the dead deputy, exactly as given (what a forged or corrupt row can be). */
  const forge = (row: { type: "pending" | "decided"; requestId: string; data: unknown; decidedBy?: unknown }) =>
    store.append(row.requestId, () => ({
      rows: [{
        type: row.type,
        requestId: row.requestId,
        key: `${row.requestId}/${row.type}`,
        delegateId: "forged",
        kind: "command",
        outcome: row.type === "decided" ? "approved" : null,
        decidedBy: row.decidedBy === undefined ? null : JSON.stringify(row.decidedBy),
        decidedByTag: null,
        host,
        pid: dead.pid,
        runId: dead.runId,
        traceId: null,
        digest: "0".repeat(64),
        data: JSON.stringify(row.data)
      }],
      result: () => Effect.void
    }))
  return { old, self, forge }
})

const tempDir = (mode = 0o700) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-reattach-"))
      fs.chmodSync(dir, mode)
      return dir
    }),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

const listening = (at: string) =>
  Effect.acquireRelease(
    Effect.async<net.Server>((resume) => {
      const server = net.createServer((socket) => socket.on("error", () => {}))
      server.listen(at, () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  )

/** A process nobody should signal (checked by pid), killed at the end of the test. */
const bystander = Effect.acquireRelease(
  Effect.sync(() => spawn("sleep", ["60"], { stdio: "ignore" })),
  (child) => Effect.sync(() => child.kill("SIGKILL"))
)

/** `layerRecorded` built over `ledger` (mode deny, nobody asked): its `Approvals` and what it said. */
const startRun = (
  ledger: ReturnType<typeof ledgerInternal.makeService>,
  mode: ApprovalSetup.ApprovalMode = "deny"
) =>
  Effect.gen(function*() {
    const recording = yield* RecordingOutput.make()
    const terminal = yield* MockTerminal.make
    const layer = ApprovalSetup.layerRecorded({ mode, defaulted: false, rules: [] }, {
      onInterrupt: Effect.void
    }).pipe(
      Layer.provide(Layer.mergeAll(
        Layer.succeed(ApprovalLedger.ApprovalLedger, ledger),
        Layer.succeed(Output, recording.output),
        Layer.succeed(Terminal.Terminal, terminal.terminal)
      ))
    )
    const approvals: Approvals.ApprovalsService = yield* Effect.provide(Approvals.Approvals, layer)
    return { approvals, stderr: recording.stderr }
  })

describe("reattach sweep: ledger rows are untrusted", () => {
  it.scopedLive("a reattach point outside $DEPUTY_HOME/codex is not attached, even to a socket of ours", () =>
    Effect.gen(function*() {
      const { old, self } = yield* writers
      // A private directory of ours with a socket in it (an ssh agent's, a desktop bus'...), and a live pid.
      const elsewhere = yield* tempDir()
      const socketPath = path.join(elsewhere, "codex.sock")
      yield* listening(socketPath)
      const other = yield* bystander
      const point: ApprovalLedger.ReattachPoint = {
        socketPath,
        pid: other.pid!,
        watchdogPid: other.pid!,
        threadId: "t"
      }
      const request = Requests.command(["ls"], "c-1")
      yield* old.recordPending(request, { reattach: point })
      const root = yield* tempDir()
      const reasons: Array<string> = []
      const found = yield* Effect.provideService(
        LedgerSetup.reattachable(0, (_point, reason) => Effect.sync(() => void reasons.push(reason)), undefined, {
          root
        }),
        ApprovalLedger.ApprovalLedger,
        self
      )
      assert.deepStrictEqual(found, [], "nothing to attach to")
      assert.deepStrictEqual(reasons, [
        `its socket is not in ${root}, where this deputy keeps its durable Codex processes`
      ])
    }))

  it.scopedLive("another user's durable Codex: its requests are left pending for them, not settled lost", () =>
    Effect.gen(function*() {
      if (process.getuid?.() !== 0) return
      const { old, self } = yield* writers
      const root = yield* tempDir()
      const dir = path.join(root, "c-theirs")
      fs.mkdirSync(dir, { mode: 0o700 })
      const socketPath = path.join(dir, "codex.sock")
      yield* listening(socketPath)
      fs.chownSync(socketPath, 4242, 4242)
      fs.chownSync(dir, 4242, 4242)
      const other = yield* bystander
      const request = Requests.command(["ls"], "c-1")
      yield* old.recordPending(request, {
        reattach: { socketPath, pid: other.pid!, watchdogPid: other.pid!, threadId: "t" }
      })
      const { stderr } = yield* startRun(self)
      assert.include(stderr(), "is another user's (its socket directory belongs to uid 4242)")
      assert.notInclude(stderr(), "settled lost")
      assert.deepStrictEqual((yield* self.pending()).map((item) => item.request.id), [request.id])
    }))

  it.scopedLive("a forged or corrupt row does not stop a run's start; the sound ones are swept as before", () =>
    Effect.gen(function*() {
      const { old, forge, self } = yield* writers
      const noEvent = { id: "x/command/no-event", delegateId: "x", kind: "command", source: "review", callId: "n" }
      // Pending, nobody decided: the sweep settles it lost, which needs its event.
      yield* forge({
        type: "pending",
        requestId: "x/command/lonely",
        data: { request: { ...noEvent, id: "x/command/lonely" } }
      })
      // Decided, never delivered: the sweep reads it to re-send it.
      yield* forge({ type: "pending", requestId: noEvent.id, data: { request: noEvent } })
      yield* forge({
        type: "decided",
        requestId: noEvent.id,
        data: { answer: { _tag: "Decision", decision: "approved" } },
        decidedBy: { _tag: "Person", channel: "t" }
      })
      // A reattach point that is not one.
      yield* forge({
        type: "pending",
        requestId: "x/command/point",
        data: { request: Requests.command(["ls"], "p"), reattach: { socketPath: 42, pid: "1" } }
      })
      const sound = Requests.command(["npm", "test"], "c-1")
      yield* old.recordPending(sound)

      const { approvals, stderr } = yield* startRun(self)
      assert.include(stderr(), `${sound.id} settled lost`)
      assert.include(stderr(), "is malformed")
      // The run goes on: its own requests are answered (deny mode).
      const answer = DecidedBy.split(yield* approvals.command(Requests.command(["git", "push"], "c-9")), "t")
      assert.strictEqual(answer.value, "denied")
    }))
})

const parentScript = fileURLToPath(new URL("../../codex/test/fixtures/durable-fake-parent.mjs", import.meta.url))

/** A durable app-server (a stand-in, the real watchdog) launched under `root` by a parent that stays alive. */
const launchedBy = (root: string) =>
  Effect.gen(function*() {
    const parent = spawn(process.execPath, [parentScript, root], { stdio: ["ignore", "pipe", "inherit"] })
    const closed = new Promise((resolve) => parent.on("close", resolve))
    yield* Effect.addFinalizer(() => Effect.sync(() => parent.kill("SIGKILL")))
    const line = yield* Effect.promise(() =>
      new Promise<string>((resolve, reject) => {
        let out = ""
        parent.stdout.on("data", (data) => {
          out += data
          if (out.includes("\n")) resolve(out.split("\n")[0]!)
        })
        parent.on("close", () => reject(new Error("the parent ended")))
      })
    )
    const point: ApprovalLedger.ReattachPoint = {
      ...(JSON.parse(line) as Omit<ApprovalLedger.ReattachPoint, "threadId">),
      threadId: "thread-1"
    }
    // Ended at the end of the test, whoever holds it (its watchdog ends it and removes its directory).
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        try {
          process.kill(point.watchdogPid, "SIGTERM")
        } catch {
          // gone
        }
        const deadline = Date.now() + 5_000
        while (LedgerSetup.isAlive(point.watchdogPid) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      })
    )
    return { point, crash: Effect.promise(() => (parent.kill("SIGKILL"), closed)) }
  })

describe("reattach: only an inbox run finishes an orphaned turn", () => {
  it.scopedLive(
    "a run in another mode leaves the orphaned requests pending and does not answer them",
    () =>
      Effect.gen(function*() {
        const home = yield* tempDir()
        const before = process.env.DEPUTY_HOME
        process.env.DEPUTY_HOME = home
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => before === undefined ? delete process.env.DEPUTY_HOME : (process.env.DEPUTY_HOME = before))
        )
        const { old, self } = yield* writers
        const { crash, point } = yield* launchedBy(LedgerSetup.durableRoot())
        yield* crash
        const request = Requests.command(["rm", "-rf", "build"], "c-1")
        yield* old.recordPending(request, { reattach: point })
        const { stderr } = yield* startRun(self, "approve")
        assert.include(stderr(), "they are left pending")
        assert.notInclude(stderr(), "reattaching")
        assert.deepStrictEqual((yield* self.pending()).map((item) => item.request.id), [request.id])
        assert.isTrue(LedgerSetup.isAlive(point.pid), "the Codex still waits")
      }),
    60_000
  )
})

describe("reattach: the lease is the claim", () => {
  it.scopedLive(
    "another deputy holds the Codex's lease: nothing is attached and nothing settled",
    () =>
      Effect.gen(function*() {
        const { old, self } = yield* writers
        // The parent stands for the other deputy: it holds the lease.
        const { point } = yield* launchedBy(yield* tempDir())
        const request = Requests.command(["ls"], "c-1")
        const pending = yield* old.recordPending(request, { reattach: point })
        const ended = yield* Effect.provideService(
          LedgerSetup.reattach({ point, entries: [pending], undecided: [request.id] }, {
            command: () => Effect.die("nobody may be asked"),
            patch: () => Effect.die("nobody may be asked"),
            permissions: () => Effect.die("nobody may be asked"),
            userInput: () => Effect.die("nobody may be asked")
          }),
          ApprovalLedger.ApprovalLedger,
          self
        )
        assert.include(ended, "not reattached: ")
        assert.include(ended, "another deputy holds its lease")
        assert.deepStrictEqual((yield* self.pending()).map((item) => item.request.id), [request.id], "nothing settled")
      }),
    60_000
  )
})
