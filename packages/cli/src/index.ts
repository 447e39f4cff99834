/**
 * `@deputy/cli`: the `deputy` program (`deputy run`, `deputy demo`) and its parts — terminal approvals,
 * policy files, human and JSON-lines output — for reuse and tests.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Agents from "./Agents.js"
/** @since 0.1.0 */
export * as ApprovalSetup from "./ApprovalSetup.js"
/** @since 0.1.0 */
export * as DemoCommand from "./DemoCommand.js"
/** @since 0.1.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as Flags from "./Flags.js"
/** @since 0.1.0 */
export * as JsonOutput from "./JsonOutput.js"
/** @since 0.1.0 */
export * as Launch from "./Launch.js"
/** @since 0.1.0 */
export * as Main from "./Main.js"
/** @since 0.1.0 */
export * as Output from "./Output.js"
/** @since 0.1.0 */
export * as PolicyFile from "./PolicyFile.js"
/** @since 0.1.0 */
export * as Render from "./Render.js"
/** @since 0.1.0 */
export * as Reporter from "./Reporter.js"
/** @since 0.1.0 */
export * as RunCommand from "./RunCommand.js"
/** @since 0.1.0 */
export * as Session from "./Session.js"
/** @since 0.1.0 */
export * as Signals from "./Signals.js"
/** @since 0.1.0 */
export * as StdioTerminal from "./StdioTerminal.js"
/** @since 0.1.0 */
export * as Style from "./Style.js"
/** @since 0.1.0 */
export * as TerminalApprovals from "./TerminalApprovals.js"
/** @since 0.1.0 */
export * as Version from "./Version.js"
/** @since 0.2.0 */
export * as Text from "./Text.js"
/** @since 0.2.0 */
export * as Tasks from "./Tasks.js"
/** @since 0.2.0 */
export * as NodeLabel from "./NodeLabel.js"
/** @since 0.2.0 */
export * as Receipt from "./Receipt.js"
/** @since 0.2.0 */
export * as LedgerCommands from "./LedgerCommands.js"
/** @since 0.2.0 */
export * as LedgerSetup from "./LedgerSetup.js"
