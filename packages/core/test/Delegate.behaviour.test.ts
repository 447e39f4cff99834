/**
 * The three tests of Codex's `codex_delegate.rs`, ported, and the delegate's behaviour beyond Codex.
 */
import { AgentSpawner, ApprovalInbox, type ApprovalRequest, Approvals, Delegate, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { execRequest, message, msgTypes, opTypes, patchRequest, readAll, userInputRequest } from "./helpers.js"

const source = "review" as const
type Spawner = TestAgent.TestAgent | AgentSpawner.AgentSpawner

describe("ported from codex_delegate.rs", () => {
  it.effect("forward_events_cancelled_while_send_blocked_shuts_down_delegate", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const handle = yield* Delegate.interactive({ source, eventCapacity: 1 }).pipe(Scope.extend(scope))
      const child = yield* TestAgent.TestAgent
      yield* child.emit({ type: "turn_aborted", turn_id: "turn-1", reason: "interrupted" }, "full")
      yield* child.emit({ type: "raw_response_item", item: { type: "custom_tool_call", call_id: "call-1" } }, "evt")
      yield* Scope.close(scope, Exit.void) // under the TestClock: no time passes, so this is well within 1 s
      const received = yield* handle.nextEvent
      assert.deepStrictEqual(Option.map(received, (event) => event.id), Option.some("full"))
      const ops = opTypes(yield* child.received)
      assert.include(ops, "interrupt")
      assert.include(ops, "shutdown")
    }).pipe(Effect.provide(Layer.merge(TestAgent.layer(), Approvals.layerApproveAll))))

  it.effect("forward_ops_preserves_submission_trace_context", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source, opCapacity: 1 })
      const child = yield* TestAgent.TestAgent
      const submission = {
        id: "sub-1",
        op: { type: "interrupt" as const },
        trace: {
          traceparent: "00-1234567890abcdef1234567890abcdef-1234567890abcdef-01",
          tracestate: "vendor=state"
        }
      }
      yield* handle.submitWithId(submission)
      const forwarded = yield* child.awaitSubmission((s) => s.id === "sub-1")
      assert.strictEqual(forwarded.id, submission.id)
      assert.deepStrictEqual(forwarded.op, submission.op)
      assert.deepStrictEqual(forwarded.trace, submission.trace)
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), Approvals.layerApproveAll))))

  it.effect("handle_request_permissions_uses_tool_call_id_for_round_trip", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const child = yield* TestAgent.TestAgent
      yield* Delegate.interactive({ source })
      const callId = "tool-call-1"
      const expected = { permissions: { network: { enabled: true } }, scope: "turn" as const }
      yield* child.emit({
        type: "request_permissions",
        call_id: callId,
        turn_id: "child-turn-1",
        reason: "need access",
        permissions: { network: { enabled: true } }
      }, "child-turn-1")
      const pending = yield* inbox.awaitPending()
      assert.strictEqual(pending.request.callId, callId)
      yield* inbox.respond(pending.request.id, ApprovalInbox.permissions(Option.some(expected)))
      const submission = yield* child.awaitOp("request_permissions_response")
      assert.deepStrictEqual(submission.op, { type: "request_permissions_response", id: callId, response: expected })
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))))
})

