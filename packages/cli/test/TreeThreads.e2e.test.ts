/**
 * `deputy run --task` over the real Codex (0.171 with `features.multi_agent_v2`, the scripted model) whose
 * agent spawns a sub-agent of its own (`spawn_agent`): the sub-agent is a node of the tree
 * (`root/review/galileo`), its command approval is answered by the CLI's one `Approvals` with that node and
 * chain, and both the human output and the `--json` records name it.
 */
import { CodexHome, ScriptedModel } from "@deputy/codex"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "./utils/cli.js"

/** A scripted Codex home with Codex's own sub-agents on (`[features] multi_agent_v2 = true`). */
const home = Effect.gen(function*() {
  const model = yield* ScriptedModel.make(ScriptedModel.subAgentScenario)
  const made = yield* CodexHome.make({ baseUrl: model.baseUrl })
  const config = path.join(made.path, "config.toml")
  fs.writeFileSync(
    config,
    fs.readFileSync(config, "utf8").replace("[features]\n", "[features]\nmulti_agent_v2 = true\n")
  )
  return made
})

const run = (made: CodexHome.CodexHome, dir: string, extra: ReadonlyArray<string>) =>
  Effect.promise(() =>
    Cli.run([
      "run",
      ...extra,
      "--approval",
      "approve",
      "--codex-home",
      made.path,
      ...Object.keys(made.env).filter((name) => name !== "CODEX_HOME").flatMap((name) => ["--env", name]),
      "--cwd",
      dir,
      "--task",
      "review=spawn galileo"
    ], { env: { ...made.env } })
  )

describe("deputy run: a Codex task's own sub-agents", () => {
  afterEach(Cli.stopAll)

  it.scopedLive(
    "--json: the approval record and the receipt name root/review/galileo",
    () =>
      Effect.gen(function*() {
        const dir = Cli.tempDir()
        const result = yield* run(yield* home, dir, ["--json"])
        assert.strictEqual(result.code, 0, result.stderr)
        const records = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, any>)
        const approvals = records.filter((record) => record.deputy === "approval")
        assert.deepStrictEqual(approvals.map((record) => [record.node, record.chain, record.outcome]), [
          ["root/review/galileo", ["root/review", "root/review/galileo"], "approved"]
        ])
        const receipt = records.at(-1)!
        assert.strictEqual(receipt.deputy, "receipt")
        assert.deepStrictEqual(receipt.nodes.map((node: any) => [node.node, node.reason, node.last_agent_message]), [
          ["root/review", "completed", "parent done"],
          ["root/review/galileo", "completed", "sub done"]
        ])
        assert.strictEqual(fs.readFileSync(path.join(dir, "sub.txt"), "utf8"), "sub\n")
      }).pipe(Effect.provide(NodeContext.layer)),
    120_000
  )

  it.scopedLive(
    "human output: the sub-agent's node is shown when it starts, in the decision and in the receipt",
    () =>
      Effect.gen(function*() {
        const dir = Cli.tempDir()
        const result = yield* run(yield* home, dir, [])
        assert.strictEqual(result.code, 0, result.stderr)
        const text = result.stdout + result.stderr
        assert.include(text, "⑂ sub-agent review/galileo started (root/review/galileo)")
        assert.include(text, "⑂ sub-agent review/galileo finished a turn: completed")
        assert.match(text, /review\/galileo │ ✔ approved by --approval approve: run `echo sub >> sub.txt`/)
        assert.match(text, /receipt: 1 task \(\+1 sub-agent of their own\)/)
        assert.match(text, /review\/galileo\s*│ ✔ completed/)
      }).pipe(Effect.provide(NodeContext.layer)),
    120_000
  )
})
