/**
 * The "Test with Deputy" example of the README, verbatim: if this fails, the README is wrong.
 */
import { Approvals, Delegate, TestAgent } from "@deputy/core"
import { assert, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"

it.effect("README: test with Deputy", () =>
  Effect.gen(function*() {
    const handle = yield* Delegate.oneShot({ source: "review", input: "clean up" })
    const child = yield* TestAgent.TestAgent // drive the child from the test
    const input = yield* child.awaitOp("user_input")
    yield* child.startTurn(input.id)
    yield* child.emit({ type: "exec_approval_request", call_id: "c1", command: ["rm", "-rf", "build"], cwd: "/w" })
    const answer = yield* child.awaitOp("exec_approval") // what the parent decided reached the child
    yield* child.completeTurn("cleaned")

    const events = yield* Stream.runCollect(handle.events)
    assert.deepStrictEqual(answer.op, { type: "exec_approval", id: "c1", turn_id: input.id, decision: "denied" })
    assert.strictEqual((yield* handle.ended).reason, "completed")
    assert.strictEqual((yield* (yield* Approvals.TestApprovals).asked).length, 1)
    assert.isAbove(events.length, 0)
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(TestAgent.layer(), Approvals.layerTest({ command: "denied" })))
  ))
