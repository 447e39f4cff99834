/**
 * A request the child withdraws (`ApprovalRequest.withdrawnType`, e.g. Codex's `serverRequest/resolved`
 * for a request nobody answered): it settles `aborted` with the child's reason, the wait on the parent is
 * interrupted (its prompt taken down), and the child gets no answer. Handshakes only, no sleeps.
 */
import { AgentSpawner, ApprovalRequest, Approvals, Delegate, TestAgent } from "@deputy/core"
import type { EventMsg } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execRequest, opTypes } from "./helpers.js"

const source = "review" as const

const withdrawal = (callId: string, reason = "its turn ended"): EventMsg.EventMsg =>
  ({ type: ApprovalRequest.withdrawnType, kind: "command", call_id: callId, reason }) as unknown as EventMsg.EventMsg

describe("a request the child withdraws", () => {
  it.effect("settles aborted with the child's reason, the parent's wait is interrupted, no answer is sent", () =>
    Effect.gen(function*() {
      const asked = yield* Deferred.make<void>()
      const takenDown = yield* Deferred.make<void>()
      const settled: Array<ApprovalRequest.ApprovalSettlement> = []
      const { service: child, spawner } = yield* TestAgent.make()
      const approvals = Layer.succeed(
        Approvals.Approvals,
        Approvals.Approvals.of({
          command: () =>
            Effect.zipRight(Deferred.succeed(asked, undefined), Effect.never).pipe(
              Effect.onInterrupt(() => Deferred.succeed(takenDown, undefined))
            ),
          patch: () => Effect.succeed("approved"),
          permissions: () => Effect.succeedNone,
          userInput: () => Effect.succeedNone
        })
      )
      yield* Effect.gen(function*() {
        const handle = yield* Delegate.interactive({
          source,
          drainTimeout: 0,
          onSettled: (settlement) => Effect.sync(() => settled.push(settlement))
        }).pipe(Effect.provide(approvals))
        yield* child.emit(execRequest("c1"), "t")
        yield* Deferred.await(asked)
        yield* child.emit(withdrawal("c1"), "t")
        yield* Deferred.await(takenDown)
        // A second withdrawal, and one for a request never asked: nothing more settles.
        yield* child.emit(withdrawal("c1"), "t")
        yield* child.emit(withdrawal("nope"), "t")
        yield* child.emit({ type: "task_complete", last_agent_message: null } as EventMsg.EventMsg, "t")
        yield* Delegate.readUntil(handle, (event) => event.msg.type === "task_complete")
        assert.lengthOf(settled, 1)
        assert.strictEqual(settled[0]!.outcome, "aborted")
        assert.strictEqual(settled[0]!.reason, "its turn ended")
        assert.deepStrictEqual(settled[0]!.decidedBy, { _tag: "Cancelled", reason: "its turn ended" })
        assert.notInclude(opTypes(yield* child.received), "exec_approval")
      }).pipe(Effect.scoped, Effect.provideService(AgentSpawner.AgentSpawner, spawner))
    }))

  it.effect("after the parent answered, a withdrawal changes nothing (the answer stands)", () =>
    Effect.gen(function*() {
      const settled: Array<ApprovalRequest.ApprovalSettlement> = []
      const { service: child, spawner } = yield* TestAgent.make()
      yield* Effect.gen(function*() {
        const handle = yield* Delegate.interactive({
          source,
          drainTimeout: 0,
          onSettled: (settlement) => Effect.sync(() => settled.push(settlement))
        }).pipe(Effect.provide(Approvals.layerApproveAll))
        yield* child.emit(execRequest("c1"), "t")
        yield* child.emit({ type: "warning", message: "marker" } as EventMsg.EventMsg, "t")
        yield* Delegate.readUntil(handle, (event) => event.msg.type === "warning")
        // Answered before the withdrawal is read: the answer went out.
        while (!opTypes(yield* child.received).includes("exec_approval")) yield* Effect.yieldNow()
        yield* child.emit(withdrawal("c1"), "t")
        yield* child.emit({ type: "task_complete", last_agent_message: null } as EventMsg.EventMsg, "t")
        yield* Delegate.readUntil(handle, (event) => event.msg.type === "task_complete")
        assert.deepStrictEqual(settled.map((settlement) => settlement.outcome), ["approved"])
      }).pipe(Effect.scoped, Effect.provideService(AgentSpawner.AgentSpawner, spawner))
    }))
})
