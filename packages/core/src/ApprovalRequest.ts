/**
 * What a child asks its parent, with provenance, and how each request settled.
 *
 * @since 0.1.0
 */
import type {
  ApplyPatchApprovalRequest,
  ExecApprovalRequest,
  Op,
  RequestPermissionProfile,
  RequestPermissions,
  RequestUserInput,
  ReviewDecision,
  SubAgentSource
} from "@deputy/protocol"
import { isApproval } from "@deputy/protocol"
import type { DecidedBy } from "./DecidedBy.js"

/**
 * The four kinds of request a delegate routes to the parent.
 *
 * @since 0.1.0
 * @category models
 */
export type ApprovalKind = "command" | "patch" | "permissions" | "user_input"

/**
 * The event type of a child withdrawing a request it asked and nobody answered yet (Codex's
 * `serverRequest/resolved`: its turn ended or was interrupted). The delegate settles the request
 * `aborted` with the event's `reason`, stops asking the parent (the prompt is taken down), and sends the
 * child no answer.
 *
 * @since 0.2.0
 * @category constants
 */
export const withdrawnType = "deputy_request_withdrawn" as const

/**
 * A child's withdrawal of the request of this kind and call id (`ApprovalRequest.withdrawnType`).
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestWithdrawn {
  readonly type: typeof withdrawnType
  readonly kind: ApprovalKind
  readonly call_id: string
  readonly reason: string
}

/**
 * Where a request comes from. `id` is unique per delegate (`<delegateId>/<kind>/<callId>`), so two
 * delegates never collide (Codex keys user input by the parent's turn id, and two delegates do).
 *
 * @since 0.1.0
 * @category models
 */
export interface Provenance {
  /** Unique key of this request: `<delegateId>/<kind>/<callId>`. */
  readonly id: string
  /** The delegate that routed it. */
  readonly delegateId: string
  /** The child's turn (the `Event.id` the request arrived with). */
  readonly turnId: string
  /** The tool call the request is about. */
  readonly callId: string
  /** Why the sub-agent exists. */
  readonly source: SubAgentSource
  /** The position of the event the request arrived with, among the delegate's forwarded events. */
  readonly sequence?: number
  /**
   * The asking node's path in a supervised tree (`root/review/tests`); absent outside a tree.
   *
   * @since 0.2.0
   */
  readonly path?: string | undefined
  /**
   * Where the request comes from through the tree: the top-level node first (the supervisor's `root` is
   * not a node and has no link), the asking node last, each with its source and, for every node but the
   * asker, the turn and call in which it started the next one. Absent outside a tree.
   *
   * @since 0.2.0
   */
  readonly chain?: ReadonlyArray<ProvenanceLink> | undefined
}

/**
 * One node on a request's way up a supervised tree.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProvenanceLink {
  /** The node's path (`root/review`). */
  readonly path: string
  /** The node's own name (the last segment of its path). */
  readonly name: string
  /** The node's delegate id. */
  readonly delegateId: string
  /** Why the node exists. */
  readonly source: SubAgentSource
  /** The node's turn in which the next node on the chain was started, when known. */
  readonly turnId?: string | undefined
  /** The tool call that started the next node on the chain, when known. */
  readonly callId?: string | undefined
}

/**
 * The child asks to run a command.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommandApproval extends Provenance {
  readonly kind: "command"
  readonly event: typeof ExecApprovalRequest.Type
}

/**
 * The child asks to apply a patch.
 *
 * @since 0.1.0
 * @category models
 */
export interface PatchApproval extends Provenance {
  readonly kind: "patch"
  readonly event: typeof ApplyPatchApprovalRequest.Type
}

/**
 * The child asks for permissions.
 *
 * @since 0.1.0
 * @category models
 */
export interface PermissionsRequest extends Provenance {
  readonly kind: "permissions"
  readonly event: typeof RequestPermissions.Type
}

/**
 * The child asks the user questions.
 *
 * @since 0.1.0
 * @category models
 */
export interface UserInputRequest extends Provenance {
  readonly kind: "user_input"
  readonly event: typeof RequestUserInput.Type
}

/**
 * Any routed request.
 *
 * @since 0.1.0
 * @category models
 */
export type ApprovalRequest = CommandApproval | PatchApproval | PermissionsRequest | UserInputRequest

/**
 * How a request settled. Every request settles exactly once.
 *
 * @since 0.1.0
 * @category models
 */
export type ApprovalOutcome = "approved" | "approved_for_session" | "denied" | "aborted" | "timed_out"

/**
 * A settled request: the outcome, who decided it (carried from the decider, never re-derived), why it
 * was aborted or timed out (`reason`), how long the parent took, and the exact op the child received.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApprovalSettlement {
  readonly request: ApprovalRequest
  readonly outcome: ApprovalOutcome
  /** Who decided: a person, a policy rule, a fixed setting, a default, a deadline, a cancellation... */
  readonly decidedBy: DecidedBy
  readonly reason?: string | undefined
  readonly waitedMs: number
  readonly answer: Op
}

/**
 * What a permission profile asks for, in words (`network access; write /tmp`); empty when nothing.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describePermissions = (permissions: RequestPermissionProfile): string => {
  const { file_system, network } = permissions
  return [
    network?.enabled ? "network access" : undefined,
    file_system?.read?.length ? `read ${file_system.read.join(", ")}` : undefined,
    file_system?.write?.length ? `write ${file_system.write.join(", ")}` : undefined
  ].filter((part) => part !== undefined).join("; ")
}

/**
 * A one-line description of a request for people: the command, the patched files, the permissions or
 * the questions.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (request: ApprovalRequest): string => {
  switch (request.kind) {
    case "command":
      return `run \`${request.event.command.join(" ")}\` in ${request.event.cwd}`
    case "patch":
      return `apply a patch to ${Object.keys(request.event.changes).join(", ") || "no files"}`
    case "permissions":
      return `grant ${describePermissions(request.event.permissions) || "permissions"}`
    case "user_input":
      return `answer ${request.event.questions.map((question) => JSON.stringify(question.question)).join(", ")}`
  }
}

/**
 * The outcome a review decision stands for.
 *
 * @since 0.1.0
 * @category outcomes
 */
export const outcomeOfDecision = (decision: ReviewDecision): ApprovalOutcome => {
  if (decision === "approved_for_session") return "approved_for_session"
  if (decision === "abort") return "aborted"
  if (decision === "timed_out") return "timed_out"
  return isApproval(decision) ? "approved" : "denied"
}
