/**
 * A self-contained `CODEX_HOME` for offline runs: a temporary directory with a `config.toml` that points Codex
 * at a scripted model on loopback (provider `scripted`, key from `SCRIPTED_MODEL_KEY`), with everything that
 * would reach the network (update checks, plugins, analytics, web search) switched off.
 *
 * @since 0.1.0
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as path from "node:path"
import { remove, track } from "./internal/scratchDirs.js"
import { ScriptedModel } from "./ScriptedModel.js"

/**
 * A Codex home directory and the environment a Codex process needs to use it.
 *
 * @since 0.1.0
 * @category models
 */
export interface CodexHome {
  readonly path: string
  /** `CODEX_HOME` and `SCRIPTED_MODEL_KEY`. */
  readonly env: Readonly<Record<string, string>>
}

/**
 * What the configuration points at.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The provider's base URL; Codex POSTs `{baseUrl}/responses`. */
  readonly baseUrl: string
  /** A model slug from Codex's catalog (default `gpt-5.5`: the full tool set, `apply_patch` included). */
  readonly model?: string | undefined
  /** More TOML appended to the file. */
  readonly extraToml?: string | undefined
}

/**
 * The environment variable holding the scripted provider's (dummy) API key.
 *
 * @since 0.1.0
 * @category constants
 */
export const apiKeyVariable = "SCRIPTED_MODEL_KEY"

/**
 * The `config.toml` text (see CODEX.md: without the feature switches Codex tries to reach github.com, and
 * retries are off so an injected failure ends the turn at once).
 *
 * @since 0.1.0
 * @category constructors
 */
export const configToml = (options: Options): string =>
  `model = ${JSON.stringify(options.model ?? "gpt-5.5")}
model_provider = "scripted"
check_for_update_on_startup = false
web_search = "disabled"

[analytics]
enabled = false

[feedback]
enabled = false

[history]
persistence = "none"

[features]
apps = false
plugins = false
remote_plugin = false
tool_suggest = false
daemon_auto_start = false
image_generation = false
browser_use = false
computer_use = false
in_app_updates = false
api_key_model_discovery = false
code_mode_host = false
shell_snapshot = false
skill_mcp_dependency_install = false

[model_providers.scripted]
name = "scripted"
base_url = ${JSON.stringify(options.baseUrl)}
wire_api = "responses"
env_key = "${apiKeyVariable}"
request_max_retries = 0
stream_max_retries = 0
${options.extraToml === undefined ? "" : `\n${options.extraToml}\n`}`

/**
 * Writes a Codex home in a new temporary directory, removed when the scope closes (and, should the scope
 * never close, when the process exits).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<CodexHome, PlatformError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* Effect.acquireRelease(
      Effect.tap(fs.makeTempDirectory({ prefix: "deputy-codex-home-" }), (dir) => Effect.sync(() => track(dir))),
      (dir) => Effect.sync(() => remove(dir)).pipe(Effect.catchAllDefect(Effect.logWarning))
    )
    yield* fs.writeFileString(path.join(dir, "config.toml"), configToml(options))
    return { path: dir, env: { CODEX_HOME: dir, [apiKeyVariable]: "scripted" } }
  })

/**
 * A Codex home pointing at the `ScriptedModel` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const scripted = (
  options?: Omit<Options, "baseUrl">
): Effect.Effect<
  CodexHome,
  PlatformError,
  ScriptedModel | FileSystem.FileSystem | Scope.Scope
> => Effect.flatMap(ScriptedModel, (model) => make({ ...options, baseUrl: model.baseUrl }))
