/**
 * Property tests over random schedules: random child scripts (plain events, filtered events, the four
 * request kinds, crashes), random consumer speed, random parent answers and delays, random interruption
 * point. Scheduling is randomised with `yieldNow` counts, so every run is deterministic for its seed.
 * Runs: DEPUTY_PROPERTY_RUNS (default 200).
 */
import { ApprovalInbox, Delegate, TestAgent } from "@deputy/core"
import type { EventMsg, Submission } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Supervisor from "effect/Supervisor"
import * as TestClock from "effect/TestClock"
import { execRequest, patchRequest, permissionsRequest, readAll, userInputRequest } from "./helpers.js"

const runs = Number(process.env.DEPUTY_PROPERTY_RUNS ?? 200)
const drainTimeout = 500

type RequestKind = "command" | "patch" | "permissions" | "user_input"
type Step =
  | { readonly _tag: "Plain" }
  | { readonly _tag: "Filtered"; readonly type: "agent_message_delta" | "token_count" | "session_configured" }
  | { readonly _tag: "Request"; readonly kind: RequestKind; readonly answer: "approve" | "deny" | "abort" | "ignore" }
  | { readonly _tag: "Pause"; readonly yields: number }

interface Scenario {
  readonly steps: ReadonlyArray<Step>
  readonly crash: boolean
  readonly interruptAfter: number | undefined
  readonly consumerYields: number
  readonly parentYields: number
}

const step: FastCheck.Arbitrary<Step> = FastCheck.oneof(
  { weight: 5, arbitrary: FastCheck.constant({ _tag: "Plain" } as const) },
  {
    weight: 2,
    arbitrary: FastCheck.constantFrom(
      "agent_message_delta" as const,
      "token_count" as const,
      "session_configured" as const
    ).map((type) => ({
      _tag: "Filtered" as const,
      type
    }))
  },
  {
    weight: 2,
    arbitrary: FastCheck.record({
      kind: FastCheck.constantFrom<RequestKind>("command", "patch", "permissions", "user_input"),
      answer: FastCheck.constantFrom("approve" as const, "deny" as const, "abort" as const, "ignore" as const)
    }).map(({ answer, kind }) => ({ _tag: "Request" as const, kind, answer }))
  },
  { weight: 1, arbitrary: FastCheck.integer({ min: 1, max: 20 }).map((yields) => ({ _tag: "Pause" as const, yields })) }
)

const scenario: FastCheck.Arbitrary<Scenario> = FastCheck.record({
  steps: FastCheck.array(step, { maxLength: 40 }),
  crash: FastCheck.boolean(),
  interruptAfter: FastCheck.option(FastCheck.nat({ max: 40 }), { nil: undefined }),
  consumerYields: FastCheck.nat({ max: 4 }),
  parentYields: FastCheck.nat({ max: 8 })
})

const requestEvent = (kind: RequestKind, callId: string): EventMsg.EventMsg => {
  switch (kind) {
    case "command":
      return execRequest(callId)
    case "patch":
      return patchRequest(callId)
    case "permissions":
      return permissionsRequest(callId)
    case "user_input":
      return userInputRequest(callId)
  }
}

const filteredEvent = (type: "agent_message_delta" | "token_count" | "session_configured"): EventMsg.EventMsg =>
  type === "agent_message_delta"
    ? { type, delta: "d" }
    : type === "token_count"
    ? { type, info: null }
    : { type, session_id: "s", model: "m" }

const answerOpType: Record<RequestKind, string> = {
  command: "exec_approval",
  patch: "patch_approval",
  permissions: "request_permissions_response",
  user_input: "user_input_answer"
}

/** The call id an answer op refers to (user input answers carry the turn id, so their turn ids are unique). */
const answeredCallId = (submission: Submission.Submission): string | undefined => {
  const op = submission.op as { type: string; id?: string }
  if (op.type === "user_input_answer") return op.id?.replace(/^turn-/, "")
  return Object.values(answerOpType).includes(op.type) ? op.id : undefined
}

