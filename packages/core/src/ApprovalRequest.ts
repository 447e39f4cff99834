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
import { join as joinWords } from "./ShellWords.js"

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
  /**
   * The thread the child spawned itself that asks through it (a Codex sub-agent started with
   * `spawn_agent`), when the request is not the child's own; absent otherwise.
   *
   * @since 0.2.0
   */
  readonly thread?: NestedThread | undefined
}

/**
 * A thread a child spawned itself (Codex: a thread with `parentThreadId`), as its requests carry it.
 *
 * @since 0.2.0
 * @category models
 */
export interface NestedThread {
  /** The thread's id. */
  readonly id: string
  /** The thread that spawned it. */
  readonly parentId?: string | undefined
  /** Its nickname (Codex's `agentNickname`), when it has one. */
  readonly nickname?: string | undefined
  /** Its role (Codex's `agentRole`), when it has one. */
  readonly role?: string | undefined
}

/**
 * The field of a request event that names the nested thread asking (`NestedThread`, set by the child's
 * adapter, e.g. `@deputy/codex`); the delegate copies it into `Provenance.thread`.
 *
 * @since 0.2.0
 * @category constants
 */
export const threadField = "deputy_thread" as const

/**
 * The nested thread a request event names (`threadField`), if any; anything malformed is ignored.
 *
 * @since 0.2.0
 * @category accessors
 */
export const threadOf = (msg: unknown): NestedThread | undefined => {
  if (typeof msg !== "object" || msg === null) return undefined
  const thread = (msg as Record<string, unknown>)[threadField]
  if (typeof thread !== "object" || thread === null) return undefined
  const { id, nickname, parentId, role } = thread as Record<string, unknown>
  if (typeof id !== "string") return undefined
  const text = (value: unknown) => typeof value === "string" ? value : undefined
  return { id, parentId: text(parentId), nickname: text(nickname), role: text(role) }
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
 * The network access a command request asks for (Codex's `networkApprovalContext`: the command tries
 * to reach `host` over `protocol` and the sandbox asks first), or `undefined` for any other request.
 *
 * @since 0.2.0
 * @category accessors
 */
export const networkAccess = (
  request: ApprovalRequest
): { readonly host: string; readonly protocol: string } | undefined => {
  if (request.kind !== "command") return undefined
  const context = request.event.network_approval_context
  if (context === undefined || context === null) return undefined
  return { host: context.host, protocol: typeof context.protocol === "string" ? context.protocol : "unknown" }
}

/**
 * Whether the child waits for the answer to its questions (Codex's `isBlocking`, carried as the event's
 * `is_blocking`): `false` when it goes on without one; `true` when it waits or does not say.
 *
 * @since 0.2.0
 * @category accessors
 */
export const isBlocking = (request: UserInputRequest): boolean => request.event.is_blocking !== false

/**
 * A one-line description of a request for people: the command (its words quoted as a shell would read
 * them, so `["rm", "/tmp/x /"]` shows as `rm '/tmp/x /'`), the patched files, the permissions or the questions.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (request: ApprovalRequest): string => {
  switch (request.kind) {
    case "command": {
      const network = networkAccess(request)
      const run = `run \`${joinWords(request.event.command)}\` in ${request.event.cwd}`
      return network === undefined ? run : `reach ${network.host} (${network.protocol}) to ${run}`
    }
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
