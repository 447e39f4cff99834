/**
 * Codex's own sub-agents on both bundled versions (0.169 and 0.171, `features.multi_agent_v2`; both offer
 * the `collaboration` tools), with the scripted model: the root agent spawns `galileo`, waits, gives it a
 * follow-up task (`followup_task`: a second turn of the same thread), waits again, and reports. Both of
 * galileo's command approvals reach the one tree inbox as `root/review/galileo`'s, with the chain (the Codex
 * node's link names the `spawn_agent` call and turn), are answered there, and the commands really run; the
 * thread's node lives across its two turns and ends with the Codex node, `completed`.
 */
import { ScriptedModel } from "@deputy/codex"
import { ApprovalInbox, Supervisor } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { awaitNoLeftovers, codexVersions, multiAgentCodex, provideNode, tempDir } from "./utils.js"

/** A `followup_task` call (`collaboration` namespace): a new task, and a new turn, for a spawned agent. */
const followupTask = (callId: string, target: string, message: string) =>
  ScriptedModel.raw({
    type: "function_call",
    call_id: callId,
    name: "followup_task",
    namespace: "collaboration",
    arguments: JSON.stringify({ target, message })
  })

const followupScenario: ScriptedModel.Scenario = {
  turns: [[
    ScriptedModel.spawnAgent("galileo", "write sub.txt", { callId: "spawn_1" }),
    ScriptedModel.waitAgent({ callId: "wait_1" }),
    followupTask("follow_1", "galileo", "now write two.txt"),
    ScriptedModel.waitAgent({ callId: "wait_2" }),
    ScriptedModel.message("parent done")
  ]],
  agents: {
    "/root/galileo": ScriptedModel.scenario(
      [ScriptedModel.exec("echo sub >> sub.txt"), ScriptedModel.message("sub done")],
      [ScriptedModel.exec("echo two >> two.txt"), ScriptedModel.message("sub done 2")]
    )
  }
}

describe.each(codexVersions)("Codex $version: its own sub-agent across a follow-up task (end to end)", ({ binary }) => {
  const codex = multiAgentCodex(binary, followupScenario)

  it.scopedLive(
    "both turns' approvals reach the tree inbox with the thread's path and chain; the node lives across them",
    () =>
      Effect.gen(function*() {
        const cwd = yield* tempDir
        const supervisor = yield* Supervisor.make({ name: "root", drainTimeout: "3 seconds" })
        const review = yield* supervisor.spawn({ name: "review", input: "go", source: "review", cwd })
        const requests: Array<ApprovalInbox.PendingApproval["request"]> = []
        for (const command of ["echo sub >> sub.txt", "echo two >> two.txt"]) {
          const pending = yield* supervisor.inbox.awaitPending((p) => !requests.some((r) => r.id === p.request.id))
            .pipe(Effect.timeout("60 seconds"))
          const request = pending.request
          requests.push(request)
          assert.strictEqual(request.kind, "command")
          assert.include(request.kind === "command" ? request.event.command.join(" ") : "", command)
          assert.strictEqual(request.path, "root/review/galileo", `${command}: the thread's path`)
          assert.strictEqual(request.delegateId, review.delegateId, "it asks through the Codex node's delegate")
          const chain = request.chain ?? []
          assert.deepStrictEqual(chain.map((link) => link.path), ["root/review", "root/review/galileo"])
          assert.strictEqual(chain[0]?.delegateId, review.delegateId)
          assert.strictEqual(chain[0]?.source, "review")
          assert.strictEqual(chain[0]?.callId, "spawn_1", "the Codex node's spawn_agent call")
          assert.isString(chain[0]?.turnId, "the Codex node's turn that spawned it")
          const spawn = chain[1]?.source as { thread_spawn?: { agent_nickname?: unknown; depth?: unknown } }
          assert.strictEqual(spawn.thread_spawn?.agent_nickname, "galileo")
          assert.strictEqual(spawn.thread_spawn?.depth, 1)
          assert.strictEqual(request.thread?.id, requests[0]!.thread?.id, "one thread, both turns")
          const nested = (yield* supervisor.nodes).find((node) => node.path === "root/review/galileo")
          assert.deepStrictEqual(nested?.state, { _tag: "Running" }, "the node lives across the thread's turns")
          assert.deepStrictEqual(
            (yield* supervisor.pendingUnder("root/review/galileo")).map((p) => p.request.id),
            [request.id]
          )
          yield* supervisor.inbox.respond(request.id, ApprovalInbox.decision("approved"), { client: "nested e2e" })
        }
        const receipt = yield* review.ended.pipe(Effect.timeout("60 seconds"))
        const byPath = Object.fromEntries(receipt.nodes.map((node) => [node.path, node]))
        assert.strictEqual(byPath["root/review"]?.reason, "completed")
        assert.strictEqual(byPath["root/review"]?.lastAgentMessage, "parent done")
        const galileo = byPath["root/review/galileo"]!
        assert.strictEqual(galileo.reason, "completed", galileo.message)
        assert.strictEqual(galileo.lastAgentMessage, "sub done 2")
        assert.strictEqual(galileo.usage.turns, 2)
        assert.strictEqual(galileo.usage.approvals, 2)
        assert.isAbove(galileo.usage.tokens, 0)
        assert.strictEqual(fs.readFileSync(path.join(cwd, "sub.txt"), "utf8"), "sub\n")
        assert.strictEqual(fs.readFileSync(path.join(cwd, "two.txt"), "utf8"), "two\n")
        assert.deepStrictEqual(yield* awaitNoLeftovers, [])
      }).pipe(provideNode, Effect.provide(codex)),
    120_000
  )
})
