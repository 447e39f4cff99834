/**
 * `@deputy/protocol`: Effect Schemas of the Codex JSON wire format and a JSON-lines codec, one namespace per
 * module (`EventMsg.EventMsg`, `Op.isOp`, `JsonLines.decodeEvent`).
 * Every schema decodes with `Schema.decodeUnknown*` and encodes back to equal JSON; `Event`, `EventMsg`,
 * `Submission` and `Op` encode back to the same JSON text, key order included, and keep `__proto__` keys as
 * plain data (decode other schemas inside them, not alone, when the input is untrusted).
 *
 * @since 0.1.0
 */
/** @since 0.2.0 */
export * as AgentStatus from "./AgentStatus.js"
/** @since 0.2.0 */
export * as Event from "./Event.js"
/** @since 0.2.0 */
export * as EventMsg from "./EventMsg.js"
/** @since 0.2.0 */
export * as FileChange from "./FileChange.js"
/** @since 0.2.0 */
export * as InitialHistory from "./InitialHistory.js"
/** @since 0.1.0 */
export * as JsonLines from "./JsonLines.js"
/** @since 0.2.0 */
export * as Op from "./Op.js"
/** @since 0.2.0 */
export * as Permissions from "./Permissions.js"
/** @since 0.2.0 */
export * as RequestUserInput from "./RequestUserInput.js"
/** @since 0.2.0 */
export * as ReviewDecision from "./ReviewDecision.js"
/** @since 0.2.0 */
export * as SessionSource from "./SessionSource.js"
/** @since 0.2.0 */
export * as Submission from "./Submission.js"
/** @since 0.2.0 */
export * as UserInput from "./UserInput.js"
/** @since 0.2.0 */
export * as W3cTraceContext from "./W3cTraceContext.js"

