/**
 * A one-shot delegate hands its caller the handle as soon as the child runs, before the child has accepted
 * its input: a caller interrupted in that window (a busy machine, a child slow to read its stdin) still holds
 * the handle, so it can finish the delegate and show what the drain brings. Stopping then never lets
 * `interrupt`/`shutdown` overtake the input. Handshakes only: the child's acceptance is held by a gate.
 */
import { AgentSpawner, Approvals, Delegate, TestAgent } from "@deputy/core"
import { assert, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { opTypes } from "./helpers.js"

it.live("oneShot returns while the child has not accepted its input; a stop then sends nothing before it", () =>
  Effect.gen(function*() {
    const gate = yield* Deferred.make<void>()
    const { service: child, spawner } = yield* TestAgent.make()
    const slowToAccept = AgentSpawner.AgentSpawner.of({
      spawn: (options) =>
        Effect.map(spawner.spawn(options), (agent) => ({
          ...agent,
          submitWithId: (submission) =>
            submission.op.type === "user_input"
              ? Effect.zipRight(Deferred.await(gate), agent.submitWithId(submission))
              : agent.submitWithId(submission)
        }))
    })
    yield* Effect.gen(function*() {
      // Before the fix this waited for the gate: the timeout below failed the test.
      const handle = yield* Delegate.oneShot({ source: "review", input: "hi", drainTimeout: 0 }).pipe(
        Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => "oneShot waited for the child to accept" })
      )
      const ended = yield* handle.shutdown
      assert.strictEqual(ended.reason, "interrupted")
      // The input never got through the gate, so the child saw only the stop, in order.
      assert.deepStrictEqual(opTypes(yield* child.received), ["interrupt", "shutdown"])
    }).pipe(
      Effect.scoped,
      Effect.provideService(AgentSpawner.AgentSpawner, slowToAccept),
      Effect.provide(Approvals.layerDenyAll)
    )
  }))
