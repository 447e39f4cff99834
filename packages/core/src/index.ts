/**
 * `@deputy/core`: the delegate, its ports (`AgentSpawner`, `Approvals`) and test doubles.
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
export * from "./Errors.js"
/** @since 0.1.0 */
export * as TraceContext from "./TraceContext.js"
