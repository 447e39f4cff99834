/**
 * `@deputy/core`: the delegate, its ports (`AgentSpawner`, `Approvals`), the parent-side `ApprovalInbox`
 * and the test child `TestAgent`. Every module is a namespace: `Approvals.layerPolicy(rules)`,
 * `yield* Approvals.Approvals`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Agent from "./Agent.js"
/** @since 0.1.0 */
export * as AgentDiagnostic from "./AgentDiagnostic.js"
/** @since 0.2.0 */
export * as AgentSpawner from "./AgentSpawner.js"
/** @since 0.2.0 */
export * as ApprovalInbox from "./ApprovalInbox.js"
/** @since 0.1.0 */
export * as ApprovalRequest from "./ApprovalRequest.js"
/** @since 0.2.0 */
export * as Approvals from "./Approvals.js"
/** @since 0.2.0 */
export * as DecidedBy from "./DecidedBy.js"
/** @since 0.1.0 */
export * as Delegate from "./Delegate.js"
/** @since 0.2.0 */
export * as Errors from "./Errors.js"
/** @since 0.2.0 */
export * as RequestPaths from "./RequestPaths.js"
/** @since 0.2.0 */
export * as ShellCommand from "./ShellCommand.js"
/** @since 0.2.0 */
export * as ShellWords from "./ShellWords.js"
/** @since 0.2.0 */
export * as Supervisor from "./Supervisor.js"
/** @since 0.2.0 */
export * as TestAgent from "./TestAgent.js"
/** @since 0.2.0 */
export * as Text from "./Text.js"
/** @since 0.1.0 */
export * as TraceContext from "./TraceContext.js"

// The 0.1 flat names, kept for one version. (`AgentSpawner`, `ApprovalInbox`, `Approvals` and `TestAgent`
// are the namespaces now: their Tags are `Approvals.Approvals` and so on.)
/** @since 0.1.0 */
export {
  /** @deprecated Use `AgentSpawner.SpawnOptions`. */
  type SpawnOptions
} from "./AgentSpawner.js"
/** @since 0.1.0 */
export {
  /** @deprecated Use `ApprovalInbox.ApprovalAnswerMismatch`. */
  ApprovalAnswerMismatch,
  /** @deprecated Use `ApprovalInbox.ApprovalInboxService`. */
  type ApprovalInboxService,
  /** @deprecated Use `ApprovalInbox.ApprovalNotPending`. */
  ApprovalNotPending,
  /** @deprecated Use `ApprovalInbox.InboxAnswer`. */
  type InboxAnswer,
  /** @deprecated Use `ApprovalInbox.InboxOptions`. */
  type InboxOptions,
  /** @deprecated Use `ApprovalInbox.InboxSettlement`. */
  type InboxSettlement,
  /** @deprecated Use `ApprovalInbox.PendingApproval`. */
  type PendingApproval
} from "./ApprovalInbox.js"
/** @since 0.1.0 */
export {
  /** @deprecated Use `Approvals.ApprovalsService`. */
  type ApprovalsService,
  /** @deprecated Use `Approvals.PolicyAction`. */
  type PolicyAction,
  /** @deprecated Use `Approvals.PolicyRule`. */
  type PolicyRule,
  /** @deprecated Use `Approvals.TestAnswer`. */
  type TestAnswer,
  /** @deprecated Use `Approvals.TestAnswers`. */
  type TestAnswers,
  /** @deprecated Use `Approvals.TestApprovals`. */
  TestApprovals
} from "./Approvals.js"
/** @since 0.1.0 */
export {
  /** @deprecated Use `Errors.AgentClosed`. */
  AgentClosed,
  /** @deprecated Use `Errors.AgentExited`. */
  AgentExited,
  /** @deprecated Use `Errors.DelegateClosed`. */
  DelegateClosed,
  /** @deprecated Use `Errors.DelegateStopped`. */
  DelegateStopped,
  /** @deprecated Use `Errors.SpawnError`. */
  SpawnError
} from "./Errors.js"
/** @since 0.1.0 */
export {
  /** @deprecated Use `TestAgent.TestAgentOptions`. */
  type TestAgentOptions,
  /** @deprecated Use `TestAgent.TestAgentService`. */
  type TestAgentService
} from "./TestAgent.js"
