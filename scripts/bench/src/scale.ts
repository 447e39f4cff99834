/**
 * Scale: many concurrent idle delegates in one process — heap per delegate, time to start them all and to
 * close them all (in parallel); next to the same number of bare forked fibers and of bare `TestAgent`
 * children (no delegate), so the delegate's own share is visible.
 */
import { AgentSpawner, Approvals, Delegate, TestAgent } from "@deputy/core"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { check, heapAfterGc, type SectionResult, series, type Size } from "./stats.js"

const layer = Layer.merge(TestAgent.layer({}), Approvals.layerApproveAll)

/** Lets every forked fiber reach its first wait before the heap is measured (not part of any timing). */
const settle = Effect.sleep("50 millis")

/**
 * Starts `count` delegates, each in its own (sequential) scope under one parallel parent scope, measures the
 * heap, closes the parent (all delegates shut down concurrently), and checks each ended `interrupted`.
 */
const delegates = (count: number) =>
  Effect.gen(function*() {
    const before = heapAfterGc()
    const started = performance.now()
    const parent = yield* Scope.make(ExecutionStrategy.parallel)
    let handles: Array<Delegate.DelegateHandle> = []
    for (let i = 0; i < count; i++) {
      const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
      handles.push(yield* Scope.extend(Delegate.interactive({ source: "review" }), scope))
    }
    const startMs = performance.now() - started
    yield* settle
    const during = heapAfterGc()
    const closing = performance.now()
    yield* Scope.close(parent, Exit.void)
    const closeMs = performance.now() - closing
    let interrupted = 0
    for (const handle of handles) if ((yield* handle.ended).reason === "interrupted") interrupted++
    check(interrupted === count, `${count - interrupted} of ${count} delegates did not end interrupted`)
    handles = []
    yield* settle
    const after = heapAfterGc()
    return {
      bytesPerDelegate: (during - before) / count,
      startMs,
      closeMs,
      retainedBytesPerDelegate: (after - before) / count
    }
  }).pipe(Effect.provide(layer))

/** The same children without a delegate: what the `TestAgent` itself holds. */
const bareAgents = (count: number) =>
  Effect.gen(function*() {
    const spawner = yield* AgentSpawner.AgentSpawner
    const before = heapAfterGc()
    const parent = yield* Scope.make(ExecutionStrategy.parallel)
    for (let i = 0; i < count; i++) {
      const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
      yield* Scope.extend(spawner.spawn({ source: "review" }), scope)
    }
    yield* settle
    const during = heapAfterGc()
    yield* Scope.close(parent, Exit.void)
    return (during - before) / count
  }).pipe(Effect.provide(layer))

/** The baseline: `count` forked fibers parked forever, then interrupted. */
const bareFibers = (count: number) =>
  Effect.gen(function*() {
    const before = heapAfterGc()
    const started = performance.now()
    let fibers: Array<Fiber.RuntimeFiber<never>> = []
    for (let i = 0; i < count; i++) fibers.push(yield* Effect.fork(Effect.never))
    const startMs = performance.now() - started
    yield* settle
    const during = heapAfterGc()
    const closing = performance.now()
    yield* Fiber.interruptAll(fibers)
    const closeMs = performance.now() - closing
    fibers = []
    return { bytesPerFiber: (during - before) / count, startMs, closeMs }
  })

/**
 * The harness alone: `count` bare fibers, each forked in its own (sequential) scope under one parallel
 * parent scope, as the delegates are; closing the parent. What closing costs before any delegate does
 * anything (a fiber per scope for the parallel close, each scope's own close).
 */
const scopedFibers = (count: number) =>
  Effect.gen(function*() {
    const parent = yield* Scope.make(ExecutionStrategy.parallel)
    for (let i = 0; i < count; i++) {
      const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
      yield* Effect.forkIn(Effect.never, scope)
    }
    yield* settle
    heapAfterGc()
    const closing = performance.now()
    yield* Scope.close(parent, Exit.void)
    return performance.now() - closing
  })

export const run = async (size: Size): Promise<SectionResult> => {
  const count = size.quick ? 200 : 10_000
  // Heap figures are steady from run to run; three runs (after a tenth-size warm-up) are enough at full size.
  const runs = size.quick ? size.runs : Math.min(size.runs, 3)
  const metrics = await series({ ...size, runs }, async (run) => {
    const n = run < 0 ? Math.max(100, count / 10) : count
    const deputy = await Effect.runPromise(delegates(n))
    const fibers = await Effect.runPromise(bareFibers(n))
    const agentBytes = await Effect.runPromise(bareAgents(n))
    const harnessCloseMs = await Effect.runPromise(scopedFibers(n))
    return {
      harnessCloseMs,
      startRatio: deputy.startMs / fibers.startMs,
      closeRatio: deputy.closeMs / fibers.closeMs,
      harnessCloseRatio: harnessCloseMs / fibers.closeMs,
      // What closing costs beyond the harness (a scope per delegate under a parallel scope), which any owner
      // of many scoped delegates pays and which alone is several times the bare interrupt.
      ownCloseMs: deputy.closeMs - harnessCloseMs,
      ownCloseRatio: (deputy.closeMs - harnessCloseMs) / fibers.closeMs,
      bytesWithoutChild: deputy.bytesPerDelegate - agentBytes,
      ...deputy,
      baselineBytesPerFiber: fibers.bytesPerFiber,
      baselineStartMs: fibers.startMs,
      baselineCloseMs: fibers.closeMs,
      bytesPerBareAgent: agentBytes
    }
  })
  return {
    metrics: { ...metrics, count: metrics.startMs.map(() => count) },
    notes: [
      `${
        count.toLocaleString("en")
      } idle delegates at once (each in its own scope under one parallel scope); heap = V8 heapUsed after full GC`
    ]
  }
}
