/**
 * The history a child starts from: new, cleared, resumed from a rollout, or forked.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { optionalNullable, struct } from "./internal/schema.js"

/**
 * One line of a rollout file: `{type, payload}` (`session_meta`, `event_msg`, `response_item`, ...).
 *
 * @since 0.1.0
 * @category schemas
 */
export const RolloutItem = struct({ type: Schema.String, payload: Schema.Unknown })
  .annotations({ identifier: "RolloutItem" })

/**
 * @since 0.1.0
 * @category models
 */
export type RolloutItem = typeof RolloutItem.Type

/**
 * `"New"`, `"Cleared"`, `{"Resumed": {conversation_id, history, rollout_path}}` or `{"Forked": [...]}`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const InitialHistory = Schema.Union(
  Schema.Literal("New", "Cleared"),
  struct({
    Resumed: struct({
      conversation_id: Schema.String,
      history: Schema.Array(RolloutItem),
      rollout_path: optionalNullable(Schema.String)
    })
  }),
  struct({ Forked: Schema.Array(RolloutItem) })
).annotations({ identifier: "InitialHistory" })

/**
 * @since 0.1.0
 * @category models
 */
export type InitialHistory = typeof InitialHistory.Type
