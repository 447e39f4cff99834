/**
 * A live `deputy` elsewhere is never taken for dead, and a dead one here is told exactly: the start-up
 * sweep (settle lost, re-send undelivered decisions, reattach a durable Codex) and the inbox judge a
 * writer by the identity its rows carry (boot id, pid namespace, start ticks). A writer in another
 * container with the same hostname (same host string, a pid that does not run here, another pid
 * namespace) is left alone and shown as unknown. Real SQLite ledgers (and PostgreSQL when a server runs),
 * the writers as separate ledger layers on the same file.
 */
import { ApprovalLedger } from "@deputy/ledger"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as LedgerCommands from "../src/internal/LedgerCommands.js"
import * as LedgerSetup from "../src/LedgerSetup.js"
import * as Cli from "./utils/cli.js"
import * as Requests from "./utils/requests.js"
import { postgresDatabase } from "./utils/serve.js"

/** This file's temporary directories, removed when its tests have run (`Cli.stopAll`). */
afterAll(Cli.stopAll)

const linux = process.platform === "linux"
const host = os.hostname()
const read = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "latin1").trim()
  } catch {
    return undefined
  }
}
const bootId = read("/proc/sys/kernel/random/boot_id")
const pidNamespace = linux ? fs.readlinkSync("/proc/self/ns/pid") : undefined
const machineId = read("/etc/machine-id")
const ticksOf = (pid: number): number => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19])
}
/** Above Linux's largest pid: it runs nowhere, certainly not here. */
const neverPid = 4_194_305

/** A writer of this machine and pid namespace. */
const here = (pid: number, startTicks: number, runId: string): ApprovalLedger.ProcessIdentity => ({
  host,
  pid,
  runId,
  bootId: bootId!,
  pidNamespace: pidNamespace!,
  startTicks,
  ...(machineId === undefined ? {} : { machineId })
})

/** A `deputy` in another container of the same hostname: its pid does not run here, its namespace differs. */
const otherContainer: ApprovalLedger.ProcessIdentity = {
  ...here(neverPid, 12_345, "pod-b"),
  pidNamespace: "pid:[4026532999]"
}

type Open = (identity?: ApprovalLedger.ProcessIdentity) => Layer.Layer<ApprovalLedger.ApprovalLedger, unknown>

const build = (layer: Layer.Layer<ApprovalLedger.ApprovalLedger, unknown>) =>
  Effect.map(Layer.build(layer), Context.get(ApprovalLedger.ApprovalLedger))

const sleeper = Effect.acquireRelease(
  Effect.sync(() => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" })
    return { pid: child.pid!, ticks: ticksOf(child.pid!) }
  }),
  ({ pid }) => Effect.sync(() => process.kill(pid, "SIGKILL"))
)

/** The whole start-up sweep against a ledger shared by writers of all kinds. */
const sweep = (open: Open) =>
  Effect.gen(function*() {
    const root = Cli.tempDir()
    const { pid: livePid, ticks } = yield* sleeper
    const writers = {
      elsewhere: yield* build(open(otherContainer)),
      dead: yield* build(open(here(neverPid, 1, "dead-here"))),
      reused: yield* build(open(here(livePid, ticks + 1, "reused"))),
      live: yield* build(open(here(livePid, ticks, "live")))
    }
    const self = yield* build(open())
    const ask = (writer: ApprovalLedger.ApprovalLedgerService, name: string) =>
      Effect.gen(function*() {
        const undecided = { ...Requests.command(["ls", name], `${name}-1`), id: `${name}/command/1` }
        const decided = { ...Requests.command(["make", name], `${name}-2`), id: `${name}/command/2` }
        const durable = { ...Requests.command(["codex", name], `${name}-3`), id: `${name}/command/3` }
        yield* writer.recordPending(undecided)
        yield* writer.recordPending(decided)
        yield* writer.answer(decided.id, { _tag: "Decision", decision: "approved" }, { _tag: "Person", channel: "t" })
        yield* writer.recordPending(durable, {
          reattach: {
            socketPath: path.join(root, name, "codex.sock"),
            pid: neverPid,
            watchdogPid: neverPid,
            threadId: "t"
          }
        })
      })
    for (const [name, writer] of Object.entries(writers)) yield* ask(writer, name)

    const inLedger = <A, E>(effect: Effect.Effect<A, E, ApprovalLedger.ApprovalLedger>) =>
      Effect.provideService(effect, ApprovalLedger.ApprovalLedger, self)
    const unreachable: Array<string> = []
    const reattach = yield* inLedger(
      LedgerSetup.reattachable(
        0,
        (point) => Effect.sync(() => void unreachable.push(point.socketPath)),
        LedgerSetup.isAlive,
        { root }
      )
    )
    const resend = yield* inLedger(LedgerSetup.undelivered(0))
    const lost = yield* inLedger(LedgerSetup.settleDead())
    const inbox = yield* self.pending()
    return { reattach, unreachable, resend, lost, inbox }
  })

