/**
 * Problems a transport found in what a child sent (a malformed line, an over-long line), delivered to
 * the caller as events of their own type, `deputy_diagnostic`, so nothing a child sends is lost silently.
 *
 * @since 0.1.0
 */
import type { Event, EventMsg } from "@deputy/protocol"
import * as Schema from "effect/Schema"

/**
 * `{"type":"deputy_diagnostic","kind","message","line"?,"snippet"?}`. Not a Codex type: it passes
 * through the delegate like any other unknown event. `duplicate_request` (since 0.2.0) comes from the
 * delegate itself: the child repeated the id of a pending or answered request, and the repeat was refused.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AgentDiagnostic = Schema.Struct({
  type: Schema.Literal("deputy_diagnostic"),
  kind: Schema.Literal("malformed_line", "line_too_long", "unknown_request", "protocol", "duplicate_request"),
  message: Schema.String,
  line: Schema.optionalWith(Schema.Number, { exact: true }),
  snippet: Schema.optionalWith(Schema.String, { exact: true })
}).annotations({ identifier: "AgentDiagnostic" })

/**
 * @since 0.1.0
 * @category models
 */
export type AgentDiagnostic = typeof AgentDiagnostic.Type

/**
 * Whether an event message is a Deputy diagnostic.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isAgentDiagnostic = (msg: EventMsg.EventMsg): msg is EventMsg.EventMsg & AgentDiagnostic =>
  msg.type === "deputy_diagnostic"

/**
 * Wraps a diagnostic as an event (id `""`: it belongs to no turn).
 *
 * @since 0.1.0
 * @category constructors
 */
export const toEvent = (diagnostic: AgentDiagnostic): Event.Event => ({
  id: "",
  msg: diagnostic as unknown as EventMsg.EventMsg
})
