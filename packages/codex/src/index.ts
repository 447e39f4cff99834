/**
 * `@deputy/codex`: an `AgentSpawner` for the real Codex CLI through `codex app-server`, and a scripted
 * Responses API model server for offline tests, benchmarks and the demo.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as CodexAgent from "./CodexAgent.js"
/** @since 0.1.0 */
export * as CodexBinary from "./CodexBinary.js"
/** @since 0.1.0 */
export * as CodexHome from "./CodexHome.js"
/** @since 0.1.0 */
export * as ScriptedModel from "./ScriptedModel.js"
