/** The decision a policy action sends a command or patch request (one home for the policy and the tree). */
import type { ReviewDecision } from "@deputy/protocol"
import type { PolicyAction } from "../Approvals.js"

/** `approve` → `approved`, `approve_for_session` → `approved_for_session`, `deny` → `denied`, `abort` → `abort`. */
export const reviewDecisionOf = (action: Exclude<PolicyAction, "defer">): ReviewDecision.ReviewDecision =>
  action === "approve"
    ? "approved"
    : action === "approve_for_session"
    ? "approved_for_session"
    : action === "deny"
    ? "denied"
    : "abort"
