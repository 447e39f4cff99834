/**
 * Which request a decision that never reached its child is re-sent to (`LedgerSetup.sameRequest`, the
 * re-send section). Only a genuine re-ask gets the old answer: the same child (a durable Codex's thread),
 * or the same working directory within a short window after the decision (and before the old request's
 * own deadline). Anything else is asked: a person asked twice, never an old answer reused. The dead
 * `deputy` is a ledger writer with the pid of a process that ran and exited, over the same store.
 */
import { type ApprovalRequest, Approvals, DecidedBy } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import * as Terminal from "@effect/platform/Terminal"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as ledgerInternal from "../../ledger/src/internal/ledger.js"
import * as memoryStore from "../../ledger/src/internal/memoryStore.js"
import * as ApprovalSetup from "../src/ApprovalSetup.js"
import * as LedgerSetup from "../src/LedgerSetup.js"
import { Output } from "../src/Output.js"
import * as Cli from "./utils/cli.js"
import * as MockTerminal from "./utils/MockTerminal.js"
import * as RecordingOutput from "./utils/RecordingOutput.js"
import * as Requests from "./utils/requests.js"

/** This file's temporary directories, removed when its tests have run (`Cli.stopAll`). */
afterAll(Cli.stopAll)

const deadPid = (): number =>
  Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString())

const host = os.hostname()

/** Two working directories that exist (the workspace is compared as a real path). */
const workspaces = () => {
  const root = Cli.tempDir()
  const a = path.join(root, "a")
  const b = path.join(root, "b")
  fs.mkdirSync(a)
  fs.mkdirSync(b)
  return { a, b }
}

/** A `deputy` that died (its rows: a pid that no longer runs) and this process, over one store. */
const twoWriters = Effect.gen(function*() {
  const store = yield* memoryStore.makeStore
  const old = ledgerInternal.makeService(store, { host, pid: deadPid(), runId: "old-run" })
  const self = ledgerInternal.makeService(store, { host, pid: process.pid, runId: "this-run" })
  return { old, self }
})

/** What a process agent reuses from run to run: the call id, and so the whole request but its delegate. */
const asked = (delegateId: string): ApprovalRequest.CommandApproval => {
  const request = Requests.command(["rm", "-rf", "build"], "call_1")
  return { ...request, id: `${delegateId}/command/call_1`, delegateId }
}

const alice: DecidedBy.DecidedBy = { _tag: "Person", channel: "deputy approve", name: "alice" }

/** The dead deputy's request, recorded as its run records it (with its working directory), approved. */
const decidedBefore = (
  old: ApprovalLedger.ApprovalLedgerService,
  self: ApprovalLedger.ApprovalLedgerService,
  workspace: string | undefined,
  meta: ApprovalLedger.PendingMeta = {}
) =>
  Effect.gen(function*() {
    const first = asked("run-1")
    yield* old.recordPending(first, { ...meta, ...(workspace === undefined ? {} : { origin: { workspace } }) })
    yield* self.answer(first.id, { _tag: "Decision", decision: "approved" }, alice)
    return first
  })

/** A new run (`deputy run --approval deny --cwd cwd`) over the shared ledger: how it answers a request. */
const secondRun = (
  self: ApprovalLedger.ApprovalLedgerService,
  cwd: string,
  options: { readonly resendWithin?: Duration.Duration; readonly json?: boolean } = {}
) =>
  Effect.gen(function*() {
    const recording = yield* RecordingOutput.make()
    const terminal = yield* MockTerminal.make
    const approvals = yield* Effect.provide(
      Approvals.Approvals,
      ApprovalSetup.layerRecorded({ mode: "deny", defaulted: false, rules: [], json: options.json }, {
        cwd,
        onInterrupt: Effect.void,
        resendWithin: options.resendWithin
      }).pipe(Layer.provide(Layer.mergeAll(
        Layer.succeed(ApprovalLedger.ApprovalLedger, self),
        Layer.succeed(Output, recording.output),
        Layer.succeed(Terminal.Terminal, terminal.terminal)
      )))
    )
    return { approvals, stderr: recording.stderr, stdout: recording.stdout }
  })

