/**
 * Which sub-agent a run starts: the real Codex (`codex app-server`) or any program speaking Deputy's
 * JSON-lines protocol (`--agent process --agent-command "CMD ARGS"`).
 *
 * @since 0.1.0
 */
import { ProcessAgent } from "@deputy/agent-process"
import { CodexAgent } from "@deputy/codex"
import type { AgentSpawner } from "@deputy/core"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"

/**
 * What the sub-agent's environment gets from the parent's: the allow-list plus `env` (`--env NAME`), or
 * everything with `inheritEnv` (`--inherit-env`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Environment {
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly inheritEnv?: boolean | undefined
}

/**
 * The agent of a run.
 *
 * @since 0.1.0
 * @category models
 */
export type AgentChoice =
  | (Environment & {
    readonly _tag: "Codex"
    /** `CODEX_HOME`; absent: inherited (Codex's default `~/.codex`). */
    readonly codexHome?: string | undefined
    /** The Codex executable; absent: `codex` on `PATH`, else the bundled one. */
    readonly binary?: string | undefined
    readonly sandbox?: CodexAgent.SandboxMode | undefined
    readonly model?: string | undefined
    /** How long a turn may wait on the model without progress (`--turn-timeout`). @since 0.2.0 */
    readonly turnTimeout?: Duration.Duration | undefined
    /** Run Codex so that it outlives a crash of `deputy` (`--approval inbox`). @since 0.2.0 */
    readonly durable?: CodexAgent.Options["durable"]
  })
  | (Environment & {
    readonly _tag: "Process"
    readonly command: string
    readonly args: ReadonlyArray<string>
  })

/**
 * The spawner for a choice.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  choice: AgentChoice
): Layer.Layer<AgentSpawner.AgentSpawner, never, CommandExecutor.CommandExecutor> =>
  choice._tag === "Process"
    ? ProcessAgent.layer({
      command: choice.command,
      args: choice.args,
      env: choice.env,
      inheritEnv: choice.inheritEnv
    })
    : CodexAgent.layer({
      binary: choice.binary,
      codexHome: choice.codexHome,
      sandbox: choice.sandbox,
      model: choice.model,
      turnTimeout: choice.turnTimeout,
      durable: choice.durable,
      env: choice.env,
      inheritEnv: choice.inheritEnv
    })
