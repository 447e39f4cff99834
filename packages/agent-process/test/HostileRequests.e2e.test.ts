/**
 * A child that floods approval requests without waiting for their answers, against a parent that answers
 * slowly (a person, a policy with a ledger): the requests a parent holds unanswered must be bounded, the
 * child held back (its stdout not read) beyond that, as with events.
 */
import { ProcessAgent } from "@deputy/agent-process"
import { Approvals, Delegate } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { fileURLToPath } from "node:url"

const fixture = fileURLToPath(new URL("./fixtures/request-flood-agent.mjs", import.meta.url))

describe("Delegate over a child flooding approval requests", () => {
  // Found by the review of issue #14: of 5,000 requests, 4,356 to 4,972 were held at once while the parent
  // answered one per 2 ms, and `deputy` grew by ≈ 100 MB in 16 s under 200,000. `maxPendingRequests`
  // (default 256) bounds them now.
  it.live("the requests held unanswered stay bounded; the child waits", () =>
    Effect.gen(function*() {
      let inFlight = 0
      let maxInFlight = 0
      const slow = Approvals.layerTest({
        command: () =>
          Effect.acquireUseRelease(
            Effect.sync(() => {
              inFlight += 1
              maxInFlight = Math.max(maxInFlight, inFlight)
            }),
            () => Effect.as(Effect.sleep("2 millis"), "denied" as const),
            () => Effect.sync(() => void (inFlight -= 1))
          )
      })
      const ended = yield* Effect.gen(function*() {
        const handle = yield* Delegate.oneShot({ source: "review", input: "go", drainTimeout: "1 second" })
        yield* Stream.runDrain(handle.events)
        return yield* handle.ended
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(
          ProcessAgent.layerNode({
            command: process.execPath,
            args: [fixture],
            env: { FLOOD_REQUESTS: "5000" },
            killGracePeriod: "500 millis"
          }),
          slow
        )),
        Effect.timeout("60 seconds")
      )
      assert.strictEqual(ended.reason, "completed")
      assert.isAtMost(maxInFlight, 256, `${maxInFlight} requests held at once (maxPendingRequests defaults to 256)`)
    }), 90_000)
})