// The 0.1 flat names, kept for one version. The names of modules are the namespaces now (`EventMsg`,
// `Op`, `ReviewDecision`...: the schema is `EventMsg.EventMsg`); the event `RequestUserInput` is
// `EventMsg.RequestUserInput`.
/** @since 0.1.0 */
export {
  /** @deprecated Use `EventMsg.AgentMessage`. */
  AgentMessage,
  /** @deprecated Use `EventMsg.AgentMessageDelta`. */
  AgentMessageDelta,
  /** @deprecated Use `EventMsg.AgentReasoningDelta`. */
  AgentReasoningDelta,
  /** @deprecated Use `EventMsg.AgentReasoningRawContentDelta`. */
  AgentReasoningRawContentDelta,
  /** @deprecated Use `EventMsg.ApplyPatchApprovalRequest`. */
  ApplyPatchApprovalRequest,
  /** @deprecated Use `EventMsg.ErrorEvent`. */
  ErrorEvent,
  /** @deprecated Use `EventMsg.ExecApprovalRequest`. */
  ExecApprovalRequest,
  /** @deprecated Use `EventMsg.ExecCommandBegin`. */
  ExecCommandBegin,
  /** @deprecated Use `EventMsg.ExecCommandEnd`. */
  ExecCommandEnd,
  /** @deprecated Use `EventMsg.isEventMsg`. */
  isEventMsg,
  /** @deprecated Use `EventMsg.isKnownEventMsg`. */
  isKnownEventMsg,
  /** @deprecated Use `EventMsg.isTurnEnd`. */
  isTurnEnd,
  /** @deprecated Use `EventMsg.isUnknownEventMsg`. */
  isUnknownEventMsg,
  /** @deprecated Use `EventMsg.KnownEventMsg`. */
  type KnownEventMsg,
  /** @deprecated Use `EventMsg.knownEventMsgTypes`. */
  knownEventMsgTypes,
  /** @deprecated Use `EventMsg.PatchApplyBegin`. */
  PatchApplyBegin,
  /** @deprecated Use `EventMsg.PatchApplyEnd`. */
  PatchApplyEnd,
  /** @deprecated Use `EventMsg.RequestPermissions`. */
  RequestPermissions,
  /** @deprecated Use `EventMsg.SessionConfigured`. */
  SessionConfigured,
  /** @deprecated Use `EventMsg.ShutdownComplete`. */
  ShutdownComplete,
  /** @deprecated Use `EventMsg.TaskComplete`. */
  TaskComplete,
  /** @deprecated Use `EventMsg.TaskStarted`. */
  TaskStarted,
  /** @deprecated Use `EventMsg.TokenCount`. */
  TokenCount,
  /** @deprecated Use `EventMsg.TokenUsage`. */
  TokenUsage,
  /** @deprecated Use `EventMsg.TokenUsageInfo`. */
  TokenUsageInfo,
  /** @deprecated Use `EventMsg.TurnAborted`. */
  TurnAborted,
  /** @deprecated Use `EventMsg.TurnAbortReason`. */
  TurnAbortReason,
  /** @deprecated Use `EventMsg.turnError`. */
  turnError,
  /** @deprecated Use `EventMsg.UnknownEventMsg`. */
  type UnknownEventMsg
} from "./EventMsg.js"
/** @since 0.1.0 */
export {
  /** @deprecated Use `InitialHistory.RolloutItem`. */
  RolloutItem
} from "./InitialHistory.js"
/** @since 0.1.0 */
export {
  /** @deprecated Use `Op.CleanBackgroundTerminalsOp`. */
  CleanBackgroundTerminalsOp,
  /** @deprecated Use `Op.CompactOp`. */
  CompactOp,
  /** @deprecated Use `Op.DynamicToolResponseOp`. */
  DynamicToolResponseOp,
  /** @deprecated Use `Op.ExecApprovalOp`. */
  ExecApprovalOp,
  /** @deprecated Use `Op.InterruptOp`. */
  InterruptOp,
  /** @deprecated Use `Op.isKnownOp`. */
  isKnownOp,
  /** @deprecated Use `Op.isOp`. */
  isOp,
  /** @deprecated Use `Op.KnownOp`. */
  type KnownOp,
  /** @deprecated Use `Op.knownOpTypes`. */
  knownOpTypes,
  /** @deprecated Use `Op.PatchApprovalOp`. */
  PatchApprovalOp,
  /** @deprecated Use `Op.RequestPermissionsResponseOp`. */
  RequestPermissionsResponseOp,
  /** @deprecated Use `Op.ResolveElicitationOp`. */
  ResolveElicitationOp,
  /** @deprecated Use `Op.ReviewOp`. */
  ReviewOp,
  /** @deprecated Use `Op.RunUserShellCommandOp`. */
  RunUserShellCommandOp,
  /** @deprecated Use `Op.ShutdownOp`. */
  ShutdownOp,
  /** @deprecated Use `Op.ThreadRollbackOp`. */
  ThreadRollbackOp,
  /** @deprecated Use `Op.UnknownOp`. */
  type UnknownOp,
  /** @deprecated Use `Op.UserInputAnswerOp`. */
  UserInputAnswerOp,
  /** @deprecated Use `Op.UserInputOp`. */
  UserInputOp
} from "./Op.js"
/** @since 0.1.0 */
export {
  /** @deprecated Use `Permissions.noPermissionsGranted`. */
  noPermissionsGranted,
  /** @deprecated Use `Permissions.PermissionGrantScope`. */
  PermissionGrantScope,
  /** @deprecated Use `Permissions.RequestPermissionProfile`. */
  RequestPermissionProfile,
  /** @deprecated Use `Permissions.RequestPermissionsResponse`. */
  RequestPermissionsResponse
} from "./Permissions.js"
/** @since 0.1.0 */
export {
  /** @deprecated Use `RequestUserInput.noAnswers`. */
  noAnswers,
  /** @deprecated Use `RequestUserInput.RequestUserInputResponse`. */
  RequestUserInputResponse,
  /** @deprecated Use `RequestUserInput.UserInputAnswer`. */
  UserInputAnswer,
  /** @deprecated Use `RequestUserInput.UserInputQuestion`. */
  UserInputQuestion,
  /** @deprecated Use `RequestUserInput.UserInputQuestionOption`. */
  UserInputQuestionOption
} from "./RequestUserInput.js"
/** @since 0.1.0 */
export {
  /** @deprecated Use `ReviewDecision.isApproval`. */
  isApproval,
  /** @deprecated Use `ReviewDecision.isDenial`. */
  isDenial,
  /** @deprecated Use `ReviewDecision.NetworkPolicyAmendment`. */
  NetworkPolicyAmendment
} from "./ReviewDecision.js"
/** @since 0.1.0 */
export {
  /** @deprecated Use `SessionSource.SubAgentSource`. */
  SubAgentSource
} from "./SessionSource.js"
/** @since 0.1.0 */
export {
  /** @deprecated Use `UserInput.textInput`. */
  textInput
} from "./UserInput.js"