const yields = (n: number) => Effect.repeatN(Effect.yieldNow(), Math.max(0, n - 1))

/** A parent that answers whatever shows up in the inbox, after a few yields, as the scenario says. */
const parent = (
  inbox: Effect.Effect.Success<typeof ApprovalInbox.ApprovalInbox>,
  answers: Map<string, Step>,
  n: number
) =>
  inbox.changes.pipe(
    Stream.flatMap((pending) => Stream.fromIterable(pending)),
    Stream.runForEach((pending) =>
      Effect.gen(function*() {
        yield* yields(n)
        const plan = answers.get(pending.request.callId)
        if (plan === undefined || plan._tag !== "Request" || plan.answer === "ignore") return
        const request = pending.request
        const answer = request.kind === "command" || request.kind === "patch"
          ? ApprovalInbox.decision(plan.answer === "approve" ? "approved" : plan.answer === "deny" ? "denied" : "abort")
          : request.kind === "permissions"
          ? ApprovalInbox.permissions(
            plan.answer === "approve"
              ? Option.some({ permissions: request.event.permissions, scope: "turn" })
              : Option.none()
          )
          : ApprovalInbox.userInput(
            plan.answer === "approve" ? Option.some({ answers: { q1: { answers: ["yes"] } } }) : Option.none()
          )
        // The request may have settled meanwhile (interruption): a late answer is a typed error, ignored here.
        yield* Effect.ignore(inbox.respond(request.id, answer))
      })
    )
  )

const runScenario = (s: Scenario) =>
  Effect.gen(function*() {
    const inbox = yield* ApprovalInbox.ApprovalInbox
    const child = yield* TestAgent.TestAgent
    const supervisor = yield* Supervisor.track
    const scope = yield* Scope.make()
    const settled = new Map<string, Array<string>>()
    const handle = yield* Delegate.interactive({
      source: "review",
      drainTimeout,
      eventCapacity: 4,
      onSettled: (settlement) =>
        Effect.sync(() =>
          settled.set(settlement.request.callId, [
            ...(settled.get(settlement.request.callId) ?? []),
            settlement.decidedBy._tag
          ])
        )
    }).pipe(
      Scope.extend(scope),
      Effect.supervised(supervisor)
    )
    const answers = new Map<string, Step>()
    const parentFiber = yield* Effect.fork(parent(inbox, answers, s.parentYields))
    const consumer = yield* Effect.fork(
      handle.events.pipe(Stream.tap(() => yields(s.consumerYields)), Stream.runCollect)
    )

    const emittedPlain: Array<string> = []
    const emittedRequests: Array<{ callId: string; kind: RequestKind }> = []
    let interrupted = false
    for (let index = 0; index < s.steps.length; index++) {
      if (s.interruptAfter === index) {
        interrupted = true
        break
      }
      const current = s.steps[index]!
      const callId = `c${index}`
      switch (current._tag) {
        case "Plain":
          emittedPlain.push(`m${index}`)
          yield* child.emit({ type: "agent_message", message: `m${index}` }, "t")
          break
        case "Filtered":
          yield* child.emit(filteredEvent(current.type), "t")
          break
        case "Request":
          answers.set(callId, current)
          emittedRequests.push({ callId, kind: current.kind })
          yield* child.emit(requestEvent(current.kind, callId), `turn-${callId}`)
          break
        case "Pause":
          yield* yields(current.yields)
          break
      }
    }
    if (s.crash && !interrupted) yield* child.crash({ code: 2 })
    else interrupted = true
    const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
    // The TestAgent acknowledges at once; the clock only moves if something waits for the drain timeout.
    yield* TestClock.adjust(drainTimeout + 50)
    yield* Fiber.join(closing)
    const ended = yield* handle.ended
    const received = Array.from(yield* Fiber.join(consumer))
    yield* Fiber.interrupt(parentFiber)

    // forwarded events arrive once, in order; filtered and routed ones never arrive
    const plain = received.filter((event) => event.msg.type === "agent_message").map((event) =>
      (event.msg as { message: string }).message
    )
    assert.deepStrictEqual(plain, emittedPlain)
    const types = new Set(received.map((event) => event.msg.type))
    for (const hidden of ["agent_message_delta", "token_count", "session_configured", "exec_approval_request"]) {
      assert.isFalse(types.has(hidden), `${hidden} reached the consumer`)
    }
    // every request settles exactly once and is answered at most once; exactly once when it was decided
    // while the child ran. One the delegate read only during the drain (cancelled there) may find the child
    // gone already: the test child ends its events as it acknowledges shutdown, as a child that exits does.
    const answered = new Map<string, number>()
    for (const submission of yield* child.received) {
      const callId = answeredCallId(submission)
      if (callId !== undefined) answered.set(callId, (answered.get(callId) ?? 0) + 1)
    }
    for (const { callId } of emittedRequests) {
      const count = answered.get(callId) ?? 0
      const settlements = settled.get(callId) ?? []
      assert.strictEqual(settlements.length, 1, `request ${callId} settled ${settlements.length} times`)
      if (s.crash && !interrupted || settlements[0] === "Cancelled") {
        assert.isAtMost(count, 1, `request ${callId} answered ${count} times`)
      } else assert.strictEqual(count, 1, `request ${callId} answered ${count} times (${settlements[0]})`)
    }
    // the inbox is empty; the delegate ended with the right reason, in time; no fiber outlives the scope
    assert.deepStrictEqual(yield* inbox.pending, [])
    assert.strictEqual(ended.reason, s.crash && !interrupted ? "agent_exited" : "interrupted")
    const alive = (yield* supervisor.value).filter((fiber) => fiber.unsafePoll() === null)
    assert.strictEqual(alive.length, 0, `${alive.length} fibers outlived the delegate`)
    assert.strictEqual(yield* child.released, 1)
  }).pipe(Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer)))

