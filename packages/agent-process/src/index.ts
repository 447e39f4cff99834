/**
 * `@deputy/agent-process`: an `AgentSpawner` for any program that speaks Deputy's protocol as JSON lines
 * on stdio.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ChildProcess from "./ChildProcess.js"
/** @since 0.1.0 */
export * as ProcessAgent from "./ProcessAgent.js"
