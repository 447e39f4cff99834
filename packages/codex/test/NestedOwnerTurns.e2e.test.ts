/**
 * Codex's own sub-agent outlives the turn of the Codex node that spawned it (both bundled versions,
 * `features.multi_agent_v2`, the scripted model): an interactive Codex node's first turn spawns `galileo`
 * and waits for it; between the node's turns the sub-agent's node stays (idle, `Running`); the node's second
 * turn gives it a follow-up task (`followup_task`), whose command approval still reaches the tree inbox as
 * `root/review/galileo`'s with the chain. The session's shutdown ends the thread (Codex does not close it
 * first): its node ends `completed`, its last turn's outcome.
 */
import { ScriptedModel } from "@deputy/codex"
import { ApprovalInbox, Delegate, Supervisor } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { awaitNoLeftovers, codexVersions, multiAgentCodex, provideNode, tempDir } from "./utils.js"

const followupTask = (callId: string, target: string, message: string) =>
  ScriptedModel.raw({
    type: "function_call",
    call_id: callId,
    name: "followup_task",
    namespace: "collaboration",
    arguments: JSON.stringify({ target, message })
  })

const scenario: ScriptedModel.Scenario = {
  turns: [
    [
      ScriptedModel.spawnAgent("galileo", "write sub.txt", { callId: "spawn_1" }),
      ScriptedModel.waitAgent({ callId: "wait_1" }),
      ScriptedModel.message("first turn done")
    ],
    [
      followupTask("follow_1", "galileo", "now write two.txt"),
      ScriptedModel.waitAgent({ callId: "wait_2" }),
      ScriptedModel.message("second turn done")
    ]
  ],
  agents: {
    "/root/galileo": ScriptedModel.scenario(
      [ScriptedModel.exec("echo sub >> sub.txt"), ScriptedModel.message("sub done")],
      [ScriptedModel.exec("echo two >> two.txt"), ScriptedModel.message("sub done 2")]
    )
  }
}

describe.each(codexVersions)(
  "Codex $version: its own sub-agent across the Codex node's turns (end to end)",
  ({ binary }) => {
    const codex = multiAgentCodex(binary, scenario)

    it.scopedLive(
      "the sub-agent's node stays between the owner's turns; the second turn's follow-up asks as it",
      () =>
        Effect.gen(function*() {
          const cwd = yield* tempDir
          const supervisor = yield* Supervisor.make({ name: "root", drainTimeout: "3 seconds" })
          const review = yield* supervisor.spawn({ name: "review", source: "review", cwd })
          const handle = yield* review.delegate
          const asked: Array<string> = []
          /** One turn of the Codex node, answering the sub-agent's one approval through the tree inbox. */
          const ownerTurn = (input: string, command: string) =>
            Effect.gen(function*() {
              const turn = yield* Delegate.turn(handle, input).pipe(Stream.runCollect, Effect.fork)
              const pending = yield* supervisor.inbox.awaitPending((p) => !asked.includes(p.request.id)).pipe(
                Effect.timeout("60 seconds")
              )
              const request = pending.request
              asked.push(request.id)
              assert.include(request.kind === "command" ? request.event.command.join(" ") : "", command)
              assert.strictEqual(request.path, "root/review/galileo")
              assert.deepStrictEqual(request.chain?.map((link) => link.path), ["root/review", "root/review/galileo"])
              assert.strictEqual(request.chain?.[0]?.callId, "spawn_1")
              yield* supervisor.inbox.respond(request.id, ApprovalInbox.decision("approved"))
              const events = Chunk.toArray(yield* Fiber.join(turn).pipe(Effect.timeout("60 seconds")))
              return events.at(-1)?.msg as { type: string; last_agent_message?: string }
            })

          const first = yield* ownerTurn("go", "echo sub >> sub.txt")
          assert.deepStrictEqual([first.type, first.last_agent_message], ["task_complete", "first turn done"])
          const between = (yield* supervisor.nodes).find((node) => node.path === "root/review/galileo")
          assert.deepStrictEqual(between?.state, { _tag: "Running" }, "idle between the owner's turns, not ended")
          assert.strictEqual(between?.usage.turns, 1)

          const second = yield* ownerTurn("again", "echo two >> two.txt")
          assert.deepStrictEqual([second.type, second.last_agent_message], ["task_complete", "second turn done"])

          yield* handle.shutdown
          const receipt = yield* review.ended.pipe(Effect.timeout("30 seconds"))
          const galileo = receipt.nodes.find((node) => node.path === "root/review/galileo")!
          assert.strictEqual(galileo.reason, "completed", galileo.message)
          assert.isUndefined(galileo.message, "ended by the thread's own end (the shutdown), not as its parent's child")
          assert.strictEqual(galileo.lastAgentMessage, "sub done 2")
          assert.strictEqual(galileo.usage.turns, 2)
          assert.strictEqual(galileo.usage.approvals, 2)
          assert.strictEqual(fs.readFileSync(path.join(cwd, "sub.txt"), "utf8"), "sub\n")
          assert.strictEqual(fs.readFileSync(path.join(cwd, "two.txt"), "utf8"), "two\n")
          assert.deepStrictEqual(yield* awaitNoLeftovers, [])
        }).pipe(provideNode, Effect.provide(codex)),
      120_000
    )
  }
)
