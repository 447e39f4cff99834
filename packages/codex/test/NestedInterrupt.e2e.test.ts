/**
 * Codex's own sub-agent interrupted mid-turn and given a follow-up task (both bundled versions,
 * `features.multi_agent_v2`, the scripted model). The root agent spawns `galileo`, whose command approval
 * waits in the tree inbox unanswered, so the root's `wait_agent` times out (10 s, Codex's minimum); the root
 * then interrupts it (`interrupt_agent`): Codex withdraws the approval (it settles `aborted`, its prompt is
 * taken down) and the sub-agent's turn ends interrupted, but its node stays. The root's `followup_task`
 * starts a new turn of the thread whose approval reaches the inbox as `root/review/galileo`'s again.
 */
import { ScriptedModel } from "@deputy/codex"
import { ApprovalInbox, type ApprovalRequest, Supervisor } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { awaitNoLeftovers, codexVersions, multiAgentCodex, provideNode, tempDir } from "./utils.js"

const collaboration = (callId: string, name: string, args: Record<string, unknown>) =>
  ScriptedModel.raw({
    type: "function_call",
    call_id: callId,
    name,
    namespace: "collaboration",
    arguments: JSON.stringify(args)
  })

const scenario: ScriptedModel.Scenario = {
  turns: [[
    ScriptedModel.spawnAgent("galileo", "write sub.txt", { callId: "spawn_1" }),
    ScriptedModel.waitAgent({ callId: "wait_1", timeoutMs: 10_000 }),
    collaboration("interrupt_1", "interrupt_agent", { target: "galileo" }),
    collaboration("follow_1", "followup_task", { target: "galileo", message: "write two.txt instead" }),
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

describe.each(codexVersions)(
  "Codex $version: its own sub-agent interrupted, then given a follow-up (end to end)",
  ({ binary }) => {
    const codex = multiAgentCodex(binary, scenario)

    it.scopedLive(
      "the interrupted turn's approval is withdrawn; the node stays; the follow-up turn asks as the sub-agent",
      () =>
        Effect.gen(function*() {
          const cwd = yield* tempDir
          const settled: Array<ApprovalRequest.ApprovalSettlement> = []
          const firstSettled = yield* Deferred.make<ApprovalRequest.ApprovalSettlement>()
          const supervisor = yield* Supervisor.make({ name: "root", drainTimeout: "3 seconds" })
          const review = yield* supervisor.spawn({
            name: "review",
            input: "go",
            source: "review",
            cwd,
            onSettled: (settlement) =>
              Effect.suspend(() => {
                settled.push(settlement)
                return Deferred.succeed(firstSettled, settlement)
              })
          })
          const first = yield* supervisor.inbox.awaitPending().pipe(Effect.timeout("60 seconds"))
          assert.strictEqual(first.request.path, "root/review/galileo")
          // not answered: Codex's wait_agent times out, interrupt_agent interrupts the turn, the request is withdrawn
          const withdrawn = yield* Deferred.await(firstSettled).pipe(Effect.timeout("60 seconds"))
          assert.strictEqual(withdrawn.request.id, first.request.id)
          assert.strictEqual(withdrawn.outcome, "aborted")
          assert.strictEqual(withdrawn.request.path, "root/review/galileo")
          const between = (yield* supervisor.nodes).find((node) => node.path === "root/review/galileo")
          assert.deepStrictEqual(between?.state, { _tag: "Running" }, "an interrupted turn does not end the thread")

          const second = yield* supervisor.inbox.awaitPending((p) => p.request.id !== first.request.id).pipe(
            Effect.timeout("60 seconds")
          )
          const request = second.request
          assert.include(request.kind === "command" ? request.event.command.join(" ") : "", "echo two >> two.txt")
          assert.strictEqual(request.path, "root/review/galileo")
          assert.deepStrictEqual(request.chain?.map((link) => link.path), ["root/review", "root/review/galileo"])
          assert.strictEqual(request.thread?.id, first.request.thread?.id, "the same thread")
          assert.deepStrictEqual((yield* supervisor.inbox.pending).map((p) => p.request.id), [request.id])
          yield* supervisor.inbox.respond(request.id, ApprovalInbox.decision("approved"))

          const receipt = yield* review.ended.pipe(Effect.timeout("60 seconds"))
          const byPath = Object.fromEntries(receipt.nodes.map((node) => [node.path, node]))
          assert.strictEqual(byPath["root/review"]?.lastAgentMessage, "parent done")
          const galileo = byPath["root/review/galileo"]!
          assert.strictEqual(galileo.reason, "completed", galileo.message)
          assert.strictEqual(galileo.lastAgentMessage, "sub done 2")
          assert.strictEqual(galileo.usage.turns, 2)
          assert.isFalse(fs.existsSync(path.join(cwd, "sub.txt")), "the withdrawn command never ran")
          assert.strictEqual(fs.readFileSync(path.join(cwd, "two.txt"), "utf8"), "two\n")
          assert.deepStrictEqual(settled.map((s) => s.outcome), ["aborted", "approved"])
          assert.deepStrictEqual(yield* awaitNoLeftovers, [])
        }).pipe(provideNode, Effect.provide(codex)),
      120_000
    )
  }
)