describe("delegate properties over random schedules", () => {
  it.effect.prop(
    "interactive: order, filtering, exactly-once answers, empty inbox, nothing left running",
    [scenario],
    ([s]) => runScenario(s),
    { fastCheck: { numRuns: runs } }
  )

  it.effect.prop(
    "one-shot: nothing after the terminal event, and the end names it",
    [FastCheck.nat({ max: 10 }), FastCheck.nat({ max: 10 }), FastCheck.constantFrom("complete", "abort", "error")],
    ([before, after, how]) =>
      Effect.gen(function*() {
        const handle = yield* Delegate.oneShot({ source: "review", input: "go" })
        const child = yield* TestAgent.TestAgent
        const input = yield* child.awaitOp("user_input")
        if (how !== "error") yield* child.startTurn(input.id)
        for (let i = 0; i < before; i++) yield* child.emit({ type: "agent_message", message: `before ${i}` }, input.id)
        if (how === "complete") yield* child.completeTurn("done")
        else if (how === "abort") yield* child.emit({ type: "turn_aborted", turn_id: input.id, reason: "replaced" })
        else yield* child.emit({ type: "error", message: "boom" }, input.id)
        for (let i = 0; i < after; i++) yield* child.emit({ type: "agent_message", message: `after ${i}` }, input.id)
        const events = yield* readAll(handle)
        assert.isFalse(events.some((event) => (event.msg as { message?: string }).message?.startsWith("after")))
        const last = events[events.length - 1]!.msg.type
        const ended = yield* handle.ended
        assert.strictEqual(
          ended.reason,
          how === "complete" ? "completed" : how === "abort" ? "aborted" : "errored"
        )
        assert.strictEqual(last, how === "complete" ? "task_complete" : how === "abort" ? "turn_aborted" : "error")
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))),
    { fastCheck: { numRuns: runs } }
  )
})
