/**
 * Real Codex, the costs of failing fast and changing nothing: how long a spawn without credentials takes to
 * fail (per bundled version: process, `initialize`, `account/read`), and the spawn-to-ready time with the
 * scratch overlay of `CODEX_HOME` (the default) against Codex writing into the home (`writeCodexConfig`).
 */
import { CodexAgent, CodexBinary, CodexHome, ScriptedModel } from "@deputy/codex"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { check, type SectionResult, series, type Size } from "./stats.js"

const versions = Object.keys(CodexBinary.bundledPackages) as Array<keyof typeof CodexBinary.bundledPackages>

const once = Effect.gen(function*() {
  const files = yield* FileSystem.FileSystem
  const cwd = yield* files.makeTempDirectoryScoped({ prefix: "deputy-bench-failfast-" })
  const bare = yield* files.makeTempDirectoryScoped({ prefix: "deputy-bench-nocreds-" })
  fs.writeFileSync(
    path.join(bare, "config.toml"),
    CodexHome.configToml({ baseUrl: "http://127.0.0.1:9/v1" }).replace("model_provider = \"scripted\"\n", "")
      .replace(/\[model_providers\.scripted\][\s\S]*$/, "")
  )
  const out: Record<string, number> = {}
  for (const version of versions) {
    const binary = (yield* CodexBinary.bundledBinary(version)).path
    const started = performance.now()
    const failed = yield* Effect.flip(
      Effect.scoped(
        CodexAgent.spawn({ binary, codexHome: bare, env: { OPENAI_API_KEY: "" } }, { source: "review", cwd })
      )
    )
    out[`noCredentialsFailMs_${version.replace(/\./g, "_")}`] = performance.now() - started
    check(failed.reason.includes("codex login"), `unexpected failure: ${failed.reason}`)
  }
  const model = yield* ScriptedModel.make(ScriptedModel.messageScenario())
  const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
  const binary = (yield* CodexBinary.bundledBinary()).path
  for (const [name, writeCodexConfig] of [["spawnReadyMsOverlay", false], ["spawnReadyMsInPlace", true]] as const) {
    const started = performance.now()
    yield* Effect.scoped(
      CodexAgent.spawn({ binary, codexHome: home.path, env: home.env, ephemeral: true, writeCodexConfig }, {
        source: "review",
        cwd
      })
    )
    out[name] = performance.now() - started
  }
  return out
}).pipe(Effect.scoped, Effect.provide(NodeContext.layer))

export const run = async (size: Size): Promise<SectionResult> => ({
  metrics: await series(size, () => Effect.runPromise(once)),
  notes: [
    "spawn without credentials until its SpawnError, per bundled Codex version; spawn to ready (ms, incl. stop) " +
    "with the CODEX_HOME overlay vs in place"
  ]
})
