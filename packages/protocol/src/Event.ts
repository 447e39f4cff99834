/**
 * What a child emits: an event message with the id of the submission that started its turn.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { EventMsg } from "./EventMsg.js"
import { inner, protoSafe, struct } from "./internal/schema.js"

/**
 * `{id, msg}`: `id` is the submission id that started the current turn (`""` at session start).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Event = protoSafe(struct({ id: Schema.String, msg: inner(EventMsg) }).annotations({ identifier: "Event" }))

/**
 * @since 0.1.0
 * @category models
 */
export type Event = typeof Event.Type
