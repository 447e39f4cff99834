/**
 * Where a session comes from; for a delegate, which kind of sub-agent it is.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { optionalNullable, struct } from "./internal/schema.js"

/**
 * Why a sub-agent exists: `review`, `compact`, `memory_consolidation`, `{other: label}` or
 * `{thread_spawn: {...}}` (spawned by another thread, with its depth and path).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SubAgentSource = Schema.Union(
  Schema.Literal("review", "compact", "memory_consolidation"),
  struct({ other: Schema.String }),
  struct({
    thread_spawn: struct({
      parent_thread_id: Schema.String,
      depth: Schema.Number,
      agent_path: optionalNullable(Schema.Unknown),
      agent_nickname: optionalNullable(Schema.String),
      agent_role: optionalNullable(Schema.String)
    })
  })
).annotations({ identifier: "SubAgentSource" })

/**
 * @since 0.1.0
 * @category models
 */
export type SubAgentSource = typeof SubAgentSource.Type

/**
 * The session's origin: `cli`, `vscode`, `exec`, `mcp`, `{custom: name}` or `{subagent: SubAgentSource}`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SessionSource = Schema.Union(
  Schema.Literal("cli", "vscode", "exec", "mcp"),
  struct({ custom: Schema.String }),
  struct({ subagent: SubAgentSource })
).annotations({ identifier: "SessionSource" })

/**
 * @since 0.1.0
 * @category models
 */
export type SessionSource = typeof SessionSource.Type
