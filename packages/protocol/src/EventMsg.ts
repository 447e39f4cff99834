/**
 * What a child emits (`Event.msg`): Codex's `EventMsg`, tagged by `type`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { FileChange } from "./FileChange.js"
import type { Opaque } from "./internal/schema.js"
import {
  opaque,
  optional,
  optionalNullable,
  protoSafe,
  struct,
  tagged,
  taggedWithAlias,
  typeNames
} from "./internal/schema.js"
import { RequestPermissionProfile } from "./Permissions.js"
import { UserInputQuestion } from "./RequestUserInput.js"
import { ReviewDecision } from "./ReviewDecision.js"

/**
 * Why a turn was aborted.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TurnAbortReason = Schema.Literal("interrupted", "replaced", "review_ended", "budget_limited")
  .annotations({ identifier: "TurnAbortReason" })

/**
 * @since 0.1.0
 * @category models
 */
export type TurnAbortReason = typeof TurnAbortReason.Type

/**
 * Token counts of one request or of the whole session.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TokenUsage = struct({
  input_tokens: Schema.Number,
  cached_input_tokens: optional(Schema.Number),
  output_tokens: Schema.Number,
  reasoning_output_tokens: optional(Schema.Number),
  total_tokens: Schema.Number
}).annotations({ identifier: "TokenUsage" })

/**
 * @since 0.1.0
 * @category models
 */
export type TokenUsage = typeof TokenUsage.Type

/**
 * The usage part of a `token_count` event: running total and last request.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TokenUsageInfo = struct({
  total_token_usage: TokenUsage,
  last_token_usage: TokenUsage,
  model_context_window: optionalNullable(Schema.Number)
}).annotations({ identifier: "TokenUsageInfo" })

/** A turn started. Decodes the alias `turn_started`. @since 0.1.0 @category schemas */
export const TaskStarted = taggedWithAlias("task_started", "turn_started", {
  turn_id: Schema.String,
  started_at: optionalNullable(Schema.Number),
  model_context_window: optionalNullable(Schema.Number),
  collaboration_mode_kind: optionalNullable(Schema.Unknown)
})
/**
 * A turn ended. Decodes the alias `turn_complete`. Since Codex 0.169 a failed turn also ends this way,
 * with `error` set (use `turnError`).
 * @since 0.1.0 @category schemas
 */
export const TaskComplete = taggedWithAlias("task_complete", "turn_complete", {
  turn_id: Schema.String,
  last_agent_message: Schema.NullOr(Schema.String),
  error: optionalNullable(struct({ message: Schema.String, codex_error_info: optionalNullable(Schema.Unknown) })),
  completed_at: optionalNullable(Schema.Number),
  duration_ms: optionalNullable(Schema.Number),
  time_to_first_token_ms: optionalNullable(Schema.Number)
})
/** A turn was aborted. @since 0.1.0 @category schemas */
export const TurnAborted = tagged("turn_aborted", {
  turn_id: optionalNullable(Schema.String),
  reason: TurnAbortReason,
  completed_at: optionalNullable(Schema.Number),
  duration_ms: optionalNullable(Schema.Number)
})
/** The child reports an error. @since 0.1.0 @category schemas */
export const ErrorEvent = tagged("error", {
  message: Schema.String,
  codex_error_info: optionalNullable(Schema.Unknown)
})
/** The child finished shutting down. @since 0.1.0 @category schemas */
export const ShutdownComplete = tagged("shutdown_complete", {})
/** Token usage update (filtered by the delegate, rolled up into its usage). @since 0.1.0 @category schemas */
export const TokenCount = tagged("token_count", {
  info: optionalNullable(TokenUsageInfo),
  rate_limits: optionalNullable(Schema.Unknown)
})
/** The session's configuration (filtered by the delegate). @since 0.1.0 @category schemas */
export const SessionConfigured = tagged("session_configured", { session_id: Schema.String, model: Schema.String })
/** A complete message of the agent. @since 0.1.0 @category schemas */
export const AgentMessage = tagged("agent_message", { message: Schema.String })
/** Streaming text deltas (filtered by the delegate). @since 0.1.0 @category schemas */
export const AgentMessageDelta = tagged("agent_message_delta", { delta: Schema.String })
/** @since 0.1.0 @category schemas */
export const AgentReasoningDelta = tagged("agent_reasoning_delta", { delta: Schema.String })
/** @since 0.1.0 @category schemas */
export const AgentReasoningRawContentDelta = tagged("agent_reasoning_raw_content_delta", { delta: Schema.String })

/**
 * A thread the child spawned itself that asks through it (Codex's `spawn_agent` threads), as the child's
 * adapter names it on a request event (`deputy_thread`). Open: unknown fields are kept.
 *
 * @since 0.2.0
 * @category schemas
 */
export const DeputyThread = struct({
  id: Schema.String,
  parentId: optional(Schema.String),
  nickname: optional(Schema.String),
  role: optional(Schema.String)
}).annotations({ identifier: "DeputyThread" })