const expectations = (result: Effect.Effect.Success<ReturnType<typeof sweep>>) => {
  const requestsOf = (ids: ReadonlyArray<string>) => [...new Set(ids.map((id) => id.split("/")[0]))].sort()
  // only the dead writers of this machine: the one whose pid is gone, the one whose pid was reused
  assert.deepStrictEqual(requestsOf(result.lost.map((entry) => entry.requestId)), ["dead", "reused"])
  assert.deepStrictEqual(result.lost.map((entry) => entry.requestId).sort(), [
    "dead/command/1",
    "dead/command/3",
    "reused/command/1",
    "reused/command/3"
  ])
  assert.deepStrictEqual(
    requestsOf([...result.resend.values()].flat().map((found) => found.request.id)),
    ["dead", "reused"]
  )
  // the durable Codex of the other container is not even looked at (nor said unreachable)
  assert.deepStrictEqual(result.reattach, [])
  assert.deepStrictEqual(result.unreachable.map((socket) => path.basename(path.dirname(socket))).sort(), [
    "dead",
    "reused"
  ])
  // what still waits: the live writer's and the other container's, untouched
  assert.deepStrictEqual(requestsOf(result.inbox.map((pending) => pending.entry.requestId)), ["elsewhere", "live"])
  const shown = (name: string) => {
    const pending = result.inbox.find((pending) => pending.entry.requestId === `${name}/command/1`)!
    return LedgerCommands.inboxRecord(pending, Date.now())
  }
  assert.strictEqual(shown("live").process_alive, true)
  assert.strictEqual(shown("elsewhere").process_alive, null)
  assert.strictEqual(shown("elsewhere").process_state, "unknown")
  const lines = LedgerCommands.inboxLines(
    result.inbox.filter((pending) => pending.entry.requestId.startsWith("elsewhere/")),
    Date.now(),
    "x"
  ).join("\n")
  assert.include(lines, "cannot be told from here")
  assert.notInclude(lines, "its deputy is gone")
}

const tempFile = () => path.join(Cli.tempDir(), "ledger.db")

describe.skipIf(!linux)("the start-up sweep judges writers by their identity", () => {
  it.scopedLive("SQLite: another container's requests are not settled lost, re-sent or reattached; dead ones are", () =>
    Effect.gen(function*() {
      const filename = tempFile()
      const open: Open = (identity) =>
        ApprovalLedger.layerSqlite({
          filename,
          anchor: false,
          ...(identity === undefined ? {} : { process: identity })
        })
      expectations(yield* sweep(open))
    }))

  it("isGone (kept for callers): another pid namespace is not gone; a reused pid is", () => {
    const self = { host, pid: process.pid }
    assert.isFalse(LedgerSetup.isGone(otherContainer, self))
    assert.isTrue(LedgerSetup.isGone(here(neverPid, 1, "r"), self))
    assert.isTrue(LedgerSetup.isGone(here(process.pid, ticksOf(process.pid) + 1, "r"), self))
    assert.isFalse(LedgerSetup.isGone(here(process.pid, ticksOf(process.pid), "r"), self))
  })

  const pg = postgresDatabase("PostgreSQL identity sweep test")
  afterAll(pg.drop)
  it.scopedLive.skipIf(!pg.run)("PostgreSQL: the same sweep over a shared server", () =>
    Effect.gen(function*() {
      assert.isDefined(pg.url, "no PostgreSQL server")
      const open: Open = (identity) =>
        ApprovalLedger.layerPg({ url: pg.url!, ...(identity === undefined ? {} : { process: identity }) })
      expectations(yield* sweep(open))
    }))
})
