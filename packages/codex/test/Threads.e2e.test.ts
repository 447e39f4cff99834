/**
 * The real Codex binary (the pinned 0.171, `features.multi_agent_v2`) with the scripted model spawns a
 * sub-agent of its own (`spawn_agent`): the thread is a node of Deputy's tree under the Codex node
 * (`root/review/galileo`), its command approval reaches the tree inbox with that path and the chain (the
 * Codex node's link names the `spawn_agent` call), is answered there, and the command really runs.
 */
import { CodexAgent, ScriptedModel } from "@deputy/codex"
import { type AgentSpawner, ApprovalInbox, Supervisor } from "@deputy/core"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import { awaitNoLeftovers, multiAgentArgs, provideNode, tempDir } from "./utils.js"

/** Codex 0.171 offers `spawn_agent` in the `collaboration` namespace with `multi_agent_v2`. */

const codex: Layer.Layer<AgentSpawner.AgentSpawner | ScriptedModel.ScriptedModel, unknown> = CodexAgent.layerScripted({
  args: multiAgentArgs
}).pipe(
  Layer.provideMerge(ScriptedModel.layer(ScriptedModel.subAgentScenario)),
  Layer.provide(NodeContext.layer)
)

describe("Codex's own sub-agents as nodes of the tree (end to end)", () => {
  it.scopedLive(
    "spawn_agent: the sub-agent is root/review/galileo, its approval is answered through the tree inbox",
    () =>
      Effect.gen(function*() {
        const cwd = yield* tempDir
        const supervisor = yield* Supervisor.make({ name: "root", drainTimeout: "3 seconds" })
        const review = yield* supervisor.spawn({ name: "review", input: "go", source: "review", cwd })
        const pending = yield* supervisor.inbox.awaitPending().pipe(Effect.timeout("60 seconds"))
        const request = pending.request
        assert.strictEqual(request.path, "root/review/galileo")
        assert.deepStrictEqual(request.chain?.map((link) => link.path), ["root/review", "root/review/galileo"])
        assert.strictEqual(request.chain?.[0]?.callId, "spawn_1", "the Codex node's spawn_agent call")
        assert.strictEqual(request.delegateId, review.delegateId, "it asks through the Codex node's delegate")
        assert.strictEqual(request.kind, "command")

        const nodes = yield* supervisor.nodes
        const nested = nodes.find((node) => node.path === "root/review/galileo")
        assert.isDefined(nested)
        assert.strictEqual(nested!.parent, "root/review")
        assert.strictEqual(nested!.state._tag, "Running")
        assert.isString(nested!.external?.threadId)
        assert.strictEqual(nested!.external?.threadId, request.thread?.id)
        assert.deepStrictEqual((yield* supervisor.pendingUnder("root/review/galileo")).map((p) => p.request.id), [
          request.id
        ])

        yield* supervisor.inbox.respond(request.id, ApprovalInbox.decision("approved"), { client: "threads e2e" })
        const receipt = yield* review.ended.pipe(Effect.timeout("60 seconds"))
        const byPath = Object.fromEntries(receipt.nodes.map((node) => [node.path, node]))
        assert.strictEqual(byPath["root/review"]?.reason, "completed")
        assert.strictEqual(byPath["root/review"]?.lastAgentMessage, "parent done")
        assert.strictEqual(byPath["root/review/galileo"]?.reason, "completed")
        assert.strictEqual(byPath["root/review/galileo"]?.lastAgentMessage, "sub done")
        assert.strictEqual(byPath["root/review/galileo"]?.usage.turns, 1)
        assert.isAbove(byPath["root/review/galileo"]!.usage.tokens, 0)
        assert.strictEqual(
          byPath["root/review"]!.subtreeUsage.tokens,
          byPath["root/review"]!.usage.tokens + byPath["root/review/galileo"]!.usage.tokens,
          "the sub-agent's tokens count in the Codex node's subtree, not as its own"
        )
        assert.strictEqual(fs.readFileSync(path.join(cwd, "sub.txt"), "utf8"), "sub\n")
        assert.deepStrictEqual(yield* awaitNoLeftovers, [])
      }).pipe(provideNode, Effect.provide(codex)),
    120_000
  )
})
