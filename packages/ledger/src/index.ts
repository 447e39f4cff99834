/**
 * `@deputy/ledger`: the durable approval ledger (`ApprovalLedger`) with in-memory, SQLite and
 * PostgreSQL layers, and an `Approvals` middleware that records every request before it is shown.
 *
 * @since 0.2.0
 */

/** @since 0.2.0 */
export {
  AlreadyDecided,
  AlreadySettled,
  AnswerInvalid,
  AnswerMismatch,
  AnswerTooLate,
  ApprovalLedger,
  checkAnswer,
  defaultFilename,
  digest,
  layerApprovals,
  LedgerCorrupt,
  LedgerUnavailable,
  pgAnchorFile,
  processAlive,
  UnknownRequest
} from "./ApprovalLedger.js"
/** @since 0.2.0 */
export type {
  AnchorOptions,
  ApprovalLedgerService,
  EntryData,
  EntryFilter,
  EntryType,
  LedgerDecision,
  LedgerEntry,
  LedgerError,
  LedgerOptions,
  LedgerOutcome,
  MiddlewareOptions,
  PendingEntry,
  PendingFilter,
  PendingMeta,
  PgOptions,
  ProcessIdentity,
  ReattachPoint,
  SettledMeta,
  SqliteOptions,
  VerifyResult
} from "./ApprovalLedger.js"
