/**
 * Shutdown latency: from closing the delegate's scope to the delegate having ended (the close returns after
 * the shutdown finalizer), for an idle child that acknowledges `shutdown` and for one that never does.
 */
import { Approvals, Delegate, TestAgent } from "@deputy/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { check, gc, median, percentile, type SectionResult, series, type Size } from "./stats.js"

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

/**
 * The baseline for the slowest idle shutdown: the same number of bare lifecycles (fork a fiber in a scope,
 * yield, close the scope), so a spike that shows here too is the machine's (scheduler, GC), not the delegate's.
 */
const bareLifecycles = (count: number) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    for (let i = 0; i < count; i++) {
      const scope = yield* Scope.make()
      yield* Effect.forkIn(Effect.never, scope)
      yield* Effect.yieldNow()
      const started = performance.now()
      yield* Scope.close(scope, Exit.void)
      times.push(performance.now() - started)
    }
    return times
  })

export const run = async (size: Size): Promise<SectionResult> => {
  const idleCount = size.quick ? 50 : 200
  const drainTimeoutMs = size.quick ? 100 : 500
  const metrics = await series(size, async () => {
    gc()
    const idle = await Effect.runPromise(lifecycles(idleCount, false, drainTimeoutMs))
    const bare = await Effect.runPromise(bareLifecycles(idleCount))
    const unacked = await Effect.runPromise(lifecycles(1, true, drainTimeoutMs))
    return {
      idleMs: median(idle),
      idleMaxMs: Math.max(...idle),
      idleP99Ms: percentile(idle, 99),
      bareIdleMaxMs: Math.max(...bare),
      bareIdleP99Ms: percentile(bare, 99),
      unackedMs: unacked[0],
      unackedOverrunPct: ((unacked[0] - drainTimeoutMs) / drainTimeoutMs) * 100,
      drainTimeoutMs
    }
  })
  return {
    metrics,
    notes: [
      `idle: median of ${idleCount} lifecycles per run (p99 and max shown separately, next to as many bare fiber-in-a-scope lifecycles in the same run); unacked: one lifecycle per run, drain timeout ${drainTimeoutMs} ms`
    ]
  }
}
