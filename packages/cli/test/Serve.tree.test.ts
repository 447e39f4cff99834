import { Supervisor, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Stream from "effect/Stream"
import * as TestServices from "effect/TestServices"
import * as ServeCommand from "../src/internal/ServeCommand.js"

const usage = (tokens: number, turns = 0): Supervisor.Usage => ({ tokens, turns, wallTimeMs: 0, approvals: 0 })
const none: Supervisor.EffectiveBudget = {
  tokens: undefined,
  turns: undefined,
  wallTimeMs: undefined,
  approvals: undefined
}

const info = (
  path: string,
  delegateId: string,
  state: Supervisor.NodeState,
  extra: Partial<Supervisor.NodeInfo> = {}
): Supervisor.NodeInfo => ({
  path,
  name: path.split("/").pop()!,
  depth: path.split("/").length - 1,
  parent: path.split("/").length > 2 ? path.split("/").slice(0, -1).join("/") : "serve",
  source: "review",
  delegateId,
  state,
  usage: usage(0),
  subtreeUsage: usage(0),
  budget: none,
  ...extra
})

describe("serve's tree", () => {
  it("a node's id is its delegate's, its parent the parent's delegate; states, usage and budget left as shown", () => {
    const nodes = ServeCommand.treeNodes([
      info("serve/task-1", "task-1", { _tag: "Running" }, {
        subtreeUsage: usage(300, 2),
        budget: { ...none, tokens: 1000, turns: 5 }
      }),
      info("serve/task-1/tests", "d-tests", { _tag: "Ended", reason: "budget_exhausted" }),
      info("serve/task-2", "task-2", { _tag: "Queued", position: 0 })
    ])
    assert.deepStrictEqual(nodes.map((node) => [node.id, node.path, node.parent, node.status, node.ended]), [
      ["task-1", "serve/task-1", undefined, "running", undefined],
      ["d-tests", "serve/task-1/tests", "task-1", "ended", "budget_exhausted"],
      ["task-2", "serve/task-2", undefined, "queued: #1", undefined]
    ])
    assert.deepStrictEqual(nodes[0].usage, { tokens: 300, turns: 2 })
    assert.strictEqual(nodes[0].budgetLeft, "700 tokens, 3 turns")
    assert.strictEqual(nodes[2].budgetLeft, undefined)
  })

  it("budget left never goes below zero; the queue position counts from 1", () =>
    fc.assert(fc.property(fc.nat(10_000), fc.nat(10_000), fc.nat(100), (limit, used, position) => {
      const [node] = ServeCommand.treeNodes([
        info("serve/t", "t", { _tag: "Queued", position }, {
          subtreeUsage: usage(used),
          budget: { ...none, tokens: limit }
        })
      ])
      assert.strictEqual(node.budgetLeft, `${Math.max(0, limit - used)} tokens`)
      assert.strictEqual(node.status, `queued: #${position + 1}`)
    })))
})

describe("serve's live tree from Supervisor.changes", () => {
  it.scoped("a nested node's every state reaches the page, in order, without waiting for a poll", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ name: "serve" })
      const task = yield* supervisor.spawn({ name: "task-1", id: "task-1", source: "review" })
      const seen: Array<string> = []
      const ended = yield* Deferred.make<void>()
      const subscribed = yield* Deferred.make<void>()
      yield* ServeCommand.treeChanges(supervisor).pipe(
        Stream.runForEach((nodes) =>
          Effect.suspend(() => {
            Deferred.unsafeDone(subscribed, Exit.void)
            for (const node of nodes) {
              if (node.id !== "nested" || node.status === undefined || seen.at(-1) === node.status) continue
              seen.push(String(node.status))
              if (node.status === "ended") return Deferred.succeed(ended, undefined)
            }
            return Effect.void
          })
        ),
        Effect.forkScoped
      )
      yield* Deferred.await(subscribed)
      const nested = yield* task.spawn({ name: "tests", id: "nested", source: "review" })
      yield* nested.stateChanges.pipe(Stream.takeUntil((state) => state._tag === "Running"), Stream.runDrain)
      yield* nested.stop
      // a poll every 500 ms sees at most the state of the moment: here only stopping and ended
      yield* Deferred.await(ended).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => seen }))
      assert.deepStrictEqual(seen, ["starting", "running", "stopping", "ended"])
    }).pipe(Effect.provide(TestAgent.layer()), TestServices.provideLive))
})
