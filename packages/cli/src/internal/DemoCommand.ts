/**
 * `deputy demo`: the real Codex (`codex app-server`) against a scripted model on 127.0.0.1 — offline, no
 * credentials — in a temporary directory. The sub-agent asks to run a command, then to apply a patch,
 * then reports; each request goes through the same approvals as `deputy run`.
 *
 * @since 0.1.0
 */
import { CodexAgent, ScriptedModel } from "@deputy/codex"
import { Errors } from "@deputy/core"
import * as Command from "@effect/cli/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LedgerSetup from "../LedgerSetup.js"
import * as Flags from "./Flags.js"
import * as Launch from "./Launch.js"
import * as Signals from "./Signals.js"

const options = {
  approval: Flags.approval,
  policy: Flags.policy,
  json: Flags.json,
  drainTimeout: Flags.drainTimeout,
  approvalTimeout: Flags.approvalTimeout,
  ledger: LedgerSetup.option
}

/**
 * The prompt of the demo turn (the scripted model follows its script whatever it is asked).
 *
 * @since 0.1.0
 * @category constants
 */
export const prompt = "Write a greeting into deputy-demo.txt and show it, then add a NOTES.md file."

/**
 * `deputy demo`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("demo", options, (parsed) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    // Removed by `removeOnQuit` when the scope closes, or at once on a second Ctrl-C (finalizers skipped).
    const workspace = yield* fs.makeTempDirectory({ prefix: "deputy-demo-" })
    yield* Signals.removeOnQuit(workspace)
    const agent = CodexAgent.layerScripted().pipe(
      Layer.provide(ScriptedModel.layer(ScriptedModel.demoScenario)),
      Layer.mapError((error) => new Errors.SpawnError({ agent: "codex (demo)", reason: error.message, cause: error }))
    )
    yield* Launch.launch({
      ...parsed,
      input: prompt,
      interactive: false,
      cwd: workspace,
      source: { other: "deputy demo" },
      banner: [
        "Deputy demo: the real Codex (codex app-server) drives a scripted model on 127.0.0.1 — offline, no credentials.",
        `Workspace: ${workspace} (removed afterwards). The sub-agent will ask to run a command, then to apply a patch.`
      ]
    }, agent)
  }).pipe(Effect.scoped)).pipe(
    Command.withDescription(
      "Watch a sub-agent ask for approvals, offline: the real Codex against a scripted model, in a temporary directory."
    )
  )
