/**
 * `@deputy/ledger`: the durable approval ledger (`ApprovalLedger`) with in-memory, SQLite and
 * PostgreSQL layers, and an `Approvals` middleware that records every request before it is shown.
 * `ApprovalLedger.layerSqlite(options)`, `yield* ApprovalLedger.ApprovalLedger`.
 *
 * @since 0.2.0
 */

/** @since 0.2.0 */
export * as ApprovalLedger from "./ApprovalLedger.js"
