/**
 * A hostile sub-agent against a path policy, through the real Codex: an approve rule for every docs folder must not
 * approve a patch that really writes outside the working directory (a `move_path` out of it, a write
 * through a symlinked folder), and what it does approve is attributed to the rule.
 */
import { CodexAgent, ScriptedModel } from "@deputy/codex"
import { type AgentSpawner, type ApprovalRequest, Approvals, Delegate } from "@deputy/core"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "./utils.js"

const rules: ReadonlyArray<Approvals.PolicyRule> = [{ kind: "patch", pathGlob: "**/docs/**", action: "approve" }]

/** A one-shot delegate over Codex running `scenario` in `workspace`, under the docs rule with deny-all below. */
const run = (scenario: ScriptedModel.Scenario, workspace: string) =>
  Effect.gen(function*() {
    const settled: Array<ApprovalRequest.ApprovalSettlement> = []
    const handle = yield* Delegate.oneShot({
      source: "review",
      input: "edit the docs",
      cwd: workspace,
      drainTimeout: "3 seconds",
      onSettled: (settlement) => Effect.sync(() => void settled.push(settlement))
    })
    yield* Stream.runDrain(handle.events)
    return { ended: yield* handle.ended, settled }
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(
      CodexAgent.layerScripted({}).pipe(
        Layer.provideMerge(ScriptedModel.layer(scenario)),
        Layer.provide(NodeContext.layer)
      ) as Layer.Layer<AgentSpawner.AgentSpawner, unknown>,
      Approvals.layerPolicy(rules, { workspace }).pipe(Layer.provide(Approvals.layerDenyAll))
    ))
  )

/** A workspace `work/` with `docs/a.md` and a symlink `docs/assets -> ../../outside`, next to `outside/`. */
const workspaceWithEscape = Effect.map(tempDir, (dir) => {
  const workspace = path.join(dir, "work")
  fs.mkdirSync(path.join(workspace, "docs"), { recursive: true })
  fs.mkdirSync(path.join(dir, "outside"))
  fs.writeFileSync(path.join(workspace, "docs", "a.md"), "old\n")
  fs.symlinkSync("../../outside", path.join(workspace, "docs", "assets"))
  return { workspace, outside: path.join(dir, "outside") }
})

const patchScenario = (patch: string) =>
  ScriptedModel.scenario([ScriptedModel.patch(patch), ScriptedModel.message("done")])

describe("a path policy against a hostile patch (real Codex)", () => {
  it.scopedLive("control: a patch inside docs/ is approved by the rule, which is named as the decider", () =>
    Effect.gen(function*() {
      const { workspace } = yield* workspaceWithEscape
      const { ended, settled } = yield* run(
        patchScenario(ScriptedModel.addFilePatch("docs/new.md", "hello\n")),
        workspace
      )
      assert.strictEqual(ended.reason, "completed")
      assert.strictEqual(settled.length, 1)
      assert.strictEqual(settled[0]!.outcome, "approved")
      assert.deepInclude(settled[0]!.decidedBy, { _tag: "PolicyRule", index: 0 })
      assert.strictEqual(fs.readFileSync(path.join(workspace, "docs", "new.md"), "utf8"), "hello\n")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a move out of the workspace is not approved by the docs rule, and nothing lands outside", () =>
    Effect.gen(function*() {
      const { outside, workspace } = yield* workspaceWithEscape
      const patch = "*** Begin Patch\n*** Update File: docs/a.md\n*** Move to: ../outside/moved.md\n@@\n-old\n+new\n" +
        "*** End Patch\n"
      const { settled } = yield* run(patchScenario(patch), workspace)
      assert.isAtLeast(settled.length, 1)
      for (const settlement of settled) {
        assert.notStrictEqual(settlement.decidedBy._tag, "PolicyRule")
        assert.strictEqual(settlement.outcome, "denied")
      }
      assert.isFalse(fs.existsSync(path.join(outside, "moved.md")))
      assert.strictEqual(fs.readFileSync(path.join(workspace, "docs", "a.md"), "utf8"), "old\n")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a write through a symlinked docs folder is not approved, and nothing lands outside", () =>
    Effect.gen(function*() {
      const { outside, workspace } = yield* workspaceWithEscape
      const { settled } = yield* run(
        patchScenario(ScriptedModel.addFilePatch("docs/assets/x.md", "pwned\n")),
        workspace
      )
      assert.isAtLeast(settled.length, 1)
      for (const settlement of settled) {
        assert.notStrictEqual(settlement.decidedBy._tag, "PolicyRule")
        assert.strictEqual(settlement.outcome, "denied")
      }
      assert.isFalse(fs.existsSync(path.join(outside, "x.md")))
    }).pipe(Effect.provide(NodeContext.layer)))
})