describe("beyond Codex", () => {
  const withApprovals = <A>(approvals: Layer.Layer<A>, child: Layer.Layer<Spawner> = TestAgent.layer()) =>
    Layer.merge(child, approvals)

  it.effect("filtered events never reach the caller; token usage is rolled up instead", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      const usage = { input_tokens: 10, output_tokens: 5, total_tokens: 15 }
      yield* child.emitAll([
        { type: "session_configured", session_id: "s", model: "m" },
        { type: "agent_message_delta", delta: "x" },
        { type: "agent_reasoning_delta", delta: "x" },
        { type: "agent_reasoning_raw_content_delta", delta: "x" },
        { type: "thread_name_updated", name: "n" } as never,
        { type: "mcp_startup_update", server: "s" } as never,
        { type: "mcp_startup_complete" } as never,
        { type: "token_count", info: { total_token_usage: usage, last_token_usage: usage } },
        message("kept")
      ], "t")
      const events = yield* handle.events.pipe(Stream.take(1), Stream.runCollect)
      assert.deepStrictEqual(msgTypes(events), ["agent_message"])
      assert.deepStrictEqual(yield* handle.usage, usage)
    }).pipe(Effect.scoped, Effect.provide(withApprovals(Approvals.layerApproveAll))))

  it.effect("TestAgent.emit takes a message (id from the turn) or a whole Event (id as given)", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      yield* child.startTurn("turn-7")
      yield* child.emit(message("from the turn"))
      yield* child.emit({ id: "explicit", msg: message("as given") })
      const events = yield* handle.events.pipe(Stream.take(3), Stream.runCollect)
      assert.deepStrictEqual(Chunk.toReadonlyArray(events).map((event) => event.id), ["turn-7", "turn-7", "explicit"])
    }).pipe(Effect.scoped, Effect.provide(withApprovals(Approvals.layerApproveAll))))

  it.effect("Delegate.readUntil reads up to a matching event and leaves the delegate running", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      yield* child.emitAll([
        message("a"),
        { type: "task_complete", turn_id: "t", last_agent_message: "a" },
        message("b")
      ], "t")
      const turn = yield* Delegate.readUntil(handle, (event) => event.msg.type === "task_complete")
      assert.deepStrictEqual(msgTypes(turn), ["agent_message", "task_complete"])
      assert.deepStrictEqual(Option.map(yield* handle.nextEvent, (event) => event.msg), Option.some(message("b")))
      assert.deepStrictEqual(opTypes(yield* child.received), []) // not shut down
      yield* child.end
      const error = yield* Effect.flip(Delegate.readUntil(handle, () => false))
      assert.strictEqual(error._tag, "DelegateStopped")
      assert.strictEqual(
        error.message,
        "the delegate ended (agent_exited) before the awaited event: the sub-agent's events ended"
      )
    }).pipe(Effect.scoped, Effect.provide(withApprovals(Approvals.layerApproveAll))))

  it.effect("status follows every event, filtered ones included", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      assert.deepStrictEqual(yield* handle.status, "pending_init")
      yield* child.startTurn("t1")
      yield* handle.nextEvent
      assert.deepStrictEqual(yield* handle.status, "running")
      yield* child.emit({ type: "error", message: "rate limited" })
      yield* handle.nextEvent
      assert.deepStrictEqual(yield* handle.status, { errored: "rate limited" })
      yield* child.completeTurn("fine")
      yield* handle.events.pipe(Stream.take(2), Stream.runDrain)
      assert.deepStrictEqual(yield* handle.status, { completed: "fine" })
    }).pipe(Effect.scoped, Effect.provide(withApprovals(Approvals.layerApproveAll))))

  it.effect("an approval deadline settles the request timed_out and answers the child timed_out", () =>
    Effect.gen(function*() {
      const settled = yield* Ref.make<ReadonlyArray<string>>([])
      const child = yield* TestAgent.TestAgent
      yield* Delegate.interactive({
        source,
        approvalTimeouts: { command: "10 seconds" },
        onSettled: (settlement) => Ref.update(settled, (all) => [...all, settlement.outcome])
      })
      yield* child.emit(execRequest("c1"), "t")
      const inbox = yield* ApprovalInbox.ApprovalInbox
      yield* inbox.awaitPending()
      yield* TestClock.adjust("10 seconds")
      const answer = yield* child.awaitOp("exec_approval")
      assert.deepStrictEqual(answer.op, { type: "exec_approval", id: "c1", turn_id: "t", decision: "timed_out" })
      assert.deepStrictEqual(yield* Ref.get(settled), ["timed_out"])
      assert.deepStrictEqual(yield* inbox.pending, [])
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))))

  it.effect("an approval service that dies: the child gets abort, the delegate keeps going", () =>
    Effect.gen(function*() {
      const outcomes = yield* Ref.make<ReadonlyArray<string>>([])
      const child = yield* TestAgent.TestAgent
      const handle = yield* Delegate.interactive({
        source,
        onSettled: (settlement) =>
          Ref.update(outcomes, (all) => [...all, `${settlement.outcome}: ${settlement.reason}`])
      })
      yield* child.emit(patchRequest("p1"), "t")
      const answer = yield* child.awaitOp("patch_approval")
      assert.deepStrictEqual(answer.op, { type: "patch_approval", id: "p1", decision: "abort" })
      const [outcome] = yield* Ref.get(outcomes)
      assert.match(outcome!, /^aborted: the approval service failed: .*database is down/)
      yield* child.emit(message("alive"), "t")
      assert.deepStrictEqual(Option.map(yield* handle.nextEvent, (event) => event.msg), Option.some(message("alive")))
    }).pipe(
      Effect.scoped,
      Effect.provide(withApprovals(Approvals.layerTest({ patch: () => Effect.die(new Error("database is down")) })))
    ))

  it.effect("requests are namespaced by delegate: two delegates with the same call id do not collide", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const children: Array<TestAgent.TestAgentService> = []
      for (const id of ["left", "right"]) {
        const built = yield* TestAgent.make()
        children.push(built.service)
        yield* Delegate.interactive({ source, id }).pipe(
          Effect.provideService(AgentSpawner.AgentSpawner, built.spawner)
        )
      }
      yield* children[0]!.emit(userInputRequest("same-call"), "parent-turn")
      yield* children[1]!.emit(userInputRequest("same-call"), "parent-turn")
      yield* inbox.awaitPending((pending) => pending.request.delegateId === "right")
      const ids = (yield* inbox.pending).map((pending) => pending.request.id).sort()
      assert.deepStrictEqual(ids, ["left/user_input/same-call", "right/user_input/same-call"])
      const answer = { answers: { q1: { answers: ["right one"] } } }
      yield* inbox.respond("right/user_input/same-call", ApprovalInbox.userInput(Option.some(answer)))
      const received = yield* children[1]!.awaitOp("user_input_answer")
      assert.deepStrictEqual(received.op, { type: "user_input_answer", id: "parent-turn", response: answer })
      assert.strictEqual((yield* inbox.pending).length, 1)
    }).pipe(Effect.scoped, Effect.provide(ApprovalInbox.layer)))

  it.effect("a test approvals layer records what it was asked", () =>
    Effect.gen(function*() {
      const child = yield* TestAgent.TestAgent
      const recorder = yield* Approvals.TestApprovals
      yield* Delegate.interactive({ source, id: "d" })
      yield* child.emit(execRequest("c1"), "t")
      const answer = yield* child.awaitOp("exec_approval")
      assert.deepStrictEqual(answer.op, { type: "exec_approval", id: "c1", turn_id: "t", decision: "denied" })
      const asked: ReadonlyArray<ApprovalRequest.ApprovalRequest> = yield* recorder.asked
      assert.deepStrictEqual(asked.map((request) => [request.kind, request.id, request.turnId]), [[
        "command",
        "d/command/c1",
        "t"
      ]])
    }).pipe(Effect.scoped, Effect.provide(withApprovals(Approvals.layerTest({ command: "denied" })))))

  it.effect("one-shot: a deadline ends the turn timed_out", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.oneShot({ source, input: "slow", deadline: "1 minute" })
      const child = yield* TestAgent.TestAgent
      const input = yield* child.awaitOp("user_input")
      yield* child.startTurn(input.id)
      yield* TestClock.adjust("1 minute")
      const ended = yield* handle.ended
      assert.strictEqual(ended.reason, "timed_out")
      assert.deepStrictEqual(msgTypes(yield* readAll(handle)), ["task_started"])
      assert.deepStrictEqual(opTypes(yield* child.received), ["user_input", "interrupt", "shutdown"])
    }).pipe(Effect.scoped, Effect.provide(withApprovals(Approvals.layerApproveAll))))

  it.effect("one-shot: terminal detection matches the submitted turn, not another one", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.oneShot({ source, input: "mine" })
      const child = yield* TestAgent.TestAgent
      const input = yield* child.awaitOp("user_input")
      yield* child.emit({ type: "task_complete", turn_id: "someone-else", last_agent_message: null }, "other")
      yield* child.startTurn(input.id)
      yield* child.completeTurn("mine done")
      const events = yield* readAll(handle)
      assert.deepStrictEqual(msgTypes(events), ["task_complete", "task_started", "agent_message", "task_complete"])
      assert.strictEqual((yield* handle.ended).lastAgentMessage, "mine done")
    }).pipe(Effect.scoped, Effect.provide(withApprovals(Approvals.layerApproveAll))))

  it.effect("one-shot: a turn that fails (task_complete with an error) ends errored", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.oneShot({ source, input: "go" })
      const child = yield* TestAgent.TestAgent
      const input = yield* child.awaitOp("user_input")
      yield* child.startTurn(input.id)
      yield* child.emit({ type: "error", message: "exceeded retry limit" })
      yield* child.emit({
        type: "task_complete",
        turn_id: input.id,
        last_agent_message: null,
        error: { message: "exceeded retry limit" }
      })
      const ended = yield* handle.ended
      assert.deepStrictEqual([ended.reason, ended.message], ["errored", "exceeded retry limit"])
      assert.deepStrictEqual(msgTypes(yield* readAll(handle)), ["task_started", "error", "task_complete"])
    }).pipe(Effect.scoped, Effect.provide(withApprovals(Approvals.layerApproveAll))))

  it.effect("one-shot: the child aborts its own turn (parent answered abort) → aborted", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.oneShot({ source, input: "rm -rf" })
      const child = yield* TestAgent.TestAgent
      const input = yield* child.awaitOp("user_input")
      yield* child.startTurn(input.id)
      yield* child.emit(execRequest("c1"))
      yield* child.awaitOp("exec_approval")
      yield* child.emit({ type: "turn_aborted", turn_id: input.id, reason: "interrupted" })
      assert.strictEqual((yield* handle.ended).reason, "aborted")
    }).pipe(Effect.scoped, Effect.provide(withApprovals(Approvals.layerTest({ command: "abort" })))))

  it.effect("a late answer to a settled request is rejected with a typed error", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const child = yield* TestAgent.TestAgent
      yield* Delegate.interactive({ source, id: "d" })
      yield* child.emit(execRequest("c1"), "t")
      const pending = yield* inbox.awaitPending()
      yield* inbox.respond(pending.request.id, ApprovalInbox.decision("approved"))
      yield* child.awaitOp("exec_approval")
      const late = yield* Effect.flip(inbox.respond(pending.request.id, ApprovalInbox.decision("denied")))
      assert.strictEqual(late._tag, "ApprovalNotPending")
      assert.match(late.message, /already settled \(approved\)/)
      const answers = (yield* child.received).filter((s) => s.op.type === "exec_approval")
      assert.strictEqual(answers.length, 1)
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))))

  it.effect("a submission to a dead child fails the caller's submit with a typed error", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      yield* child.crash({ code: 9 })
      yield* handle.ended
      const error = yield* Effect.flip(handle.submit({ type: "compact" }))
      assert.strictEqual(error._tag, "DelegateClosed")
      assert.match(error.message, /agent_exited/)
    }).pipe(Effect.scoped, Effect.provide(withApprovals(Approvals.layerApproveAll))))

  it.effect("requests arriving while shutting down are answered with their default at once", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* Delegate.interactive({ source, drainTimeout: "1 second" }).pipe(Scope.extend(scope))
      const child = yield* TestAgent.TestAgent
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* child.awaitOp("shutdown")
      yield* child.emit(execRequest("late"), "t")
      const answer = yield* child.awaitOp("exec_approval")
      assert.deepStrictEqual(answer.op, { type: "exec_approval", id: "late", turn_id: "t", decision: "abort" })
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closing)
    }).pipe(Effect.provide(withApprovals(Approvals.layerApproveAll, TestAgent.layer({ hangOnShutdown: true })))))

  it.effect("a caller that submits shutdown itself ends the delegate interrupted", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      yield* handle.submit({ type: "shutdown" })
      const events = yield* Stream.runCollect(handle.events)
      assert.deepStrictEqual(msgTypes(Chunk.toReadonlyArray(events)), ["shutdown_complete"])
      assert.strictEqual((yield* handle.ended).reason, "interrupted")
    }).pipe(Effect.scoped, Effect.provide(withApprovals(Approvals.layerApproveAll))))
})
