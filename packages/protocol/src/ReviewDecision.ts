/**
 * The parent's answer to a command or patch approval request.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { optional, struct } from "./internal/schema.js"

/**
 * A network policy amendment proposed with an approval: allow or deny a host from now on.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NetworkPolicyAmendment = struct({
  host: Schema.String,
  action: Schema.Literal("allow", "deny")
}).annotations({ identifier: "NetworkPolicyAmendment" })

/**
 * A review decision, externally tagged as Codex serializes it: the unit variants are bare strings
 * (`"approved"`, `"approved_for_session"`, `"denied"`, `"timed_out"`, `"abort"`), the others single-key
 * objects. Both forms of `denied` decode: `"denied"` (March 2026) and `{"denied":{"rejection":...}}` (July 2026).
 * `abort` makes Codex interrupt the child's turn; `denied` lets the turn go on without running the action.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ReviewDecision = Schema.Union(
  Schema.Literal("approved", "approved_for_session", "denied", "timed_out", "abort"),
  struct({
    approved_execpolicy_amendment: struct({ proposed_execpolicy_amendment: Schema.Array(Schema.String) })
  }),
  struct({
    network_policy_amendment: struct({ network_policy_amendment: NetworkPolicyAmendment })
  }),
  struct({ denied: struct({ rejection: optional(Schema.String) }) })
).annotations({ identifier: "ReviewDecision" })

/**
 * @since 0.1.0
 * @category models
 */
export type ReviewDecision = typeof ReviewDecision.Type

/**
 * Whether a decision lets the action run.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isApproval = (decision: ReviewDecision): boolean =>
  decision === "approved" || decision === "approved_for_session" ||
  (typeof decision === "object" && ("approved_execpolicy_amendment" in decision ||
    ("network_policy_amendment" in decision &&
      decision.network_policy_amendment.network_policy_amendment.action === "allow")))

/**
 * Whether a decision is a denial, in either wire form.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isDenial = (decision: ReviewDecision): boolean =>
  decision === "denied" || (typeof decision === "object" && "denied" in decision)
