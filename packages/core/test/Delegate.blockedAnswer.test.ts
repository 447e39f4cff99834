/**
 * A hostile child that asks, then stops reading its stdin: the answer's write blocks until the child is
 * killed, and the kill comes only after the delegate stopped its reader. The shutdown must not wait on that
 * write (it hung forever: the delivery was uninterruptible), and the request, decided, is settled and
 * reported (`onSettled`) exactly once whatever happened to the delivery. Handshakes only.
 */
import { AgentSpawner, type ApprovalRequest, Approvals, Delegate, TestAgent } from "@deputy/core"
import { assert, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { execRequest } from "./helpers.js"

it.live("an answer the child never reads does not hold the shutdown, and still settles once", () =>
  Effect.gen(function*() {
    const answering = yield* Deferred.make<void>()
    const gone = yield* Deferred.make<void>()
    const { service: child, spawner } = yield* TestAgent.make({
      hangOnShutdown: true,
      onSpawn: () => Effect.addFinalizer(() => Deferred.succeed(gone, undefined))
    })
    const deaf = AgentSpawner.AgentSpawner.of({
      spawn: (options) =>
        Effect.map(spawner.spawn(options), (agent) => ({
          ...agent,
          // the write of an answer blocks, as on a full stdin pipe, until the child is gone
          submitWithId: (submission) =>
            submission.op.type === "exec_approval"
              ? Deferred.succeed(answering, undefined).pipe(
                Effect.zipRight(Deferred.await(gone)),
                Effect.zipRight(agent.submitWithId(submission))
              )
              : agent.submitWithId(submission)
        }))
    })
    const settled: Array<ApprovalRequest.ApprovalSettlement> = []
    const ended = yield* Effect.gen(function*() {
      const handle = yield* Delegate.interactive({
        source: "review",
        drainTimeout: 0,
        onSettled: (settlement) => Effect.sync(() => settled.push(settlement))
      })
      yield* child.emit(execRequest("c1"), "t")
      yield* Deferred.await(answering)
      // the shutdown cannot be interrupted: `disconnect` lets the test give up on it instead of hanging
      return yield* handle.shutdown.pipe(
        Effect.disconnect,
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => "the shutdown waits on the blocked write" })
      )
    }).pipe(
      Effect.scoped,
      Effect.provideService(AgentSpawner.AgentSpawner, deaf),
      Effect.provide(Approvals.layerDenyAll)
    )
    assert.strictEqual(ended.reason, "drain_timed_out")
    assert.deepStrictEqual(settled.map((s) => [s.request.callId, s.outcome]), [["c1", "denied"]])
  }))
