/**
 * SPEC §5.17 and the leak test: nothing a delegate starts outlives its scope, over many lifecycles.
 */
import { AgentSpawner, ApprovalInbox, Approvals, Delegate, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Supervisor from "effect/Supervisor"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { execRequest, readAll } from "./helpers.js"

/** One full one-shot lifecycle: spawn, a turn with an approval, completion, shutdown. */
const lifecycle = Effect.gen(function*() {
  const { service: child, spawner } = yield* TestAgent.make()
  return yield* Effect.gen(function*() {
    const handle = yield* Delegate.oneShot({ source: "review", input: "go" })
    const input = yield* child.awaitOp("user_input")
    yield* child.startTurn(input.id)
    yield* child.emit(execRequest("c1"))
    yield* child.awaitOp("exec_approval")
    yield* child.completeTurn("ok")
    yield* readAll(handle)
    return yield* handle.ended
  }).pipe(Effect.scoped, Effect.provideService(AgentSpawner.AgentSpawner, spawner))
}).pipe(Effect.provide(Approvals.layerApproveAll))

/** Lets Node run its own macrotasks (vitest's worker RPC) between batches. */
const breathe = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/** Node's `gc`, exposed at run time (a fresh VM context picks up the flag). */
v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

/** Heap in use after full collections: what is still reachable, not GC timing. */
const heapAfterGc = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

/** Timers and handles Node reports as active (what would keep the process alive). */
const activeResources = () => {
  const counts = new Map<string, number>()
  for (const name of process.getActiveResourcesInfo()) counts.set(name, (counts.get(name) ?? 0) + 1)
  return counts
}

describe("no leaks", () => {
  it.effect("17. no fiber outlives the delegate's scope, over many lifecycles", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.track
      for (let i = 0; i < 200; i++) {
        const ended = yield* Effect.supervised(lifecycle, supervisor)
        assert.strictEqual(ended.reason, "completed")
      }
      const alive = (yield* supervisor.value).filter((fiber) => fiber.unsafePoll() === null)
      assert.strictEqual(alive.length, 0)
    }))

  it.effect("17b. an interrupted delegate with a pending inbox request leaves no fiber and no entry", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.track
      const inbox = yield* ApprovalInbox.ApprovalInbox
      for (let i = 0; i < 100; i++) {
        yield* Effect.gen(function*() {
          yield* Delegate.interactive({ source: "review" })
          const child = yield* TestAgent.TestAgent
          yield* child.emit(execRequest(`c${i}`), "t")
          yield* inbox.awaitPending()
        }).pipe(Effect.scoped, Effect.provide(TestAgent.layer()), Effect.supervised(supervisor))
      }
      assert.deepStrictEqual(yield* inbox.pending, [])
      assert.strictEqual((yield* supervisor.value).filter((fiber) => fiber.unsafePoll() === null).length, 0)
    }).pipe(Effect.provide(ApprovalInbox.layer)))

  it.live("10,000 lifecycles: active handles and timers back to baseline, heap bounded", () =>
    Effect.gen(function*() {
      const lifecycles = Number(process.env.DEPUTY_LEAK_LIFECYCLES ?? 10_000)
      yield* Effect.forEach(Array.from({ length: 100 }), () => lifecycle, { discard: true }) // warm-up
      const before = activeResources()
      const heapBefore = heapAfterGc()
      const batch = 50
      for (let done = 0; done < lifecycles; done += batch) {
        yield* Effect.forEach(Array.from({ length: batch }), () => lifecycle, { concurrency: batch, discard: true })
        yield* breathe
      }
      const after = activeResources()
      const heapGrowth = heapAfterGc() - heapBefore
      for (const [name, count] of after) {
        assert.isAtMost(count, before.get(name) ?? 0, `${name}: ${before.get(name) ?? 0} before, ${count} after`)
      }
      // Measured after a full GC: a leak of 512 bytes per lifecycle would be 5 MiB.
      assert.isBelow(heapGrowth, 4 * 1024 * 1024, `heap grew by ${(heapGrowth / 1048576).toFixed(1)} MiB`)
      yield* Effect.log(`heap growth over ${lifecycles} lifecycles: ${(heapGrowth / 1048576).toFixed(1)} MiB`)
    }), 120_000)
})
