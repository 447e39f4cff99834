/**
 * The ledger as a run uses it: the `--ledger` choice, the start-up sweep of dead processes' requests,
 * re-sending a decision that never reached its child, and `--approval inbox` answered from another
 * ledger writer. Two writers share one store (the ledger's in-memory store: the same logic as SQLite,
 * without the disk), one of them a process that really ran and exited.
 */
import { type ApprovalRequest, Approvals, DecidedBy } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import * as Terminal from "@effect/platform/Terminal"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { spawnSync } from "node:child_process"
import * as os from "node:os"
import * as path from "node:path"
import * as ledgerInternal from "../../ledger/src/internal/ledger.js"
import * as memoryStore from "../../ledger/src/internal/memoryStore.js"
import * as ApprovalSetup from "../src/ApprovalSetup.js"
import * as LedgerSetup from "../src/LedgerSetup.js"
import { Output } from "../src/Output.js"
import * as MockTerminal from "./utils/MockTerminal.js"
import * as RecordingOutput from "./utils/RecordingOutput.js"
import * as Requests from "./utils/requests.js"

/** The pid of a process that ran and has exited (reaped): certainly dead. */
const deadPid = (): number => {
  const result = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"])
  return Number(result.stdout.toString())
}

const host = os.hostname()

/** Two ledger writers over one store: a `deputy` that died, and this process. */
const twoWriters = Effect.gen(function*() {
  const store = yield* memoryStore.makeStore
  const dead = deadPid()
  const old = ledgerInternal.makeService(store, { host, pid: dead, runId: "old-run" })
  const self = ledgerInternal.makeService(store, { host, pid: process.pid, runId: "this-run" })
  const other = (pid: number, hostName = host) => ledgerInternal.makeService(store, { host: hostName, pid, runId: "x" })
  return { old, self, other, dead }
})

/** The same question asked by another delegate in another turn. */
const askedAgain = <R extends ApprovalRequest.ApprovalRequest>(request: R, delegateId = "restarted"): R => ({
  ...request,
  id: `${delegateId}/${request.kind}/${request.callId}`,
  delegateId,
  turnId: "turn-9",
  event: { ...request.event, ...("turn_id" in request.event ? { turn_id: "turn-9" } : {}) }
})

/** Where the dead deputy's run and the restarted one asked (the same working directory: a re-ask). */
const sameDirectory = { origin: { workspace: "/repo" } }

const never: Approvals.ApprovalsService = {
  command: () => Effect.never,
  patch: () => Effect.never,
  permissions: () => Effect.never,
  userInput: () => Effect.never
}

