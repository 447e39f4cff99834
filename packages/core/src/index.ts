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
export * as ApprovalInbox from "./ApprovalInbox.js"
/** @since 0.1.0 */
export * as ApprovalRequest from "./ApprovalRequest.js"
/** @since 0.1.0 */
export * as Approvals from "./Approvals.js"
/** @since 0.1.0 */
export * as Delegate from "./Delegate.js"
/** @since 0.1.0 */
export * from "./Errors.js"
/** @since 0.1.0 */
export * as TestAgent from "./TestAgent.js"
/** @since 0.1.0 */
export * as TraceContext from "./TraceContext.js"
