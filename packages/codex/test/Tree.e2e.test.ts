/**
 * A supervised tree of real Codex children (`Supervisor` of `@deputy/core` over `CodexAgent.layerScripted`):
 * two siblings under the root and one child nested under one of them, every approval answered through
 * the tree's one inbox, with its provenance chain; the commands really run, each in its node's directory.
 */
import { CodexAgent, ScriptedModel } from "@deputy/codex"
import { type AgentSpawner, ApprovalInbox, Supervisor } from "@deputy/core"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import { awaitNoLeftovers, provideNode, tempDir } from "./utils.js"

/** Every child runs the same script, in its own directory: ask to write its directory's name, then answer. */
const codex: Layer.Layer<AgentSpawner.AgentSpawner | ScriptedModel.ScriptedModel, unknown> = CodexAgent.layerScripted()
  .pipe(
    Layer.provideMerge(
      ScriptedModel.layer(ScriptedModel.scenario([
        ScriptedModel.exec("basename \"$PWD\" > out.txt"),
        ScriptedModel.message("written")
      ]))
    ),
    Layer.provide(NodeContext.layer)
  )

describe("Supervisor over real Codex children (end to end)", () => {
  it.scopedLive(
    "two siblings and one nested child: their approvals reach the one inbox with the chain, answered there",
    () =>
      Effect.gen(function*() {
        const base = yield* tempDir
        const dirOf = (name: string) => {
          const dir = path.join(base, name)
          fs.mkdirSync(dir)
          return dir
        }
        const supervisor = yield* Supervisor.make({ name: "root", drainTimeout: "3 seconds" })
        const source = { other: "tree e2e" }
        yield* supervisor.spawn({ name: "review", input: "go", source, cwd: dirOf("review") })
        const lead = yield* supervisor.spawn({ name: "lead", input: "go", source, cwd: dirOf("lead") })
        const tests = yield* lead.spawn({
          name: "tests",
          input: "go",
          source,
          cwd: dirOf("tests"),
          startedIn: { turnId: "lead-turn", callId: "spawn-tests" }
        })
        assert.strictEqual(tests.path, "root/lead/tests")

        // All three ask; nothing is answered yet.
        const inbox = supervisor.inbox
        for (let n = 0; (yield* inbox.pending).length < 3; n++) {
          assert.isBelow(n, 3000, "three requests within 60 s")
          yield* Effect.sleep("20 millis")
        }
        const pending = yield* supervisor.pendingUnder()
        assert.deepStrictEqual(pending.map((entry) => entry.request.path).sort(), [
          "root/lead",
          "root/lead/tests",
          "root/review"
        ])
        assert.deepStrictEqual(
          (yield* supervisor.pendingUnder("root/lead")).map((entry) => entry.request.path).sort(),
          [
            "root/lead",
            "root/lead/tests"
          ]
        )
        const byPath = new Map(pending.map((entry) => [entry.request.path!, entry.request]))
        const nested = byPath.get("root/lead/tests")!
        assert.strictEqual(nested.kind, "command")
        assert.deepStrictEqual(nested.chain?.map((link) => link.path), ["root/lead", "root/lead/tests"])
        assert.strictEqual(nested.chain?.[0]?.callId, "spawn-tests", "the parent's call that started the child")
        assert.strictEqual(nested.chain?.at(-1)?.delegateId, tests.delegateId)
        assert.strictEqual(nested.delegateId, tests.delegateId)
        assert.deepStrictEqual(byPath.get("root/review")!.chain?.map((link) => link.path), ["root/review"])

        // The nested child first (its parent's turn waits on its own request meanwhile), then the others.
        yield* inbox.respond(nested.id, ApprovalInbox.decision("approved"), { client: "tree e2e" })
        const nestedReceipt = yield* tests.ended
        assert.strictEqual(nestedReceipt.nodes[0]?.reason, "completed")
        yield* inbox.respond(byPath.get("root/lead")!.id, ApprovalInbox.decision("approved"))
        yield* inbox.respond(byPath.get("root/review")!.id, ApprovalInbox.decision("denied"))

        const receipt = yield* supervisor.awaitIdle
        const reasons = Object.fromEntries(receipt.nodes.map((node) => [node.path, node.reason]))
        assert.deepInclude(reasons, {
          "root/review": "completed",
          "root/lead": "completed",
          "root/lead/tests": "completed"
        })
        const last = Object.fromEntries(receipt.nodes.map((node) => [node.path, node.lastAgentMessage]))
        assert.strictEqual(last["root/lead/tests"], "written")
        assert.strictEqual(fs.readFileSync(path.join(base, "tests", "out.txt"), "utf8"), "tests\n")
        assert.strictEqual(fs.readFileSync(path.join(base, "lead", "out.txt"), "utf8"), "lead\n")
        assert.isFalse(fs.existsSync(path.join(base, "review", "out.txt")), "denied: not run")
        assert.isAbove(receipt.usage.turns, 2)
        assert.deepStrictEqual(yield* awaitNoLeftovers, [])
      }).pipe(provideNode, Effect.provide(codex)),
    120_000
  )

  it.scopedLive(
    "stopping the tree mid-approval: pending requests settle, every Codex process is reaped, the receipt lists all",
    () =>
      Effect.gen(function*() {
        const base = yield* tempDir
        const supervisor = yield* Supervisor.make({ name: "root", drainTimeout: "3 seconds" })
        const source = { other: "tree e2e" }
        const a = yield* supervisor.spawn({ name: "a", input: "go", source, cwd: base })
        yield* a.spawn({ name: "b", input: "go", source, cwd: base })
        yield* supervisor.spawn({ name: "c", input: "go", source, cwd: base })
        for (let n = 0; (yield* supervisor.inbox.pending).length < 3; n++) {
          assert.isBelow(n, 3000)
          yield* Effect.sleep("20 millis")
        }
        const receipt = yield* supervisor.stop
        assert.deepStrictEqual(receipt.nodes.map((node) => node.path).filter((p) => p !== "root").sort(), [
          "root/a",
          "root/a/b",
          "root/c"
        ])
        for (const node of receipt.nodes.filter((node) => node.path !== "root")) {
          assert.include(["interrupted", "aborted"], node.reason, node.path)
        }
        assert.deepStrictEqual(yield* supervisor.inbox.pending, [])
        // Every Codex process (and its helpers) is gone.
        assert.deepStrictEqual(yield* awaitNoLeftovers, [])
        assert.isFalse(fs.existsSync(path.join(base, "out.txt")))
      }).pipe(provideNode, Effect.provide(codex)),
    120_000
  )
})
