/**
 * `@deputy/cli`: the `deputy` program (`deputy run`, `deputy demo`) and the parts an embedding program
 * reuses — terminal approvals, policy files, human and JSON-lines output, agent and ledger setup. The rest
 * is internal (`src/internal`).
 *
 * @since 0.1.0
 */
import * as DemoCommand from "./internal/DemoCommand.js"
import * as Flags from "./internal/Flags.js"
import * as Launch from "./internal/Launch.js"
import * as Reporter from "./internal/Reporter.js"
import * as RunCommand from "./internal/RunCommand.js"
import * as Session from "./internal/Session.js"
import * as Signals from "./internal/Signals.js"
import * as Style from "./internal/Style.js"

/** @since 0.1.0 */
export * as Agents from "./Agents.js"
/** @since 0.1.0 */
export * as ApprovalSetup from "./ApprovalSetup.js"
/** @since 0.1.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as JsonOutput from "./JsonOutput.js"
/** @since 0.2.0 */
export * as LedgerSetup from "./LedgerSetup.js"
/** @since 0.1.0 */
export * as Main from "./Main.js"
/** @since 0.1.0 */
export * as Output from "./Output.js"
/** @since 0.1.0 */
export * as PolicyFile from "./PolicyFile.js"
/** @since 0.1.0 */
export * as Render from "./Render.js"
/** @since 0.1.0 */
export * as StdioTerminal from "./StdioTerminal.js"
/** @since 0.1.0 */
export * as TerminalApprovals from "./TerminalApprovals.js"
/** @since 0.1.0 */
export * as Version from "./Version.js"

/** @since 0.1.0 */
export {
  /** @deprecated Internal since 0.2.0; removed in 0.3.0 (run the program with `Main`). */
  DemoCommand,
  /** @deprecated Internal since 0.2.0; removed in 0.3.0. */
  Flags,
  /** @deprecated Internal since 0.2.0; removed in 0.3.0. */
  Launch,
  /** @deprecated Internal since 0.2.0; removed in 0.3.0 (use `Output` and `JsonOutput`). */
  Reporter,
  /** @deprecated Internal since 0.2.0; removed in 0.3.0 (run the program with `Main`). */
  RunCommand,
  /** @deprecated Internal since 0.2.0; removed in 0.3.0. */
  Session,
  /** @deprecated Internal since 0.2.0; removed in 0.3.0. */
  Signals,
  /** @deprecated Internal since 0.2.0; removed in 0.3.0. */
  Style
}