/**
 * The nested thread a request event comes from, when the child's adapter says so (`DeputyThread`).
 * Deputy's own field, outside Codex's protocol.
 */
const deputyThread = { deputy_thread: optional(DeputyThread) }

/** The child asks to run a command. @since 0.1.0 @category schemas */
export const ExecApprovalRequest = tagged("exec_approval_request", {
  call_id: Schema.String,
  approval_id: optionalNullable(Schema.String),
  turn_id: optional(Schema.String),
  command: Schema.Array(Schema.String),
  cwd: Schema.String,
  reason: optionalNullable(Schema.String),
  network_approval_context: optionalNullable(struct({ host: Schema.String, protocol: Schema.Unknown })),
  proposed_execpolicy_amendment: optionalNullable(Schema.Array(Schema.String)),
  proposed_network_policy_amendments: optionalNullable(Schema.Unknown),
  additional_permissions: optionalNullable(Schema.Unknown),
  available_decisions: optionalNullable(Schema.Array(ReviewDecision)),
  parsed_cmd: optional(Schema.Array(Schema.Unknown)),
  started_at_ms: optionalNullable(Schema.Number),
  ...deputyThread
})
/** The child asks to apply a patch. @since 0.1.0 @category schemas */
export const ApplyPatchApprovalRequest = tagged("apply_patch_approval_request", {
  call_id: Schema.String,
  turn_id: optional(Schema.String),
  changes: Schema.Record({ key: Schema.String, value: FileChange }),
  reason: optionalNullable(Schema.String),
  grant_root: optionalNullable(Schema.String),
  started_at_ms: optionalNullable(Schema.Number),
  ...deputyThread
})
/** The child asks for permissions (network, paths). @since 0.1.0 @category schemas */
export const RequestPermissions = tagged("request_permissions", {
  call_id: Schema.String,
  turn_id: optional(Schema.String),
  reason: optionalNullable(Schema.String),
  permissions: RequestPermissionProfile,
  cwd: optionalNullable(Schema.String),
  environment_id: optionalNullable(Schema.String),
  ...deputyThread
})
/**
 * The child asks the user questions. `is_blocking` (since 0.2.0; Codex 0.171's `isBlocking`, absent before):
 * whether the child waits for the answer.
 * @since 0.1.0 @category schemas
 */
export const RequestUserInput = tagged("request_user_input", {
  call_id: Schema.String,
  turn_id: optional(Schema.String),
  questions: Schema.Array(UserInputQuestion),
  is_blocking: optional(Schema.Boolean),
  ...deputyThread
})

/**
 * What an MCP server asks (Codex's `ElicitationRequest`, tagged by `mode`): a form (`requested_schema`, a
 * flat JSON Schema object), or a URL to open (`url`, `elicitation_id`). `mode` is open: a mode this version
 * does not know decodes (Deputy declines it). `_meta` carries Codex's MCP tool-call approvals
 * (`codex_approval_kind: "mcp_tool_call"`, `persist: ["session", "always"]`).
 *
 * @since 0.2.0
 * @category schemas
 */
export const ElicitationRequestBody = struct({
  mode: Schema.String,
  _meta: optionalNullable(Schema.Unknown),
  message: Schema.String,
  requested_schema: optionalNullable(Schema.Unknown),
  url: optionalNullable(Schema.String),
  elicitation_id: optionalNullable(Schema.String)
}).annotations({ identifier: "ElicitationRequestBody" })

/**
 * An MCP server the child uses asks the user something (Codex's `elicitation_request`; the app-server's
 * `mcpServer/elicitation/request`). Answered with `resolve_elicitation` (`server_name`, `request_id: id`).
 * @since 0.2.0 @category schemas
 */
export const ElicitationRequest = tagged("elicitation_request", {
  turn_id: optionalNullable(Schema.String),
  server_name: Schema.String,
  id: Schema.Union(Schema.String, Schema.Number),
  request: ElicitationRequestBody,
  ...deputyThread
})
/** A command started. @since 0.1.0 @category schemas */
export const ExecCommandBegin = tagged("exec_command_begin", {
  call_id: Schema.String,
  turn_id: optional(Schema.String),
  command: Schema.Array(Schema.String),
  cwd: Schema.String
})
/** A command ended, with its exit code and output. @since 0.1.0 @category schemas */
export const ExecCommandEnd = tagged("exec_command_end", {
  call_id: Schema.String,
  turn_id: optional(Schema.String),
  command: optional(Schema.Array(Schema.String)),
  cwd: optional(Schema.String),
  exit_code: Schema.Number,
  stdout: optional(Schema.String),
  stderr: optional(Schema.String),
  aggregated_output: optional(Schema.String),
  duration: optional(Schema.Unknown),
  status: optional(Schema.Unknown)
})
/** A patch is being applied. @since 0.1.0 @category schemas */
export const PatchApplyBegin = tagged("patch_apply_begin", {
  call_id: Schema.String,
  turn_id: optional(Schema.String),
  auto_approved: optional(Schema.Boolean),
  changes: optional(Schema.Record({ key: Schema.String, value: FileChange }))
})
/** A patch was applied (or failed). @since 0.1.0 @category schemas */
export const PatchApplyEnd = tagged("patch_apply_end", {
  call_id: Schema.String,
  turn_id: optional(Schema.String),
  stdout: optional(Schema.String),
  stderr: optional(Schema.String),
  success: Schema.Boolean
})

