/**
 * `deputy run --task ... --task ...` over the real Codex (against the scripted model, offline): two Codex
 * children at once under one tree, each asking to run a command, both answered by the one place the CLI
 * answers from (`--approval approve`), each line and record naming its node.
 */
import { CodexHome, ScriptedModel } from "@deputy/codex"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "./utils/cli.js"

describe("deputy run with several tasks over the real Codex", () => {
  afterEach(Cli.stopAll)

  it.scopedLive(
    "two Codex siblings: both commands approved and run, every record names its node, a receipt",
    () =>
      Effect.gen(function*() {
        const model = yield* ScriptedModel.make(ScriptedModel.scenario([
          ScriptedModel.exec("echo ran >> log.txt"),
          ScriptedModel.message("logged")
        ]))
        const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
        const dir = Cli.tempDir()
        const result = yield* Effect.promise(() =>
          Cli.run([
            "run",
            "--json",
            "--approval",
            "approve",
            "--codex-home",
            home.path,
            "--sandbox",
            "danger-full-access",
            ...Object.keys(home.env).filter((name) => name !== "CODEX_HOME").flatMap((name) => ["--env", name]),
            "--cwd",
            dir,
            "--task",
            "review=log it",
            "--task",
            "tests=log it too"
          ], { env: { ...home.env } })
        )
        assert.strictEqual(result.code, 0, result.stderr)
        const records = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, any>)
        const receipt = records.at(-1)!
        assert.strictEqual(receipt.deputy, "receipt")
        assert.deepStrictEqual(receipt.nodes.map((node: any) => [node.node, node.reason, node.last_agent_message]), [
          ["root/review", "completed", "logged"],
          ["root/tests", "completed", "logged"]
        ])
        const approvals = records.filter((record) => record.deputy === "approval")
        assert.deepStrictEqual(approvals.map((record) => [record.node, record.outcome]).sort(), [
          ["root/review", "approved"],
          ["root/tests", "approved"]
        ])
        for (const record of records.slice(0, -1)) assert.include(["root/review", "root/tests"], record.node)
        assert.strictEqual(fs.readFileSync(path.join(dir, "log.txt"), "utf8"), "ran\nran\n")
        for (const node of receipt.nodes) {
          for (const pid of node.pids_killed ?? []) assert.isFalse(Cli.isAlive(pid), `pid ${pid}`)
        }
      }).pipe(Effect.provide(NodeContext.layer)),
    120_000
  )

  it.scopedLive(
    "Ctrl-C stops a tree of stalled Codex children: the receipt names the Codex pids, all gone",
    () =>
      Effect.gen(function*() {
        const model = yield* ScriptedModel.make(ScriptedModel.scenario([ScriptedModel.stall]))
        const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
        const child = Cli.spawnDeputy([
          "run",
          "--json",
          "--approval",
          "deny",
          "--drain-timeout",
          "5s",
          "--codex-home",
          home.path,
          ...Object.keys(home.env).filter((name) => name !== "CODEX_HOME").flatMap((name) => ["--env", name]),
          "--cwd",
          Cli.tempDir(),
          "--task",
          "a=wait",
          "--task",
          "b=wait"
        ], { env: { ...home.env } })
        let stdout = ""
        child.stdout.on("data", (data) => (stdout += data))
        const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
        // Both turns started (each Codex is waiting on the stalled model).
        for (let n = 0; (stdout.match(/"type":"task_started"/g) ?? []).length < 2; n++) {
          assert.isBelow(n, 3000, "both turns start within 60 s")
          yield* Effect.sleep("20 millis")
        }
        child.kill("SIGINT")
        assert.strictEqual(yield* Effect.promise(() => exited), 130)
        const receipt = JSON.parse(stdout.trim().split("\n").at(-1)!)
        assert.strictEqual(receipt.deputy, "receipt")
        assert.strictEqual(receipt.stopped, "interrupted")
        assert.deepStrictEqual(receipt.nodes.map((node: any) => [node.node, node.reason]), [
          ["root/a", "interrupted"],
          ["root/b", "interrupted"]
        ])
        for (const node of receipt.nodes) {
          assert.isAbove(node.pids_killed?.length ?? 0, 0, `${node.node}: its Codex process is named`)
          for (const pid of node.pids_killed) assert.isFalse(Cli.isAlive(pid), `pid ${pid}`)
        }
      }).pipe(Effect.provide(NodeContext.layer)),
    120_000
  )
})
