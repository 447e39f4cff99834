/**
 * The SQLite and PostgreSQL ledgers.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as os from "node:os"
import * as path from "node:path"
import type { ApprovalLedgerService, LedgerError, PgOptions, SqliteOptions } from "../ApprovalLedger.js"

/** `$DEPUTY_HOME/ledger.db`, else `~/.deputy/ledger.db`. */
export const defaultFilename = (env: Record<string, string | undefined>): string =>
  path.join(
    env.DEPUTY_HOME !== undefined && env.DEPUTY_HOME !== "" ? env.DEPUTY_HOME : path.join(os.homedir(), ".deputy"),
    "ledger.db"
  )

/** The SQLite ledger. */
export const makeSqlite = (_options: SqliteOptions): Effect.Effect<ApprovalLedgerService, LedgerError, Scope.Scope> =>
  Effect.dieMessage("not implemented yet")

/** The PostgreSQL ledger. */
export const makePg = (_options: PgOptions): Effect.Effect<ApprovalLedgerService, LedgerError, Scope.Scope> =>
  Effect.dieMessage("not implemented yet")
