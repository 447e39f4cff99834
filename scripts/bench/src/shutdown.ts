/**
 * Shutdown latency: from closing the delegate's scope to the delegate having ended (the close returns after
 * the shutdown finalizer), for an idle child that acknowledges `shutdown` and for one that never does.
 */
import { Approvals, Delegate, TestAgent } from "@deputy/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { check, gc, median, type SectionResult, series, type Size } from "./stats.js"

/** One lifecycle: start a delegate, let it settle, close its scope; returns the close time in ms. */
const lifecycle = (expected: Delegate.EndReason, drainTimeoutMs: number) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const handle = yield* Delegate.interactive({ source: "review", drainTimeout: drainTimeoutMs }).pipe(
      Scope.extend(scope)
    )
    yield* Effect.yieldNow()
    const started = performance.now()
    yield* Scope.close(scope, Exit.void)
    const elapsed = performance.now() - started
    const ended = yield* handle.ended
    check(ended.reason === expected, `delegate ended ${ended.reason}, expected ${expected}`)
    return elapsed
  })

const lifecycles = (count: number, hang: boolean, drainTimeoutMs: number) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    for (let i = 0; i < count; i++) {
      times.push(yield* lifecycle(hang ? "drain_timed_out" : "interrupted", drainTimeoutMs))
    }
    return times
  }).pipe(Effect.provide(Layer.merge(TestAgent.layer({ hangOnShutdown: hang }), Approvals.layerApproveAll)))

export const run = async (size: Size): Promise<SectionResult> => {
  const idleCount = size.quick ? 50 : 200
  const drainTimeoutMs = size.quick ? 100 : 500
  const metrics = await series(size, async () => {
    gc()
    const idle = await Effect.runPromise(lifecycles(idleCount, false, drainTimeoutMs))
    const unacked = await Effect.runPromise(lifecycles(1, true, drainTimeoutMs))
    return {
      idleMs: median(idle),
      idleMaxMs: Math.max(...idle),
      unackedMs: unacked[0],
      unackedOverrunPct: ((unacked[0] - drainTimeoutMs) / drainTimeoutMs) * 100,
      drainTimeoutMs
    }
  })
  return {
    metrics,
    notes: [
      `idle: median of ${idleCount} lifecycles per run (max shown separately); unacked: one lifecycle per run, drain timeout ${drainTimeoutMs} ms`
    ]
  }
}
