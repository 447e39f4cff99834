/**
 * A supervised tree of real Codex children (each against its own scripted model and `CODEX_HOME`): two
 * siblings and one nested child, every command approval answered through the one tree inbox, each
 * request naming its node and chain. The nested child's parent waits on its own approval, answered only
 * once the nested child is done, so the parent is alive throughout.
 */
import { CodexAgent, CodexHome, ScriptedModel } from "@deputy/codex"
import { ApprovalInbox, type ApprovalRequest, Supervisor } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { awaitNoLeftovers, provideNode, tempDir } from "./utils.js"

/** A Codex home against its own scripted model: run one command, then say `done <name>`. */
const codexFor = (name: string) =>
  Effect.gen(function*() {
    const model = yield* ScriptedModel.make(
      ScriptedModel.scenario([ScriptedModel.exec(`echo ${name} > ${name}.txt`), ScriptedModel.message(`done ${name}`)])
    )
    const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
    return { codexHome: home.path, env: { ...home.env } }
  })

describe("Supervisor over real Codex children", () => {
  it.scopedLive("two siblings and a nested child, approvals through the one inbox", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const supervisor = yield* Supervisor.make({ drainTimeout: "3 seconds" })
      const asked: Array<ApprovalRequest.ApprovalRequest> = []
      const nestedDone = yield* Deferred.make<void>()
      // the one inbox: approve every command; the parent of the nested child only once that child is done
      yield* supervisor.pendingChanges().pipe(
        Stream.flatMap((pending) => Stream.fromIterable(pending)),
        Stream.runForEach(({ request }) =>
          Effect.gen(function*() {
            if (asked.some((seen) => seen.id === request.id)) return
            asked.push(request)
            if (request.path === "root/b") yield* Deferred.await(nestedDone)
            yield* Effect.ignore(supervisor.inbox.respond(request.id, ApprovalInbox.decision("approved")))
          }).pipe(Effect.forkScoped)
        ),
        Effect.forkScoped
      )
      const spawn = (parent: { readonly spawn: Supervisor.SupervisorService["spawn"] }, name: string) =>
        Effect.flatMap(codexFor(name), (config) =>
          Effect.orDie(parent.spawn({ name, source: "review", input: "write it", cwd: dir, config })))
      const a = yield* spawn(supervisor, "a")
      const b = yield* spawn(supervisor, "b")
      const b1 = yield* spawn(b, "b1")
      const b1Receipt = yield* b1.ended
      yield* Deferred.succeed(nestedDone, undefined)
      const receipt = yield* supervisor.awaitIdle
      void a

      assert.strictEqual(b1Receipt.nodes[0]!.reason, "completed")
      assert.deepStrictEqual(receipt.nodes.map((node) => [node.path, node.reason, node.lastAgentMessage]), [
        ["root/a", "completed", "done a"],
        ["root/b", "completed", "done b"],
        ["root/b/b1", "completed", "done b1"]
      ])
      assert.deepStrictEqual(
        asked.map((request) =>
          request.path
        ).sort(),
        ["root/a", "root/b", "root/b/b1"]
      )
      const nested = asked.find((request) => request.path === "root/b/b1")!
      assert.deepStrictEqual(nested.chain?.map((link) => link.name), ["b", "b1"])
      assert.strictEqual(nested.chain?.[1]?.delegateId, b1.delegateId)
      for (const name of ["a", "b", "b1"]) {
        assert.strictEqual(fs.readFileSync(path.join(dir, `${name}.txt`), "utf8"), `${name}\n`)
      }
      assert.strictEqual(receipt.usage.approvals, 3)
      assert.strictEqual(receipt.usage.turns, 3)
      yield* supervisor.stop
      assert.deepStrictEqual(yield* awaitNoLeftovers, [])
    }).pipe(provideNode, Effect.provide(CodexAgent.layerNode())), 60_000)
})
