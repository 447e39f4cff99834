/**
 * `@deputy/core`: the delegate, its ports (`AgentSpawner`, `Approvals`), the parent-side `ApprovalInbox`
 * and the test child `TestAgent`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Agent from "./Agent.js"
/** @since 0.1.0 */
export * as AgentDiagnostic from "./AgentDiagnostic.js"
/** @since 0.1.0 */
export * from "./AgentSpawner.js"
/** @since 0.1.0 */
export { ApprovalAnswerMismatch, ApprovalInbox, ApprovalNotPending } from "./ApprovalInbox.js"
/** @since 0.1.0 */
export type {
  ApprovalInboxService,
  InboxAnswer,
  InboxOptions,
  InboxSettlement,
  PendingApproval,
  RespondOptions
} from "./ApprovalInbox.js"
/** @since 0.1.0 */
export * as ApprovalRequest from "./ApprovalRequest.js"
/** @since 0.1.0 */
export { Approvals, TestApprovals } from "./Approvals.js"
/** @since 0.1.0 */
export type { ApprovalsService, PolicyAction, PolicyOptions, PolicyRule, TestAnswer, TestAnswers } from "./Approvals.js"
/** @since 0.2.0 */
export * as DecidedBy from "./DecidedBy.js"
/** @since 0.1.0 */
export * as Delegate from "./Delegate.js"
/** @since 0.1.0 */
export * from "./Errors.js"
/** @since 0.1.0 */
export { TestAgent } from "./TestAgent.js"
/** @since 0.1.0 */
export type { TestAgentOptions, TestAgentService } from "./TestAgent.js"
/** @since 0.2.0 */
export type { TestAgentChild } from "./TestAgent.js"
/** @since 0.1.0 */
export * as TraceContext from "./TraceContext.js"
/** @since 0.2.0 */
export * as RequestPaths from "./RequestPaths.js"
/** @since 0.2.0 */
export * as ShellCommand from "./ShellCommand.js"
/** @since 0.2.0 */
export * as ShellWords from "./ShellWords.js"
/** @since 0.2.0 */
export * as Supervisor from "./Supervisor.js"
