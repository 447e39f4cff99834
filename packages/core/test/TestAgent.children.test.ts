/**
 * TestAgent drives many children: a handle per spawn (`child(n)`, `children`, `awaitChild`), while the
 * service's own controls keep acting on the latest spawn.
 */
import { Approvals, Delegate, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { message, msgTypes, readAll } from "./helpers.js"

describe("TestAgent with several children", () => {
  it.scoped("child(n) and awaitChild drive one child each; the service drives the latest", () =>
    Effect.gen(function*() {
      const agent = yield* TestAgent.TestAgent
      const waitingForThird = yield* Effect.fork(agent.child(2))
      const first = yield* Delegate.interactive({ source: "review", config: { name: "first" } })
      const second = yield* Delegate.interactive({ source: "compact", config: { name: "second" } })
      const one = yield* agent.child(0)
      const two = yield* agent.awaitChild((options) => options.config?.name === "second")
      assert.strictEqual(one.index, 0)
      assert.strictEqual(two.index, 1)
      assert.strictEqual(two.spawnOptions.source, "compact")
      yield* one.emit(message("to first"), "t")
      yield* two.emit(message("to second"), "t")
      yield* agent.emit(message("latest"), "t") // the service acts on the latest spawn: the second
      yield* one.end
      yield* two.end
      assert.deepStrictEqual(msgTypes(yield* readAll(first)), ["agent_message"])
      const events = yield* readAll(second)
      assert.deepStrictEqual(events.map((event) => (event.msg as { message?: string }).message), [
        "to second",
        "latest"
      ])
      assert.strictEqual((yield* agent.children).length, 2)
      assert.isNull(waitingForThird.unsafePoll())
      yield* Delegate.interactive({ source: "review" })
      assert.strictEqual((yield* Fiber.join(waitingForThird)).index, 2)
      yield* first.shutdown
      assert.isTrue(yield* one.released)
    }).pipe(Effect.provide(Layer.merge(TestAgent.layer(), Approvals.layerApproveAll))))

  it.scoped("onSubmission's controls act on the child that received the submission", () =>
    Effect.gen(function*() {
      const first = yield* Delegate.interactive({ source: "review" })
      const second = yield* Delegate.interactive({ source: "review" })
      yield* first.submit({ type: "user_input", items: [] })
      const agent = yield* TestAgent.TestAgent
      yield* (yield* agent.child(0)).end
      yield* (yield* agent.child(1)).end
      assert.deepStrictEqual(msgTypes(yield* readAll(first)), ["task_started"])
      assert.deepStrictEqual(msgTypes(yield* readAll(second)), [])
    }).pipe(Effect.provide(Layer.merge(
      TestAgent.layer({
        onSubmission: (submission, child) =>
          submission.op.type === "user_input" ? Effect.asVoid(child.startTurn(submission.id)) : Effect.void
      }),
      Approvals.layerApproveAll
    ))))
})
