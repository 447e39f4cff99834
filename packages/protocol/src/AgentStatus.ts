/**
 * The child's lifecycle status, derived from the events it emits.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { struct } from "./internal/schema.js"

/**
 * `"pending_init"`, `"running"`, `"interrupted"`, `{"completed": lastMessage|null}`, `{"errored": message}`,
 * `"shutdown"`, `"not_found"`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentStatus = Schema.Union(
  Schema.Literal("pending_init", "running", "interrupted", "shutdown", "not_found"),
  struct({ completed: Schema.NullOr(Schema.String) }),
  struct({ errored: Schema.String })
).annotations({ identifier: "AgentStatus" })

/**
 * @since 0.1.0
 * @category models
 */
export type AgentStatus = typeof AgentStatus.Type
