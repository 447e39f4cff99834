import type { Supervisor } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import * as ServeCommand from "../src/ServeCommand.js"

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