const knownEventMsgs = [
  TaskStarted,
  TaskComplete,
  TurnAborted,
  ErrorEvent,
  ShutdownComplete,
  TokenCount,
  SessionConfigured,
  AgentMessage,
  AgentMessageDelta,
  AgentReasoningDelta,
  AgentReasoningRawContentDelta,
  ExecApprovalRequest,
  ApplyPatchApprovalRequest,
  RequestPermissions,
  RequestUserInput,
  ElicitationRequest,
  ExecCommandBegin,
  ExecCommandEnd,
  PatchApplyBegin,
  PatchApplyEnd
] as const

/**
 * The `type` names this version models (aliases included); any other `type` decodes as an opaque event.
 *
 * @since 0.1.0
 * @category constants
 */
export const knownEventMsgTypes: ReadonlySet<string> = typeNames(knownEventMsgs)

/** The `type`s of decoded known events: primary names only (an alias is decoded to its primary name). */
const modelledEventMsgTypes: ReadonlySet<string> = typeNames(
  knownEventMsgs.map((member: Schema.Schema.Any) => Schema.typeSchema(member))
)

/**
 * An event whose `type` this version does not model, kept whole and passed through unchanged.
 *
 * @since 0.1.0
 * @category models
 */
export type UnknownEventMsg = Opaque

/**
 * An event this version models.
 *
 * @since 0.1.0
 * @category models
 */
export type KnownEventMsg = Schema.Schema.Type<(typeof knownEventMsgs)[number]>

/**
 * @since 0.1.0
 * @category models
 */
export type EventMsg = KnownEventMsg | UnknownEventMsg

/**
 * An event message, tagged by `type`. `turn_started` / `turn_complete` decode as `task_started` /
 * `task_complete` (and encode under those primary names); unknown types and fields survive a round trip,
 * and a decoded message encodes back to the same JSON text as `JSON.stringify` of its input: key order and
 * `__proto__` keys included (copy a decoded message with a spread or `structuredClone`: `Object.assign` and
 * `copy[key] = value` turn a `__proto__` key back into a prototype). To `switch (msg.type)` with each `case`
 * narrowed, guard with `isKnownEventMsg`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EventMsg: Schema.Schema<EventMsg, Schema.Schema.Encoded<(typeof knownEventMsgs)[number]> | Opaque> =
  protoSafe(
    Schema.Union(...knownEventMsgs, opaque("EventMsg", knownEventMsgTypes)).annotations({ identifier: "EventMsg" })
  )

/**
 * Narrows an event message to the variants this version models, so that a `switch (msg.type)` narrows each
 * `case` to its variant. Without it, an unknown event (its `type` is any string) stays possible in every
 * `case`, and its fields read as `unknown`. The other branch holds only unknown events.
 *
 * @example
 * ```ts
 * if (isKnownEventMsg(msg)) {
 *   switch (msg.type) {
 *     case "exec_command_begin":
 *       return msg.command.join(" ") // readonly string[]
 *     case "task_complete":
 *       return msg.last_agent_message // string | null
 *   }
 * } else {
 *   return msg.type // an UnknownEventMsg: type is a string, every other field unknown
 * }
 * ```
 *
 * @since 0.2.0
 * @category predicates
 */
export const isKnownEventMsg = (msg: EventMsg): msg is KnownEventMsg => modelledEventMsgTypes.has(msg.type)

/**
 * An event message whose `type` this version does not model (passed through unchanged).
 *
 * @since 0.2.0
 * @category predicates
 */
export const isUnknownEventMsg = (msg: EventMsg): msg is UnknownEventMsg => !modelledEventMsgTypes.has(msg.type)

/**
 * Narrows an event message to the modelled variant of that `type`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isEventMsg = <T extends KnownEventMsg["type"]>(
  msg: EventMsg,
  type: T
): msg is Extract<KnownEventMsg, { readonly type: T }> => msg.type === type

/**
 * The error of a turn that ended in failure (`task_complete` with `error`), if any.
 *
 * @since 0.1.0
 * @category predicates
 */
export const turnError = (msg: EventMsg): string | undefined =>
  isEventMsg(msg, "task_complete") && msg.error ? msg.error.message : undefined

/**
 * Types that end a turn: `task_complete` or `turn_aborted`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTurnEnd = (
  msg: EventMsg
): msg is Extract<KnownEventMsg, { readonly type: "task_complete" | "turn_aborted" }> =>
  msg.type === "task_complete" || msg.type === "turn_aborted"
