/**
 * The behaviour every ledger layer must have: the same tests run against memory, SQLite and PostgreSQL.
 */
import { ApprovalInbox, Approvals, DecidedBy } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import { commandRequest, permissionsRequest, userInputRequest } from "./helpers.js"

const person: DecidedBy.DecidedBy = { _tag: "Person", channel: "inbox", name: "ana" }
const other: DecidedBy.DecidedBy = { _tag: "InboxClient", client: "web" }

const never: Approvals.ApprovalsService = {
  command: () => Effect.never,
  patch: () => Effect.never,
  permissions: () => Effect.never,
  userInput: () => Effect.never
}

/** Runs the contract against a layer built fresh for each test. */
export const contract = (
  name: string,
  makeLayer: () => Layer.Layer<ApprovalLedger.ApprovalLedger, ApprovalLedger.LedgerError>,
  options: { readonly liveClock?: boolean } = {}
) =>
  describe(`ApprovalLedger contract: ${name}`, () => {
    const run = <A, E>(effect: Effect.Effect<A, E, ApprovalLedger.ApprovalLedger>) =>
      Effect.provide(effect, makeLayer())
    // a client whose own timers must run (PostgreSQL's pool) gets the real clock; time then really passes
    const live = options.liveClock === true
    const clocked = live ? it.live : it.effect
    const adjust = (ms: number) => live ? Effect.sleep(ms) : TestClock.adjust(ms)
    const sleeping = live ? Effect.void : Effect.repeat(Effect.zipLeft(TestClock.sleeps(), Effect.yieldNow()), {
      until: (sleeps) => sleeps.length > 0,
      times: 10_000
    })

    clocked("records a request pending with its provenance and process, once", () =>
      run(Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        const request = commandRequest(1)
        const first = yield* ledger.recordPending(request, { traceId: "abc", deadlineAt: 123 })
        const again = yield* ledger.recordPending(request)
        assert.strictEqual(again.seq, first.seq)
        const pending = yield* ledger.pending()
        assert.strictEqual(pending.length, 1)
        assert.deepStrictEqual(pending[0].request.chain, request.chain)
        assert.strictEqual(pending[0].request.path, "root/review")
        assert.strictEqual(pending[0].deadlineAt, 123)
        assert.strictEqual(pending[0].entry.traceId, "abc")
        assert.strictEqual(pending[0].entry.process.pid, ledger.process.pid)
        assert.strictEqual(pending[0].entry.digest, ApprovalLedger.digest(request))
        assert.strictEqual(pending[0].entry.digest.length, 64)
        assert.deepStrictEqual((yield* ledger.verify)._tag, "Intact")
      })))

    clocked("the first answer wins; the loser learns who decided and when, and is recorded rejected", () =>
      run(Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        const request = commandRequest(2)
        yield* ledger.recordPending(request)
        const won = yield* ledger.answer(request.id, ApprovalInbox.decision("approved"), person)
        assert.deepStrictEqual(won.decidedBy, person)
        const lost = yield* Effect.flip(ledger.answer(request.id, ApprovalInbox.decision("denied"), other))
        assert.strictEqual(lost._tag, "AlreadyDecided")
        if (lost._tag !== "AlreadyDecided") {
          return
        }
        assert.deepStrictEqual(lost.decidedBy, person)
        assert.strictEqual(lost.at, won.at)
        assert.include(lost.message, "ana")
        const rejected = yield* ledger.list({ type: "rejected" })
        assert.strictEqual(rejected.length, 1)
        assert.deepStrictEqual(rejected[0].decidedBy, other)
        assert.strictEqual((yield* ledger.pending()).length, 0)
        const decision = yield* ledger.decision(request.id)
        assert.deepStrictEqual(decision?.answer, ApprovalInbox.decision("approved"))
        assert.deepStrictEqual((yield* ledger.verify)._tag, "Intact")
      })))

    clocked("answers from many fibers at once: exactly one wins", () =>
      run(Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        const request = commandRequest(3)
        yield* ledger.recordPending(request)
        const results = yield* Effect.forEach(
          Array.from({ length: 8 }, (_, i) =>
            i),
          (i) =>
            Effect.exit(
              ledger.answer(request.id, ApprovalInbox.decision("approved"), { _tag: "InboxClient", client: `c${i}` })
            ),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.filter(Exit.isSuccess).length, 1)
        assert.strictEqual((yield* ledger.list({ type: "decided" })).length, 1)
        assert.strictEqual((yield* ledger.list({ type: "rejected" })).length, 7)
      })))

    clocked("an answer after the deadline is rejected as late; unknown ids and wrong kinds are refused", () =>
      run(Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        const request = userInputRequest(1)
        const now = yield* Clock.currentTimeMillis
        yield* ledger.recordPending(request, { deadlineAt: now + 100 })
        yield* adjust(101)
        const late = yield* Effect.flip(ledger.answer(request.id, ApprovalInbox.userInput(Option.none()), person))
        assert.strictEqual(late._tag, "AnswerTooLate")
        const rejected = yield* ledger.list({ type: "rejected" })
        assert.strictEqual(rejected[0].data.reason, "late: after the deadline")
        const unknown = yield* Effect.flip(ledger.answer("nope", ApprovalInbox.decision("approved"), person))
        assert.strictEqual(unknown._tag, "UnknownRequest")
        const permissions = permissionsRequest(1)
        yield* ledger.recordPending(permissions)
        const mismatch = yield* Effect.flip(ledger.answer(permissions.id, ApprovalInbox.decision("approved"), person))
        assert.strictEqual(mismatch._tag, "AnswerMismatch")
      })))

    it.live("awaitAnswer returns an answer given after it started waiting", () =>
      run(Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        const request = commandRequest(4)
        yield* ledger.recordPending(request)
        const waiting = yield* Effect.fork(ledger.awaitAnswer(request.id))
        yield* ledger.answer(request.id, ApprovalInbox.decision("denied"), person)
        const got = yield* Fiber.join(waiting)
        assert.deepStrictEqual(got.answer, ApprovalInbox.decision("denied"))
        assert.deepStrictEqual(got.decidedBy, person)
      })))

    clocked("settleLost settles undecided requests lost with the reason; decided ones stay", () =>
      run(Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        yield* ledger.recordPending(commandRequest(5))
        yield* ledger.recordPending(permissionsRequest(5))
        yield* ledger.recordPending(commandRequest(6))
        yield* ledger.answer(commandRequest(6).id, ApprovalInbox.decision("approved"), person)
        const lost = yield* ledger.settleLost({ pid: ledger.process.pid }, "the child is gone")
        assert.deepStrictEqual(
          lost.map((entry) =>
            entry.requestId
          ).sort(),
          [
            commandRequest(5).id,
            permissionsRequest(5).id
          ].sort()
        )
        assert.isTrue(lost.every((entry) =>
          entry.outcome === "lost" && entry.data.reason === "the child is gone"
        ))
        assert.deepStrictEqual(lost[0].decidedBy, { _tag: "Cancelled", reason: "the child is gone" })
        assert.strictEqual((yield* ledger.pending()).length, 0)
        const again = yield* ledger.settleLost({}, "again")
        assert.strictEqual(again.length, 0)
        const late = yield* Effect.flip(ledger.answer(commandRequest(5).id, ApprovalInbox.decision("approved"), person))
        assert.strictEqual(late._tag, "AlreadyDecided")
        assert.strictEqual((yield* ledger.list({ outcome: "lost", type: "settled" })).length, 2)
        assert.deepStrictEqual((yield* ledger.verify)._tag, "Intact")
      })))

    clocked("the middleware records pending before the decider sees it, then decided and settled", () =>
      run(Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        const seenPending: Array<number> = []
        const inner: Approvals.ApprovalsService = {
          ...never,
          command: (request) =>
            Effect.map(Effect.orDie(ledger.pending({ requestIds: [request.id] })), (pending) => {
              seenPending.push(pending.length)
              return DecidedBy.decided("approved" as const, {
                _tag: "PolicyRule",
                index: 2,
                rule: { action: "approve" }
              })
            })
        }
        const approvals = ledger.approvals(inner)
        const request = commandRequest(7)
        const answer = yield* approvals.command(request)
        assert.deepStrictEqual(seenPending, [1])
        assert.isTrue(DecidedBy.isDecided(answer))
        const entries = yield* ledger.list({ requestId: request.id })
        assert.deepStrictEqual(
          entries.map((entry) =>
            entry.type
          ),
          ["pending", "decided", "settled"]
        )
        const settled = entries[2]
        assert.strictEqual(settled.outcome, "approved")
        assert.strictEqual(settled.decidedBy?._tag, "PolicyRule")
        assert.deepStrictEqual(settled.data.op, {
          type: "exec_approval",
          id: "c7",
          turn_id: "t1",
          decision: "approved"
        })
        assert.isNumber(settled.data.waitedMs)
        assert.isTrue(entries.every((entry) =>
          entry.digest === ApprovalLedger.digest(request)
        ))
        assert.strictEqual((yield* ledger.list({ decidedBy: "PolicyRule", type: "settled" })).length, 1)
        assert.strictEqual((yield* ledger.list({ kind: "patch" })).length, 0)
        assert.strictEqual((yield* ledger.list({ delegateId: "d1" })).length, 3)
      })))

    clocked("deadline: a warning at 80 %, then timed_out by the deadline (never a person); late answers rejected", () =>
      run(Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        const asked = yield* Deferred.make<void>()
        const inner: Approvals.ApprovalsService = {
          ...never,
          command: () =>
            Effect.zipRight(Deferred.succeed(asked, undefined), Effect.never)
        }
        const approvals = ledger.approvals(inner, { deadline: 1000 })
        const request = commandRequest(8)
        const fiber = yield* Effect.fork(approvals.command(request))
        yield* Deferred.await(asked)
        // the deadline fiber is asleep before the clock moves
        yield* sleeping
        yield* adjust(800)
        const warnings = yield* Effect.repeat(
          Effect.zipLeft(ledger.list({ requestId: request.id, type: "warning" }), Effect.yieldNow()),
          {
            until: (entries) =>
              entries.length === 1,
            times: 10_000
          }
        )
        assert.strictEqual(warnings.length, 1)
        yield* sleeping
        if (!live) {
          assert.strictEqual(Option.isNone(yield* Fiber.poll(fiber)), true)
        }
        yield* adjust(200)
        const answer = yield* Fiber.join(fiber)
        assert.deepStrictEqual(answer, DecidedBy.decided("timed_out", { _tag: "Deadline", afterMs: 1000 }))
        const settled = yield* ledger.list({ requestId: request.id, type: "settled" })
        assert.strictEqual(settled[0].outcome, "timed_out")
        assert.strictEqual(settled[0].decidedBy?._tag, "Deadline")
        const late = yield* Effect.flip(ledger.answer(request.id, ApprovalInbox.decision("approved"), person))
        assert.strictEqual(late._tag, "AlreadyDecided")
      })))

    it.live("remote mode: an answer from elsewhere reaches the waiting request; the settlement says who", () =>
      run(Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        const approvals = ledger.approvals(never, { remote: true })
        const request = permissionsRequest(9)
        const fiber = yield* Effect.fork(approvals.permissions(request))
        yield* Effect.repeat(ledger.pending({ requestIds: [request.id] }), {
          until: (pending) =>
            pending.length === 1,
          schedule: Schedule.spaced(2)
        })
        const grant = { permissions: { network: { enabled: true } }, scope: "session" as const }
        yield* ledger.answer(request.id, ApprovalInbox.permissions(Option.some(grant)), other)
        const answer = yield* Fiber.join(fiber)
        assert.deepStrictEqual(answer, DecidedBy.decided(Option.some(grant), other))
        const settled = yield* ledger.list({ requestId: request.id, type: "settled" })
        assert.strictEqual(settled[0].outcome, "approved_for_session")
        assert.deepStrictEqual(settled[0].decidedBy, other)
        assert.deepStrictEqual(settled[0].data.op, { type: "request_permissions_response", id: "p9", response: grant })
      })))

    clocked("recordSettled records a delegate's settlement once (the onSettled hook)", () =>
      run(Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        const request = commandRequest(10)
        const settlement = {
          request,
          outcome: "denied" as const,
          decidedBy: { _tag: "Fixed", setting: "deny-all" } as const,
          waitedMs: 3,
          answer: { type: "exec_approval" as const, id: "c10", turn_id: "t1", decision: "denied" as const }
        }
        const entry = yield* ledger.recordSettled(settlement)
        assert.strictEqual(entry.type, "settled")
        assert.deepStrictEqual(
          (yield* ledger.list({ requestId: request.id })).map((e) =>
            e.type
          ),
          [
            "pending",
            "decided",
            "settled"
          ]
        )
        const twice = yield* Effect.flip(ledger.recordSettled(settlement))
        assert.strictEqual(twice._tag, "AlreadySettled")
      })))

    clocked("layerApprovals wraps the Approvals below it", () =>
      Effect.gen(function*() {
        const approvals = yield* Approvals.Approvals
        const answer = yield* approvals.command(commandRequest(11))
        assert.deepStrictEqual(answer, DecidedBy.decided("approved", { _tag: "Fixed", setting: "approve-all" }))
        const ledger = yield* ApprovalLedger.ApprovalLedger
        assert.strictEqual((yield* ledger.list({ type: "settled" })).length, 1)
      }).pipe(
        Effect.provide(ApprovalLedger.layerApprovals()),
        Effect.provide(Approvals.layerApproveAll),
        Effect.provide(makeLayer())
      ))
  })
