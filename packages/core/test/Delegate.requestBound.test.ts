/**
 * A child that floods approval requests without waiting for their answers: the requests a delegate asks at
 * once are bounded (`maxPendingRequests`), the rest wait their turn in order, and every one is answered.
 */
import { Approvals, Delegate, TestAgent } from "@deputy/core"
import type { EventMsg } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"

const request = (i: number): EventMsg.EventMsg => ({
  type: "exec_approval_request",
  call_id: `c${i}`,
  turn_id: "t",
  command: ["echo", `r${i}`],
  cwd: "/tmp"
} as EventMsg.EventMsg)

describe("Delegate: the requests asked at once are bounded", () => {
  it.scoped("50 requests in one batch, 4 at a time: never more than 4 asked, all answered in order", () =>
    Effect.gen(function*() {
      const permits = yield* Queue.unbounded<void>()
      let inFlight = 0
      let maxInFlight = 0
      const asked: Array<string> = []
      const approvals = Approvals.layerTest({
        command: (req) =>
          Effect.acquireUseRelease(
            Effect.sync(() => {
              inFlight += 1
              maxInFlight = Math.max(maxInFlight, inFlight)
              asked.push(req.callId)
            }),
            () => Effect.as(Queue.take(permits), "denied" as const),
            () => Effect.sync(() => void (inFlight -= 1))
          )
      })
      yield* Effect.gen(function*() {
        const test = yield* TestAgent.TestAgent
        yield* Delegate.interactive({ source: "review", maxPendingRequests: 4 })
        yield* test.emitAll(Array.from({ length: 50 }, (_, i) => request(i)), "t")
        for (let i = 0; i < 50; i++) {
          yield* Queue.offer(permits, undefined)
          yield* test.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === `c${i}`)
        }
        const answers = (yield* test.received).filter((s) => s.op.type === "exec_approval")
        assert.deepStrictEqual(answers.map((s) => (s.op as { id: string }).id), asked)
      }).pipe(Effect.scoped, Effect.provide(TestAgent.layer({ capacity: 64 })), Effect.provide(approvals))
      assert.deepStrictEqual(asked, Array.from({ length: 50 }, (_, i) => `c${i}`), "asked in the child's order")
      assert.isAtMost(maxInFlight, 4, `${maxInFlight} requests were asked at once`)
      assert.strictEqual(maxInFlight, 4, "the bound is used")
    }))

  it.scoped("requests still waiting their turn at shutdown get their default answer, once each", () =>
    Effect.gen(function*() {
      const settled: Array<string> = []
      yield* Effect.gen(function*() {
        const test = yield* TestAgent.TestAgent
        const handle = yield* Delegate.interactive({
          source: "review",
          maxPendingRequests: 2,
          onSettled: (settlement) => Effect.sync(() => void settled.push(settlement.request.callId))
        })
        yield* test.emitAll(Array.from({ length: 10 }, (_, i) => request(i)), "t")
        const inbox = yield* Effect.fork(test.awaitSubmission(() => false))
        // the first two are asked (and never answered: the parent waits forever)
        yield* handle.shutdown
        yield* Fiber.interrupt(inbox)
        const answers = (yield* test.received).filter((s) => s.op.type === "exec_approval")
        assert.strictEqual(answers.length, 10, "each request got one answer")
        assert.isTrue(answers.every((s) => (s.op as { decision: string }).decision === "abort"))
      }).pipe(
        Effect.scoped,
        Effect.provide(TestAgent.layer()),
        Effect.provide(Approvals.layerTest({ command: () => Effect.never }))
      )
      assert.deepStrictEqual([...settled].sort(), Array.from({ length: 10 }, (_, i) => `c${i}`).sort())
    }))
})