const deniedByMode: DecidedBy.DecidedBy = { _tag: "Fixed", setting: "--approval deny" }

describe("LedgerSetup: a decision is re-sent only to the very request it was given for", () => {
  it.scoped("two runs of a process agent in different directories, the identical request and call id: asked", () =>
    Effect.gen(function*() {
      const { a, b } = workspaces()
      const { old, self } = yield* twoWriters
      const first = yield* decidedBefore(old, self, a)
      const run = yield* secondRun(self, b)
      const again = asked("run-2")
      const answer = DecidedBy.split(yield* run.approvals.command(again), "t")
      assert.strictEqual(answer.value, "denied", "the old approval of another directory's run is not reused")
      assert.deepStrictEqual(answer.decidedBy, deniedByMode)
      assert.notInclude(run.stderr(), "sent again")
      // The person is told why an identical question decided before is asked again.
      assert.include(
        run.stderr(),
        `ledger: ${again.id} is asked: the decision of the same question (${first.id}, by alice at ` +
          `1970-01-01T00:00:00.000Z) that its dead deputy never passed on is not reused: it was asked in ` +
          fs.realpathSync(a)
      )
      // The old decision is not consumed: it still waits for its own child.
      assert.deepStrictEqual((yield* self.list({ requestId: first.id })).map((entry) => entry.type), [
        "pending",
        "decided"
      ])
    }))

  it.scoped("a row that does not say where it was asked (an older ledger, a forged row): asked", () =>
    Effect.gen(function*() {
      const { a } = workspaces()
      const { old, self } = yield* twoWriters
      yield* decidedBefore(old, self, undefined)
      const run = yield* secondRun(self, a)
      assert.strictEqual(DecidedBy.split(yield* run.approvals.command(asked("run-2")), "t").value, "denied")
    }))

  it.scoped("the same directory, asked again more than the window (15 minutes) after the decision: asked", () =>
    Effect.gen(function*() {
      const { a } = workspaces()
      const { old, self } = yield* twoWriters
      yield* decidedBefore(old, self, a)
      yield* TestClock.adjust(Duration.minutes(16))
      const run = yield* secondRun(self, a)
      assert.strictEqual(DecidedBy.split(yield* run.approvals.command(asked("run-2")), "t").value, "denied")
      // The window is the run's to set.
      const wider = yield* secondRun(self, a, { resendWithin: Duration.minutes(30) })
      assert.strictEqual(DecidedBy.split(yield* wider.approvals.command(asked("run-3")), "t").value, "approved")
    }))

  it.scoped("the old request's own deadline bounds the window: asked after it", () =>
    Effect.gen(function*() {
      const { a } = workspaces()
      const { old, self } = yield* twoWriters
      yield* decidedBefore(old, self, a, { deadlineAt: 5 * 60_000 })
      yield* TestClock.adjust(Duration.minutes(6))
      const run = yield* secondRun(self, a)
      assert.strictEqual(DecidedBy.split(yield* run.approvals.command(asked("run-2")), "t").value, "denied")
    }))

  it.scoped("the same directory within the window: re-sent, and the person is told where it came from", () =>
    Effect.gen(function*() {
      const { a } = workspaces()
      const { old, self } = yield* twoWriters
      const first = yield* decidedBefore(old, self, a)
      yield* TestClock.adjust(Duration.minutes(3))
      const run = yield* secondRun(self, a, { json: true })
      const again = asked("run-2")
      const answer = DecidedBy.split(yield* run.approvals.command(again), "t")
      assert.strictEqual(answer.value, "approved")
      assert.deepStrictEqual(answer.decidedBy, alice)
      assert.include(
        run.stderr(),
        `ledger: ${again.id} was asked before (${first.id}) and decided by alice at 1970-01-01T00:00:00.000Z; ` +
          `that answer is sent again, nobody is asked: the same request, asked again in the same working ` +
          `directory (${fs.realpathSync(a)}) 3m 0s after the decision`
      )
      // With --json, a `resent` record says the same.
      assert.deepStrictEqual(JSON.parse(run.stdout()), {
        deputy: "resent",
        id: again.id,
        from: first.id,
        decided_by: alice,
        decided_at: "1970-01-01T00:00:00.000Z",
        why: `the same request, asked again in the same working directory (${
          fs.realpathSync(a)
        }) 3m 0s after the decision`
      })
      // The log says it too: the old request settled, naming the request it went to and why.
      const settled = (yield* self.list({ requestId: first.id, type: "settled" }))[0]!
      assert.include(settled.data.reason, `re-sent to ${again.id}`)
      assert.include(settled.data.reason, "in the same working directory")
      // Once.
      assert.strictEqual(DecidedBy.split(yield* run.approvals.command(asked("run-3")), "t").value, "denied")
    }))

  it.scoped("two dead runs' decisions of the same question: the one of this directory is re-sent, nothing else said", () =>
    Effect.gen(function*() {
      const { a, b } = workspaces()
      const { old, self } = yield* twoWriters
      const elsewhere = yield* decidedBefore(old, self, b)
      const here = { ...asked("run-0"), id: "run-0/command/call_1" }
      yield* old.recordPending(here, { origin: { workspace: fs.realpathSync(a) } })
      yield* self.answer(here.id, { _tag: "Decision", decision: "approved" }, alice)
      const run = yield* secondRun(self, a)
      const again = asked("run-2")
      assert.strictEqual(DecidedBy.split(yield* run.approvals.command(again), "t").value, "approved")
      assert.include(run.stderr(), `was asked before (${here.id})`)
      assert.notInclude(
        run.stderr(),
        "not reused",
        "the other directory's decision is not mentioned for a re-sent request"
      )
      assert.deepStrictEqual((yield* self.list({ requestId: elsewhere.id })).map((entry) => entry.type), [
        "pending",
        "decided"
      ])
    }))

  it.scoped("every request a run records says where it was asked (its working directory)", () =>
    Effect.gen(function*() {
      const { a } = workspaces()
      const { self } = yield* twoWriters
      const run = yield* secondRun(self, a)
      const request = asked("run-2")
      yield* run.approvals.command(request)
      const pending = (yield* self.list({ requestId: request.id, type: "pending" }))[0]!
      assert.deepStrictEqual(pending.data.origin, { workspace: fs.realpathSync(a) })
    }))

  it.effect("the same child is the same durable Codex (socket, pid) and thread: one claiming the thread id is asked", () =>
    Effect.gen(function*() {
      const { old, self } = yield* twoWriters
      const point = { socketPath: "/x/codex.sock", pid: 2, watchdogPid: 3, threadId: "thread-1" }
      yield* decidedBefore(old, self, undefined, { reattach: point })
      yield* TestClock.adjust(Duration.days(2))
      const found = yield* Effect.provideService(LedgerSetup.undelivered(0), ApprovalLedger.ApprovalLedger, self)
      let askedInner = 0
      const inner: Approvals.ApprovalsService = {
        command: () => Effect.sync(() => ++askedInner).pipe(Effect.as(DecidedBy.decided("denied" as const, alice))),
        patch: () => Effect.never,
        permissions: () => Effect.never,
        userInput: () => Effect.never
      }
      // Another thread of it; a fresh durable Codex (its own socket and pid) reporting the old thread id.
      const others: Record<string, ApprovalLedger.ReattachPoint> = {
        other: { ...point, threadId: "thread-2" },
        claimer: { socketPath: "/y/codex.sock", pid: 4, watchdogPid: 5, threadId: "thread-1" }
      }
      const threadOf = (request: ApprovalRequest.ApprovalRequest) =>
        request.delegateId === "same" ? point : others[request.delegateId]
      const why: Array<string> = []
      const approvals = yield* Effect.provideService(
        LedgerSetup.resending(
          found,
          inner,
          (_request, _from, reason) => Effect.sync(() => void why.push(reason ?? "")),
          {
            childOf: threadOf
          }
        ),
        ApprovalLedger.ApprovalLedger,
        self
      )
      assert.strictEqual(DecidedBy.split(yield* approvals.command(asked("other")), "t").value, "denied")
      assert.strictEqual(DecidedBy.split(yield* approvals.command(asked("claimer")), "t").value, "denied")
      assert.strictEqual(askedInner, 2)
      assert.strictEqual(DecidedBy.split(yield* approvals.command(asked("same")), "t").value, "approved")
      assert.strictEqual(askedInner, 2)
      assert.deepStrictEqual(why, ["the same request, replayed by the same child (codex pid 2, thread thread-1)"])
    }))

  it("the rule: re-sent only for the same child, or the same directory inside the window and the old deadline", () =>
    FastCheck.assert(
      FastCheck.property(
        FastCheck.constantFrom(undefined, "/w/a", "/w/b"),
        FastCheck.constantFrom(undefined, "/w/a", "/w/b"),
        FastCheck.constantFrom(undefined, "t-1", "t-2"),
        FastCheck.constantFrom(undefined, "t-1", "t-2"),
        FastCheck.integer({ min: 0, max: 40 * 60_000 }),
        FastCheck.option(FastCheck.integer({ min: 0, max: 40 * 60_000 }), { nil: undefined }),
        (recorded, here, oldThread, newThread, after, deadlineAt) => {
          const request = asked("run-1")
          const entry = {
            at: 0,
            data: {
              request,
              ...(deadlineAt === undefined ? {} : { deadlineAt }),
              ...(recorded === undefined ? {} : { origin: { workspace: recorded } }),
              ...(oldThread === undefined ? {} : {
                reattach: { socketPath: "/s/codex.sock", pid: 2, watchdogPid: 3, threadId: oldThread }
              })
            }
          } as unknown as ApprovalLedger.LedgerEntry
          const from: LedgerSetup.Undelivered = {
            request,
            asked: entry,
            decided: { ...entry, at: 0 },
            decidedBy: alice,
            answer: { _tag: "Decision", decision: "approved" }
          }
          const verdict = LedgerSetup.sameRequest(from, asked("run-2"), {
            workspace: here,
            child: newThread === undefined
              ? undefined
              : { socketPath: "/s/codex.sock", pid: 2, watchdogPid: 3, threadId: newThread },
            now: after,
            withinMs: 15 * 60_000
          })
          const expected = oldThread !== undefined || newThread !== undefined
            ? oldThread === newThread
            : recorded !== undefined && recorded === here && after <= 15 * 60_000 &&
              (deadlineAt === undefined || after <= deadlineAt)
          return (verdict._tag === "Same") === expected
        }
      )
    ))

  it("a row naming its child in a malformed way (forged, corrupt) is never re-sent, whatever else matches", () => {
    const request = asked("run-1")
    const entry = {
      at: 0,
      data: { request, origin: { workspace: "/w/a" }, reattach: { socketPath: 7, threadId: "t-1" } }
    } as unknown as ApprovalLedger.LedgerEntry
    const from: LedgerSetup.Undelivered = { request, asked: entry, decided: entry, decidedBy: alice, answer: null }
    for (const child of [undefined, "t-1"]) {
      const verdict = LedgerSetup.sameRequest(from, asked("run-2"), {
        workspace: "/w/a",
        child: child === undefined
          ? undefined
          : { socketPath: "/s/codex.sock", pid: 2, watchdogPid: 3, threadId: child },
        now: 0,
        withinMs: 1
      })
      assert.deepStrictEqual(verdict, { _tag: "Other", why: "its ledger entry names its child in a malformed way" })
    }
  })
})
