/**
 * TestAgent's reactions (review of the restart paths: its `Runtime.runFork` site): a reaction that fails
 * is not lost — the child crashes with it, so the test that drives it sees the failure instead of a child
 * that silently stops answering.
 */
import { Approvals, Delegate, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { readAll } from "./helpers.js"

describe("TestAgent reactions", () => {
  it.scoped(
    "an onSubmission that dies crashes the child with the defect (nothing is lost, nothing hangs)",
    () =>
      Effect.gen(function*() {
        const handle = yield* Delegate.interactive({ source: "review" })
        yield* handle.submit({ type: "user_input", items: [] })
        yield* readAll(handle)
        const ended = yield* handle.ended
        assert.strictEqual(ended.reason, "agent_exited")
        assert.include(ended.message, "boom in onSubmission")
      }).pipe(Effect.provide(Layer.merge(
        TestAgent.layer({
          onSubmission: (submission) =>
            submission.op.type === "user_input" ? Effect.die(new Error("boom in onSubmission")) : Effect.void
        }),
        Approvals.layerApproveAll
      ))),
    5_000
  )

  it.scoped(
    "an onSubmission that fails on one submission: the next reactions are not stuck behind it",
    () =>
      Effect.gen(function*() {
        const agent = yield* TestAgent.TestAgent
        const handle = yield* Delegate.interactive({ source: "review" })
        yield* handle.submit({ type: "user_input", items: [] })
        // The child crashed; the delegate ends on its own, and the child is released.
        const ended = yield* handle.ended
        assert.strictEqual(ended.reason, "agent_exited")
        assert.isTrue(yield* (yield* agent.child(0)).released)
      }).pipe(Effect.provide(Layer.merge(
        TestAgent.layer({
          onSubmission: (submission) =>
            submission.op.type === "user_input" ?
              Effect.sync(() => {
                throw new Error("thrown in onSubmission")
              }) :
              Effect.void
        }),
        Approvals.layerApproveAll
      ))),
    5_000
  )
})
