/**
 * SPEC §5: each edge case of the delegate as a named test.
 */
import { ApprovalInbox, Approvals, Delegate, Errors, TestAgent } from "@deputy/core"
import type { Event } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import {
  execRequest,
  message,
  msgTypes,
  opTypes,
  patchRequest,
  permissionsRequest,
  readAll,
  userInputRequest
} from "./helpers.js"

const source = "review" as const

/** Runs `body` with a delegate in its own scope, which the body may close itself. */
const withTestChild = (layer: Layer.Layer<TestAgent.TestAgent | import("@deputy/core").AgentSpawner.AgentSpawner>) =>
  Layer.merge(layer, Approvals.layerApproveAll)

describe("SPEC §5 edge cases", () => {
  it.effect("1. interrupted during spawn: the spawn is abandoned, what it acquired is released", () =>
    Effect.gen(function*() {
      const released = yield* Ref.make(false)
      const spawning = yield* Deferred.make<void>()
      const layer = TestAgent.layer({
        onSpawn: () =>
          Effect.zipRight(
            Effect.addFinalizer(() => Ref.set(released, true)),
            Effect.zipRight(Deferred.succeed(spawning, undefined), Effect.never)
          )
      })
      const fiber = yield* Delegate.interactive({ source }).pipe(
        Effect.scoped,
        Effect.provide(withTestChild(layer)),
        Effect.fork
      )
      yield* Deferred.await(spawning)
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
      assert.isTrue(yield* Ref.get(released))
    }))

  it.effect("1b. a spawn that fails gives a typed SpawnError and leaves nothing running", () =>
    Effect.gen(function*() {
      const layer = TestAgent.layer({
        onSpawn: () => Effect.fail(new Errors.SpawnError({ agent: "test", reason: "no such program" }))
      })
      const error = yield* Delegate.interactive({ source }).pipe(
        Effect.scoped,
        Effect.flip,
        Effect.provide(withTestChild(layer))
      )
      assert.instanceOf(error, Errors.SpawnError)
      assert.strictEqual(error.message, "could not start test: no such program")
    }))

  it.effect("2. interrupt while idle: interrupt and shutdown reach the child; the stream ends with a reason", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const handle = yield* Delegate.interactive({ source }).pipe(Scope.extend(scope))
      const child = yield* TestAgent.TestAgent
      yield* Scope.close(scope, Exit.void)
      const ended = yield* handle.ended
      assert.strictEqual(ended.reason, "interrupted")
      assert.isFalse(ended.drainTimedOut)
      assert.deepStrictEqual(opTypes(yield* child.received), ["interrupt", "shutdown"])
      assert.deepStrictEqual(msgTypes(yield* readAll(handle)), ["shutdown_complete"])
      assert.strictEqual(yield* child.released, 1)
    }).pipe(Effect.provide(withTestChild(TestAgent.layer()))))

  it.effect("3. interrupt mid-turn: the child's turn_aborted is delivered, then the end", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const handle = yield* Delegate.interactive({ source }).pipe(Scope.extend(scope))
      const child = yield* TestAgent.TestAgent
      const id = yield* handle.submit({ type: "user_input", items: [{ type: "text", text: "go" }] })
      yield* child.startTurn(id)
      yield* child.emit(message("working"))
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      const events = yield* readAll(handle)
      yield* Fiber.join(closing)
      assert.deepStrictEqual(msgTypes(events), ["task_started", "agent_message", "turn_aborted", "shutdown_complete"])
      assert.strictEqual(events[2]!.id, id)
      assert.strictEqual((yield* handle.ended).reason, "interrupted")
      assert.deepStrictEqual(yield* handle.status, "shutdown")
    }).pipe(Effect.provide(withTestChild(TestAgent.layer()))))

  it.effect("4. interrupt while the forwarder waits on a full consumer queue: prompt end, nothing reordered", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const handle = yield* Delegate.interactive({ source, eventCapacity: 1 }).pipe(Scope.extend(scope))
      const child = yield* TestAgent.TestAgent
      yield* child.emit({ type: "turn_aborted", turn_id: "turn-1", reason: "interrupted" }, "full")
      yield* child.emit({ type: "raw_response_item", item: { type: "custom_tool_call", call_id: "call-1" } }, "evt")
      // No clock adjustment: the shutdown must not need the drain timeout.
      yield* Scope.close(scope, Exit.void)
      const events = yield* readAll(handle)
      assert.strictEqual(events[0]!.id, "full")
      assert.deepStrictEqual(opTypes(yield* child.received), ["interrupt", "shutdown"])
      assert.strictEqual((yield* handle.ended).reason, "interrupted")
    }).pipe(Effect.provide(withTestChild(TestAgent.layer()))))

  it.effect("5. the consumer drops the stream: the child is shut down, not leaked", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      yield* child.emitAll([message("one"), message("two"), message("three")])
      const firstTwo = yield* handle.events.pipe(Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(msgTypes(firstTwo), ["agent_message", "agent_message"])
      const ended = yield* handle.ended
      assert.strictEqual(ended.reason, "interrupted")
      assert.deepStrictEqual(opTypes(yield* child.received), ["interrupt", "shutdown"])
      assert.strictEqual(yield* child.released, 1)
    }).pipe(Effect.scoped, Effect.provide(withTestChild(TestAgent.layer()))))

  it.effect("6. releasing an idle interactive handle shuts the child down", () =>
    Effect.gen(function*() {
      const layer = TestAgent.layer()
      const result = yield* Effect.gen(function*() {
        const child = yield* TestAgent.TestAgent
        const ended = yield* Effect.scoped(Effect.gen(function*() {
          const handle = yield* Delegate.interactive({ source })
          const id = yield* handle.submit({ type: "user_input", items: [{ type: "text", text: "hi" }] })
          yield* child.startTurn(id)
          yield* child.completeTurn("done")
          assert.deepStrictEqual(msgTypes(Option.toArray(yield* handle.nextEvent)), ["task_started"])
          return handle.ended
        }))
        return { ended: yield* ended, received: yield* child.received, released: yield* child.released }
      }).pipe(Effect.provide(withTestChild(layer)))
      assert.strictEqual(result.ended.reason, "interrupted")
      assert.deepStrictEqual(opTypes(result.received), ["user_input", "interrupt", "shutdown"])
      assert.strictEqual(result.released, 1)
    }))

  it.effect("7. the child crashes: the delegate ends agent_exited, sends nothing to the dead child", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      yield* child.emit(message("before"))
      yield* child.crash({ code: 3, reason: "segfault" })
      const events = yield* readAll(handle)
      const ended = yield* handle.ended
      assert.deepStrictEqual(msgTypes(events), ["agent_message"])
      assert.strictEqual(ended.reason, "agent_exited")
      assert.strictEqual(ended.code, 3)
      assert.match(ended.message ?? "", /segfault/)
      assert.deepStrictEqual(opTypes(yield* child.received), [])
      const submit = yield* Effect.exit(handle.submit({ type: "compact" }))
      assert.isTrue(Exit.isFailure(submit))
    }).pipe(Effect.scoped, Effect.provide(withTestChild(TestAgent.layer()))))

  it.effect("7b. the child's events end normally: agent_exited without a code", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      yield* child.end
      const ended = yield* handle.ended
      assert.strictEqual(ended.reason, "agent_exited")
      assert.isUndefined(ended.code)
    }).pipe(Effect.scoped, Effect.provide(withTestChild(TestAgent.layer()))))

  it.effect("8. interrupted while each kind of request is pending: exact default answers, inbox emptied", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const child = yield* TestAgent.TestAgent
      const settlements = yield* inbox.settlements.pipe(Stream.take(4), Stream.runCollect, Effect.fork)
      yield* Effect.yieldNow() // subscribed before anything settles
      const scope = yield* Scope.make()
      const handle = yield* Delegate.interactive({ source, id: "d1" }).pipe(Scope.extend(scope))
      yield* child.emit(execRequest("call-exec", { approval_id: "appr-1" }), "turn-A")
      yield* child.emit(patchRequest("call-patch"), "turn-A")
      yield* child.emit(permissionsRequest("call-perm"), "turn-A")
      yield* child.emit(userInputRequest("call-ask"), "turn-A")
      yield* inbox.awaitPending((pending) => pending.request.callId === "call-ask")
      assert.strictEqual((yield* inbox.pending).length, 4)
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* inbox.pending, [])
      const outcomes = Chunk.toReadonlyArray(yield* Fiber.join(settlements))
      assert.deepStrictEqual(outcomes.map((settlement) => [settlement.outcome, settlement.by]), [
        ["aborted", "interrupted"],
        ["aborted", "interrupted"],
        ["aborted", "interrupted"],
        ["aborted", "interrupted"]
      ])
      const ops = (yield* child.received).map((submission) => submission.op)
      assert.deepStrictEqual(ops.slice(0, 4), [
        { type: "exec_approval", id: "appr-1", turn_id: "turn-A", decision: "abort" },
        { type: "patch_approval", id: "call-patch", decision: "abort" },
        { type: "request_permissions_response", id: "call-perm", response: { permissions: {}, scope: "turn" } },
        { type: "user_input_answer", id: "turn-A", response: { answers: {} } }
      ])
      assert.deepStrictEqual(ops.slice(4).map((op) => op.type), ["interrupt", "shutdown"])
      assert.strictEqual((yield* handle.ended).reason, "interrupted")
    }).pipe(Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))))

  it.effect("9. two requests pending at once while other events keep flowing", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const child = yield* TestAgent.TestAgent
      const handle = yield* Delegate.interactive({ source, id: "d9" })
      yield* child.emit(execRequest("c1"), "t")
      yield* child.emit(execRequest("c2"), "t")
      yield* child.emit(message("still flowing"), "t")
      const next = yield* handle.nextEvent
      assert.deepStrictEqual(Option.map(next, (event) => event.msg), Option.some(message("still flowing")))
      const pending = yield* inbox.awaitPending((entry) => entry.request.callId === "c2")
      assert.strictEqual((yield* inbox.pending).length, 2)
      yield* inbox.respond(pending.request.id, ApprovalInbox.decision("denied"))
      yield* inbox.respond("d9/command/c1", ApprovalInbox.decision("approved"))
      const second = yield* child.awaitSubmission((submission) =>
        submission.op.type === "exec_approval" && submission.op.id === "c1"
      )
      assert.deepStrictEqual(second.op, { type: "exec_approval", id: "c1", turn_id: "t", decision: "approved" })
      const answers = (yield* child.received).filter((submission) => submission.op.type === "exec_approval")
      assert.deepStrictEqual(
        answers.map(({ op }) => [(op as { id: string }).id, (op as { decision: string }).decision]),
        [
          ["c2", "denied"],
          ["c1", "approved"]
        ]
      )
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))))

  it.effect("10. one-shot: nothing after the terminal event; submit fails at once", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.oneShot({ source, input: "do it" })
      const child = yield* TestAgent.TestAgent
      const input = yield* child.awaitOp("user_input")
      const rejected = yield* Effect.flip(handle.submit({ type: "compact" }))
      assert.strictEqual(rejected._tag, "DelegateClosed")
      yield* child.startTurn(input.id)
      yield* child.completeTurn("all done")
      yield* child.emit(message("after the end"), input.id)
      const events = yield* readAll(handle)
      assert.deepStrictEqual(msgTypes(events), ["task_started", "agent_message", "task_complete"])
      const ended = yield* handle.ended
      assert.strictEqual(ended.reason, "completed")
      assert.strictEqual(ended.lastAgentMessage, "all done")
      assert.deepStrictEqual(opTypes(yield* child.received), ["user_input", "interrupt", "shutdown"])
    }).pipe(Effect.scoped, Effect.provide(withTestChild(TestAgent.layer()))))

  it.effect("11. one-shot whose child only reports an error: it ends, it does not hang", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.oneShot({ source, input: "do it" })
      const child = yield* TestAgent.TestAgent
      yield* child.awaitOp("user_input")
      yield* child.emit({ type: "error", message: "model not found" }, "")
      const ended = yield* handle.ended
      assert.strictEqual(ended.reason, "errored")
      assert.strictEqual(ended.message, "model not found")
      assert.deepStrictEqual(msgTypes(yield* readAll(handle)), ["error"])
    }).pipe(Effect.scoped, Effect.provide(withTestChild(TestAgent.layer()))))

  it.effect("12. the child never acknowledges shutdown: the finalizer returns at the drain timeout", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const handle = yield* Delegate.interactive({ source, drainTimeout: "300 millis" }).pipe(Scope.extend(scope))
      const child = yield* TestAgent.TestAgent
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* child.awaitOp("shutdown")
      yield* TestClock.adjust("299 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(closing)))
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(closing)
      const ended = yield* handle.ended
      assert.strictEqual(ended.reason, "drain_timed_out")
      assert.isTrue(ended.drainTimedOut)
      assert.strictEqual(yield* child.released, 1)
    }).pipe(Effect.provide(withTestChild(TestAgent.layer({ hangOnShutdown: true })))))

  it.effect("13. unknown event types and unknown fields pass through unchanged", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      const odd = { type: "future_event", nested: { a: [1, null] } } as unknown as Event.Event["msg"]
      const extra = { type: "agent_message", message: "m", new_field: { x: 1 } } as unknown as Event.Event["msg"]
      yield* child.emit(odd, "s1")
      yield* child.emit(extra, "s1")
      const events = yield* handle.events.pipe(Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(Chunk.toReadonlyArray(events), [{ id: "s1", msg: odd }, { id: "s1", msg: extra }])
    }).pipe(Effect.scoped, Effect.provide(withTestChild(TestAgent.layer()))))

  it.effect("14. forwarded submissions keep id and trace; the delegate's own carry its span", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const handle = yield* Delegate.interactive({ source }).pipe(Scope.extend(scope))
      const child = yield* TestAgent.TestAgent
      const trace = {
        traceparent: "00-1234567890abcdef1234567890abcdef-1234567890abcdef-01",
        tracestate: "vendor=state"
      }
      yield* handle.submitWithId({ id: "sub-1", op: { type: "compact" }, trace })
      yield* Scope.close(scope, Exit.void)
      const [forwarded, interrupt, shutdown] = yield* child.received
      assert.deepStrictEqual(forwarded, { id: "sub-1", op: { type: "compact" }, trace })
      assert.strictEqual(interrupt!.op.type, "interrupt")
      assert.match(interrupt!.trace?.traceparent ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
      assert.strictEqual(shutdown!.trace?.traceparent, interrupt!.trace?.traceparent)
      assert.notStrictEqual(interrupt!.trace?.traceparent, trace.traceparent)
    }).pipe(Effect.provide(withTestChild(TestAgent.layer()))))

  it.effect("15. a permissions round trip is keyed by the tool call id", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const child = yield* TestAgent.TestAgent
      yield* Delegate.interactive({ source, id: "d15" })
      yield* child.emit({ ...permissionsRequest("tool-call-1"), turn_id: "child-turn-1", reason: "need access" }, "e1")
      const pending = yield* inbox.awaitPending()
      assert.strictEqual(pending.request.callId, "tool-call-1")
      assert.strictEqual(pending.request.id, "d15/permissions/tool-call-1")
      const response = { permissions: { network: { enabled: true } }, scope: "turn" as const }
      yield* inbox.respond(pending.request.id, ApprovalInbox.permissions(Option.some(response)))
      const answer = yield* child.awaitOp("request_permissions_response")
      assert.deepStrictEqual(answer.op, { type: "request_permissions_response", id: "tool-call-1", response })
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))))

  it.effect("16. an exec approval reply uses approval_id ?? call_id and the child's turn id", () =>
    Effect.gen(function*() {
      const child = yield* TestAgent.TestAgent
      yield* Delegate.interactive({ source })
      yield* child.emit(execRequest("call-1", { approval_id: "approval-9", turn_id: "inner" }), "child-turn")
      yield* child.emit(execRequest("call-2"), "child-turn")
      const first = yield* child.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === "approval-9")
      const second = yield* child.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === "call-2")
      assert.deepStrictEqual(first.op, {
        type: "exec_approval",
        id: "approval-9",
        turn_id: "child-turn",
        decision: "approved"
      })
      assert.deepStrictEqual(second.op, {
        type: "exec_approval",
        id: "call-2",
        turn_id: "child-turn",
        decision: "approved"
      })
    }).pipe(Effect.scoped, Effect.provide(withTestChild(TestAgent.layer()))))

  it.effect("18. backpressure: a consumer that does not read stops the child; memory stays bounded", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source, eventCapacity: 8 })
      const child = yield* TestAgent.TestAgent
      const emitted = yield* Ref.make(0)
      const producer = yield* Effect.fork(
        Effect.forEach(
          Array.from({ length: 1000 }, (_, i) => i),
          (i) => Effect.zipRight(child.emit(message(`m${i}`), "t"), Ref.update(emitted, (n) => n + 1)),
          { discard: true }
        )
      )
      // Let every fiber run until nothing can move.
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      const stalledAt = yield* Ref.get(emitted)
      // child buffer (4) + one chunk in the reader (≤ 4) + consumer queue (8) + one offer in flight
      assert.isAtMost(stalledAt, 4 + 4 + 8 + 1)
      assert.isAtLeast(stalledAt, 8)
      const events = yield* handle.events.pipe(Stream.take(1000), Stream.runCollect)
      yield* Fiber.join(producer)
      assert.deepStrictEqual(
        Chunk.toReadonlyArray(events).map((event) => (event.msg as { message: string }).message),
        Array.from({ length: 1000 }, (_, i) => `m${i}`)
      )
    }).pipe(Effect.scoped, Effect.provide(withTestChild(TestAgent.layer({ capacity: 4 })))))
})
