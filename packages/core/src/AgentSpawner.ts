/**
 * The port that starts children: in memory (`TestAgent`), a process, or the real Codex.
 *
 * @since 0.1.0
 */
import type { InitialHistory, SessionSource } from "@deputy/protocol"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Agent } from "./Agent.js"
import type { SpawnError } from "./Errors.js"

/**
 * What to start. `config` is opaque to the delegate and read by the spawner (e.g. a model name).
 *
 * @since 0.1.0
 * @category models
 */
export interface SpawnOptions {
  /** Why the sub-agent exists (review, compact, spawned by a thread, ...). */
  readonly source: SessionSource.SubAgentSource
  /** The history to start from; new when absent. */
  readonly initialHistory?: InitialHistory.InitialHistory | undefined
  /** The child's working directory. */
  readonly cwd?: string | undefined
  /** Spawner-specific settings. */
  readonly config?: Readonly<Record<string, unknown>> | undefined
}

/**
 * Starts a child. The child lives in the given `Scope`: closing the scope stops it and releases
 * everything it holds (processes, pipes, timers). The current span, if any, is the child's parent trace.
 *
 * @since 0.1.0
 * @category tags
 */
export class AgentSpawner extends Context.Tag("@deputy/core/AgentSpawner")<AgentSpawner, {
  readonly spawn: (options: SpawnOptions) => Effect.Effect<Agent, SpawnError, Scope.Scope>
}>() {}
