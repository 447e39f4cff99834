/**
 * `SupervisorService.changes` announces the nodes of threads an agent spawned itself (reported with
 * `deputy_thread` events) like spawned ones: `Added` for the thread's node, then its state changes to its end,
 * and `Stopping` / `Ended` when its owner is stopped.
 */
import { Supervisor, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

const thread = (event: string, threadId: string, extra: Record<string, unknown> = {}) =>
  ({ type: "deputy_thread", event, thread_id: threadId, ...extra }) as never

const childOf = (node: string): Effect.Effect<TestAgent.TestAgentChild, never, TestAgent.TestAgent> =>
  Effect.flatMap(TestAgent.TestAgent, (agent) => agent.awaitChild((options) => options.config?.node === node))

const stateText = (state: Supervisor.NodeState): string => state._tag === "Ended" ? `Ended:${state.reason}` : state._tag

/** Every change after the snapshot, as text; `done` completes once `until` is seen. */
const watch = (supervisor: Supervisor.SupervisorService, until: string) =>
  Effect.gen(function*() {
    const seen: Array<string> = []
    const subscribed = yield* Deferred.make<void>()
    const done = yield* Deferred.make<void>()
    yield* supervisor.changes.pipe(
      Stream.runForEach((change) =>
        Effect.suspend(() => {
          if (change._tag === "Snapshot") return Deferred.succeed(subscribed, undefined)
          const text = change._tag === "Added"
            ? `+${change.node.path}:${stateText(change.node.state)}${change.node.external ? " external" : ""}`
            : `${change.path}=${stateText(change.state)}`
          seen.push(text)
          return text === until ? Deferred.succeed(done, undefined) : Effect.void
        })
      ),
      Effect.forkScoped
    )
    yield* Deferred.await(subscribed)
    return { seen, done: Deferred.await(done) }
  })

describe("Supervisor.changes: threads an agent spawned itself", () => {
  it.scoped("a reported thread is Added under its owner, then changes state until it ends", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* supervisor.spawn({ name: "review", source: "review", config: { node: "review" } })
      const child = yield* childOf("review")
      const watcher = yield* watch(supervisor, "root/review/Galileo=Ended:completed")
      yield* child.emit(thread("started", "th-1", { name: "Galileo" }), "t1")
      yield* child.emit(thread("ended", "th-1", { reason: "completed" }), "t1")
      yield* watcher.done
      const nested = watcher.seen.filter((text) => text.includes("Galileo"))
      assert.strictEqual(nested[0], "+root/review/Galileo:Running external")
      assert.strictEqual(nested.at(-1), "root/review/Galileo=Ended:completed")
      assert.strictEqual(new Set(nested).size, nested.length, "nothing announced twice")
      const info = (yield* supervisor.nodes).find((node) => node.path === "root/review/Galileo")!
      assert.deepStrictEqual(info.state, { _tag: "Ended", reason: "completed" })
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("stopping the owner announces the thread's node Stopping, then Ended", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      const review = yield* supervisor.spawn({ name: "review", source: "review", config: { node: "review" } })
      const child = yield* childOf("review")
      const watcher = yield* watch(supervisor, "root/review=Ended:interrupted")
      yield* child.emit(thread("started", "th-1", { name: "Galileo" }), "t1")
      for (let n = 0; n < 20_000 && !watcher.seen.some((text) => text.startsWith("+root/review/Galileo")); n++) {
        yield* Effect.yieldNow()
      }
      yield* review.stop
      yield* watcher.done
      const nested = watcher.seen.filter((text) => text.includes("Galileo"))
      assert.deepStrictEqual(nested.slice(0, 2), [
        "+root/review/Galileo:Running external",
        "root/review/Galileo=Stopping"
      ])
      assert.match(nested.at(-1)!, /^root\/review\/Galileo=Ended:/)
      const after = (yield* supervisor.nodes).find((node) => node.path === "root/review/Galileo")!
      assert.strictEqual(`root/review/Galileo=${stateText(after.state)}`, nested.at(-1))
    }).pipe(Effect.provide(TestAgent.layer())))
})