describe("LedgerSetup", () => {
  it("--ledger: sqlite:PATH, postgres URLs, off, the default under $DEPUTY_HOME; errors name the flag", () => {
    assert.deepStrictEqual(
      LedgerSetup.parse(Option.none(), "run", { DEPUTY_HOME: "/srv/d" }),
      Either.right({
        _tag: "Sqlite" as const,
        filename: "/srv/d/ledger.db"
      })
    )
    assert.deepStrictEqual(
      LedgerSetup.parse(Option.none(), "run", {}),
      Either.right({ _tag: "Sqlite" as const, filename: path.join(os.homedir(), ".deputy", "ledger.db") })
    )
    assert.deepStrictEqual(
      LedgerSetup.parse(Option.some("sqlite:rel/l.db"), "run"),
      Either.right({ _tag: "Sqlite" as const, filename: path.resolve("rel/l.db") })
    )
    for (const spec of ["postgres://u@h:5432/db", "postgres:postgresql://u@h/db"]) {
      const parsed = LedgerSetup.parse(Option.some(spec), "inbox")
      assert.strictEqual(Either.isRight(parsed) && parsed.right._tag, "Postgres")
    }
    assert.deepStrictEqual(LedgerSetup.parse(Option.some("off"), "run"), Either.right({ _tag: "Off" as const }))
    for (const bad of ["mysql://x", "sqlite:", "postgres:nope"]) {
      const parsed = LedgerSetup.parse(Option.some(bad), "log")
      assert.isTrue(Either.isLeft(parsed) && parsed.left.message.startsWith("--ledger"), bad)
      assert.strictEqual(Either.isLeft(parsed) ? parsed.left.command : undefined, "log")
    }
    assert.strictEqual(
      LedgerSetup.describe({ _tag: "Postgres", url: "postgres://me:secret@db:5432/x" }),
      "postgres://me:***@db:5432/x"
    )
  })

  it("forRun: inbox needs a ledger; with one the ledger owns the deadline and the delegate's is a second later", () => {
    const base = { onInterrupt: Effect.void, approvalTimeout: Duration.seconds(30) }
    const inbox = { mode: "inbox" as const, defaulted: false, rules: [] }
    const off = ApprovalSetup.forRun(inbox, { ...base, ledger: Option.some("off") })
    assert.isTrue(Either.isLeft(off) && off.left.message.includes("--approval inbox needs a ledger"))
    const denied = ApprovalSetup.forRun({ ...inbox, mode: "deny" }, { ...base, ledger: Option.some("off") })
    assert.isTrue(Either.isRight(denied) && Duration.toMillis(denied.right.delegateTimeout!) === 30_000)
    const recorded = ApprovalSetup.forRun(inbox, { ...base, ledger: Option.some("sqlite:/tmp/never-opened.db") })
    assert.isTrue(Either.isRight(recorded) && Duration.toMillis(recorded.right.delegateTimeout!) === 31_000)
  })

  it("a process is gone when it ran on this host and no longer runs; other hosts are never taken for dead", () => {
    const dead = deadPid()
    assert.isFalse(LedgerSetup.isAlive(dead))
    assert.isTrue(LedgerSetup.isAlive(process.pid))
    const self = { host, pid: process.pid }
    assert.isTrue(LedgerSetup.isGone({ host, pid: dead, runId: "r" }, self))
    assert.isFalse(LedgerSetup.isGone({ host: `not-${host}`, pid: dead, runId: "r" }, self))
    assert.isFalse(LedgerSetup.isGone({ host, pid: process.pid, runId: "r" }, self))
    assert.isFalse(LedgerSetup.isGone({ host, pid: process.ppid, runId: "r" }, self))
    // A pid that runs a process started after the entry was written was reused: its writer is gone.
    const started = LedgerSetup.startedAt(process.pid)!
    assert.isTrue(Math.abs(started - (Date.now() - process.uptime() * 1000)) < 3000, `${started}`)
    assert.isTrue(LedgerSetup.isGone({ host, pid: process.ppid, runId: "r" }, self, LedgerSetup.isAlive, 0))
    assert.isFalse(LedgerSetup.isGone({ host, pid: process.ppid, runId: "r" }, self, LedgerSetup.isAlive, Date.now()))
  })

  // The real clock: entries are written now, after the living processes started.
  it.live("on start, the undecided requests of dead processes of this host settle lost, with the reason", () =>
    Effect.gen(function*() {
      const { dead, old, other, self } = yield* twoWriters
      const undecided = Requests.command(["npm", "test"], "c-1")
      const decided = Requests.command(["npm", "run", "build"], "c-2")
      yield* old.recordPending(undecided)
      yield* old.recordPending(decided)
      yield* old.answer(decided.id, { _tag: "Decision", decision: "approved" }, { _tag: "Person", channel: "t" })
      const alive = { ...Requests.command(["ls"], "c-3"), id: "alive/command/c-3" }
      yield* other(process.ppid).recordPending(alive)
      const remote = { ...Requests.command(["ls"], "c-4"), id: "remote/command/c-4" }
      yield* other(dead, `elsewhere-${host}`).recordPending(remote)

      const lost = yield* Effect.provideService(LedgerSetup.settleDead(), ApprovalLedger.ApprovalLedger, self)
      assert.deepStrictEqual(lost.map((entry) => entry.requestId), [undecided.id])
      assert.strictEqual(lost[0]!.outcome, "lost")
      assert.include(lost[0]!.data.reason, `pid ${dead}`)
      assert.deepStrictEqual(
        (yield* self.pending()).map((item) => item.request.id).sort(),
        [alive.id, remote.id].sort()
      )
      // Idempotent: nothing more to settle.
      assert.deepStrictEqual(
        yield* Effect.provideService(LedgerSetup.settleDead(), ApprovalLedger.ApprovalLedger, self),
        []
      )
      assert.strictEqual((yield* self.verify)._tag, "Intact")
    }))

  it.effect("a decision that never reached its child is re-sent once to the same question, nobody asked", () =>
    Effect.gen(function*() {
      const { old, self } = yield* twoWriters
      const first = Requests.command(["npm", "test"], "c-1")
      yield* old.recordPending(first, sameDirectory)
      yield* self.answer(first.id, { _tag: "Decision", decision: "approved" }, {
        _tag: "Person",
        channel: "deputy approve",
        name: "alice"
      })
      const found = yield* Effect.provideService(LedgerSetup.undelivered(0), ApprovalLedger.ApprovalLedger, self)
      assert.strictEqual(found.size, 1)

      let asked = 0
      const inner: Approvals.ApprovalsService = {
        ...never,
        command: () =>
          Effect.sync(() => ++asked).pipe(Effect.as(DecidedBy.decided("denied" as const, { _tag: "Script" })))
      }
      const resent: Array<string> = []
      const approvals = self.approvals(
        yield* Effect.provideService(
          LedgerSetup.resending(
            found,
            inner,
            (request) => Effect.sync(() => void resent.push(request.id)),
            sameDirectory.origin
          ),
          ApprovalLedger.ApprovalLedger,
          self
        )
      )
      const again = askedAgain(first)
      const answer = DecidedBy.split(yield* approvals.command(again), "test")
      assert.strictEqual(answer.value, "approved")
      assert.deepStrictEqual(answer.decidedBy, { _tag: "Person", channel: "deputy approve", name: "alice" })
      assert.strictEqual(asked, 0, "nobody was asked")
      assert.deepStrictEqual(resent, [again.id])

      // Once: the same question a third time is asked.
      const third = DecidedBy.split(yield* approvals.command(askedAgain(first, "third")), "test")
      assert.strictEqual(third.value, "denied")
      assert.strictEqual(asked, 1)

      const entries = yield* self.list({ requestId: first.id })
      assert.deepStrictEqual(entries.map((entry) => entry.type), ["pending", "decided", "settled"])
      assert.include(entries[2]!.data.reason, `re-sent to ${again.id}`)
      assert.deepStrictEqual(entries[2]!.data.op, {
        type: "exec_approval",
        id: "c-1",
        turn_id: "turn-9",
        decision: "approved"
      })
      assert.deepStrictEqual((yield* self.list({ requestId: again.id })).map((entry) => entry.type), [
        "pending",
        "decided",
        "settled"
      ])
      assert.strictEqual((yield* self.verify)._tag, "Intact")
    }))

  it.effect("a decision claimed by another restarted process is not re-sent twice", () =>
    Effect.gen(function*() {
      const { old, self, other } = yield* twoWriters
      const first = Requests.command(["npm", "test"], "c-1")
      yield* old.recordPending(first, sameDirectory)
      yield* self.answer(first.id, { _tag: "Decision", decision: "approved" }, { _tag: "Person", channel: "t" })
      const sibling = other(process.ppid)
      const foundHere = yield* Effect.provideService(LedgerSetup.undelivered(0), ApprovalLedger.ApprovalLedger, self)
      const foundThere = yield* Effect.provideService(
        LedgerSetup.undelivered(0),
        ApprovalLedger.ApprovalLedger,
        sibling
      )
      let asked = 0
      const inner: Approvals.ApprovalsService = {
        ...never,
        command: () =>
          Effect.sync(() => ++asked).pipe(Effect.as(DecidedBy.decided("denied" as const, { _tag: "Script" })))
      }
      const here = yield* Effect.provideService(
        LedgerSetup.resending(foundHere, inner, undefined, sameDirectory.origin),
        ApprovalLedger.ApprovalLedger,
        self
      )
      const there = yield* Effect.provideService(
        LedgerSetup.resending(foundThere, inner, undefined, sameDirectory.origin),
        ApprovalLedger.ApprovalLedger,
        sibling
      )
      const a = DecidedBy.split(yield* here.command(askedAgain(first, "a")), "t")
      const b = DecidedBy.split(yield* there.command(askedAgain(first, "b")), "t")
      assert.deepStrictEqual([a.value, b.value], ["approved", "denied"])
      assert.strictEqual(asked, 1)
    }))

  it.effect("a deadline's or a cancellation's answer is not re-sent: the new request has its own wait", () =>
    Effect.gen(function*() {
      const { old, self } = yield* twoWriters
      const timedOut = Requests.command(["a"], "c-1")
      const cancelled = Requests.command(["b"], "c-2")
      const person = Requests.command(["c"], "c-3")
      for (const request of [timedOut, cancelled, person]) yield* old.recordPending(request)
      yield* self.answer(timedOut.id, { _tag: "Decision", decision: "timed_out" }, { _tag: "Deadline", afterMs: 5 })
      yield* self.answer(cancelled.id, { _tag: "Decision", decision: "abort" }, { _tag: "Cancelled", reason: "x" })
      yield* self.answer(person.id, { _tag: "Decision", decision: "denied" }, { _tag: "Person", channel: "t" })
      const found = yield* Effect.provideService(LedgerSetup.undelivered(0), ApprovalLedger.ApprovalLedger, self)
      assert.deepStrictEqual([...found.values()].flat().map((item) => item.request.id), [person.id])
    }))

  it("the question's key ignores which delegate and turn asked, and sees any change to the request", () =>
    FastCheck.assert(
      FastCheck.property(
        FastCheck.array(FastCheck.string(), { minLength: 1, maxLength: 4 }),
        FastCheck.string(),
        FastCheck.string({ minLength: 1 }),
        (argv, delegateId, extra) => {
          const request = Requests.command(argv, "c-1")
          const key = LedgerSetup.questionKey(request)
          const moved = askedAgain(request, `d${delegateId}`)
          const changed = Requests.command([...argv, extra], "c-1")
          const otherCall = Requests.command(argv, "c-2")
          return LedgerSetup.questionKey(moved) === key &&
            LedgerSetup.questionKey(changed) !== key &&
            LedgerSetup.questionKey(otherCall) !== key
        }
      )
    ))

  it.scoped("--approval inbox: the request waits in the ledger and the delegate receives an answer given elsewhere", () =>
    Effect.gen(function*() {
      const { other, self } = yield* twoWriters
      const recording = yield* RecordingOutput.make()
      const terminal = yield* MockTerminal.make
      const layer = ApprovalSetup.layerRecorded({ mode: "inbox", defaulted: false, rules: [] }, {
        onInterrupt: Effect.void
      }).pipe(
        Layer.provide(Layer.mergeAll(
          Layer.succeed(ApprovalLedger.ApprovalLedger, self),
          Layer.succeed(Output, recording.output),
          Layer.succeed(Terminal.Terminal, terminal.terminal)
        ))
      )
      const approvals = yield* Effect.provide(Approvals.Approvals, layer)
      const request = Requests.command(["git", "push"], "c-1")
      const waiting = yield* Effect.fork(approvals.command(request))
      // Announced with the commands that answer it, and recorded pending before that.
      while (!recording.stderr().includes(`deputy approve ${request.id}`)) yield* Effect.yieldNow()
      assert.deepStrictEqual((yield* self.pending({ requestIds: [request.id] })).map((item) => item.request), [request])

      const elsewhere = other(process.ppid)
      yield* elsewhere.answer(request.id, { _tag: "Decision", decision: "approved" }, {
        _tag: "Person",
        channel: "deputy approve",
        name: "bob"
      })
      const answer = DecidedBy.split(yield* Fiber.join(waiting), "t")
      assert.strictEqual(answer.value, "approved")
      assert.deepStrictEqual(answer.decidedBy, { _tag: "Person", channel: "deputy approve", name: "bob" })
      // The loser is told who decided, and when.
      const late = yield* Effect.flip(
        elsewhere.answer(request.id, { _tag: "Decision", decision: "denied" }, { _tag: "Person", channel: "x" })
      )
      assert.strictEqual(late._tag, "AlreadyDecided")
      assert.include(late.message, "bob")
      const types = (yield* self.list({ requestId: request.id })).map((entry) => entry.type)
      assert.deepStrictEqual(types, ["pending", "decided", "settled", "rejected"])
    }).pipe(Effect.provide(Layer.empty)))
})
