/**
 * Operations a caller submits to a child (`Submission.op`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { Opaque } from "./internal/schema.js"
import { opaque, optional, protoSafe, struct, tagged, taggedWithAlias, typeNames } from "./internal/schema.js"
import { RequestPermissionsResponse } from "./Permissions.js"
import { RequestUserInputResponse } from "./RequestUserInput.js"
import { ReviewDecision } from "./ReviewDecision.js"
import { UserInput } from "./UserInput.js"

/** @since 0.1.0 @category schemas */
export const InterruptOp = tagged("interrupt", {})
/** @since 0.1.0 @category schemas */
export const ShutdownOp = tagged("shutdown", {})
/**
 * Start a turn with these items; `final_output_json_schema` constrains the final answer.
 * @since 0.1.0 @category schemas
 */
export const UserInputOp = tagged("user_input", {
  items: Schema.Array(UserInput),
  final_output_json_schema: optional(Schema.Unknown)
})
/**
 * Answer to `exec_approval_request`: `id` is the request's `approval_id ?? call_id`, `turn_id` the child's turn.
 * @since 0.1.0 @category schemas
 */
export const ExecApprovalOp = tagged("exec_approval", {
  id: Schema.String,
  turn_id: optional(Schema.String),
  decision: ReviewDecision
})
/**
 * Answer to `apply_patch_approval_request`: `id` is the request's `call_id`.
 * @since 0.1.0 @category schemas
 */
export const PatchApprovalOp = tagged("patch_approval", { id: Schema.String, decision: ReviewDecision })
/**
 * Answer to `request_user_input`: `id` is the turn id of the request. Also decodes `request_user_input_response`.
 * @since 0.1.0 @category schemas
 */
export const UserInputAnswerOp = taggedWithAlias("user_input_answer", "request_user_input_response", {
  id: Schema.String,
  response: RequestUserInputResponse
})
/**
 * Answer to `request_permissions`: `id` is the tool `call_id`.
 * @since 0.1.0 @category schemas
 */
export const RequestPermissionsResponseOp = tagged("request_permissions_response", {
  id: Schema.String,
  response: RequestPermissionsResponse
})
/**
 * Answer to `elicitation_request`: `request_id` is the request's `id`. `content` (accept only) is what the
 * form asked for; `meta` (since 0.2.0) carries an MCP tool-call approval's `persist` choice
 * (`{"persist": "session" | "always"}`).
 * @since 0.1.0 @category schemas
 */
export const ResolveElicitationOp = tagged("resolve_elicitation", {
  server_name: Schema.String,
  request_id: Schema.Union(Schema.String, Schema.Number),
  decision: Schema.Literal("accept", "decline", "cancel"),
  content: optional(Schema.Unknown),
  meta: optional(Schema.Unknown)
})
/** @since 0.1.0 @category schemas */
export const DynamicToolResponseOp = tagged("dynamic_tool_response", { id: Schema.String, response: Schema.Unknown })
/** @since 0.1.0 @category schemas */
export const CompactOp = tagged("compact", {})
/** @since 0.1.0 @category schemas */
export const ReviewOp = tagged("review", {
  review_request: struct({ target: Schema.Unknown, user_facing_hint: optional(Schema.Unknown) })
})
/** @since 0.1.0 @category schemas */
export const RunUserShellCommandOp = tagged("run_user_shell_command", { command: Schema.String })
/** @since 0.1.0 @category schemas */
export const ThreadRollbackOp = tagged("thread_rollback", { num_turns: Schema.Number })
/** @since 0.1.0 @category schemas */
export const CleanBackgroundTerminalsOp = tagged("clean_background_terminals", {})

const knownOps = [
  InterruptOp,
  ShutdownOp,
  UserInputOp,
  ExecApprovalOp,
  PatchApprovalOp,
  UserInputAnswerOp,
  RequestPermissionsResponseOp,
  ResolveElicitationOp,
  DynamicToolResponseOp,
  CompactOp,
  ReviewOp,
  RunUserShellCommandOp,
  ThreadRollbackOp,
  CleanBackgroundTerminalsOp
] as const

/**
 * The `type` names this version models (aliases included); any other `type` decodes as an opaque op.
 *
 * @since 0.1.0
 * @category constants
 */
export const knownOpTypes: ReadonlySet<string> = typeNames(knownOps)

/** The `type`s of decoded known ops: primary names only (an alias is decoded to its primary name). */
const modelledOpTypes: ReadonlySet<string> = typeNames(
  knownOps.map((member: Schema.Schema.Any) => Schema.typeSchema(member))
)

/**
 * An op whose `type` this version does not model, kept whole and passed through unchanged.
 *
 * @since 0.1.0
 * @category models
 */
export type UnknownOp = Opaque

/**
 * An op this version models.
 *
 * @since 0.1.0
 * @category models
 */
export type KnownOp = Schema.Schema.Type<(typeof knownOps)[number]>

/**
 * An operation, tagged by `type`. Unknown types and unknown fields survive a round trip (same JSON text, key
 * order and `__proto__` keys included).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Op: Schema.Schema<KnownOp | UnknownOp, Schema.Schema.Encoded<(typeof knownOps)[number]> | UnknownOp> =
  protoSafe(Schema.Union(...knownOps, opaque("Op", knownOpTypes)).annotations({ identifier: "Op" }))

/**
 * @since 0.1.0
 * @category models
 */
export type Op = KnownOp | UnknownOp

/**
 * Narrows an op to the variants this version models, so that a `switch (op.type)` narrows each `case`
 * (see `isKnownEventMsg`).
 *
 * @since 0.2.0
 * @category predicates
 */
export const isKnownOp = (op: Op): op is KnownOp => modelledOpTypes.has(op.type)

/**
 * Narrows an op to the modelled variant of that `type`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isOp = <T extends KnownOp["type"]>(op: Op, type: T): op is Extract<KnownOp, { readonly type: T }> =>
  op.type === type
