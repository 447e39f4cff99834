import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"

/** The test server (`DEPUTY_TEST_PG_URL`, default the project machines' 127.0.0.1:5432, db `test`). */
export const pgUrl = process.env.DEPUTY_TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test"

const reachable = (): boolean => {
  try {
    execFileSync(process.execPath, [
      "-e",
      `const pg=require("pg");const c=new pg.Client(${JSON.stringify(pgUrl)});` +
      `c.connect().then(()=>c.end()).then(()=>process.exit(0),()=>process.exit(1))`
    ], { stdio: "ignore", timeout: 10_000 })
    return true
  } catch {
    return false
  }
}

/** Whether the PostgreSQL tests run: a server answers, or `DEPUTY_REQUIRE_POSTGRES=1` (then they fail without one). */
export const pgAvailable = reachable()
export const pgRequired = process.env.DEPUTY_REQUIRE_POSTGRES === "1"
export const skipPg = !pgAvailable && !pgRequired
if (skipPg) {
  console.warn(
    `\n⚠ PostgreSQL ledger tests SKIPPED: no server at ${pgUrl} (set DEPUTY_REQUIRE_POSTGRES=1 to make them fail)\n`
  )
}

/** A unique table prefix for this run. */
export const runPrefix = `deputy_t${process.pid}_${Date.now().toString(36)}_`

/** Drops every table whose name starts with `prefix`. */
export const dropTables = (prefix: string) =>
  Effect.runPromise(Effect.scoped(
    Effect.gen(function*() {
      const sql = yield* PgClient.make({ url: Redacted.make(pgUrl) })
      const rows = yield* sql<{ readonly table_name: string }>`
      SELECT table_name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_name LIKE ${prefix.replace(/_/g, "\\_") + "%"}`
      for (const row of rows) yield* sql.unsafe(`DROP TABLE IF EXISTS "${row.table_name}" CASCADE`)
    }).pipe(Effect.provide(Reactivity.layer))
  )).catch(() => undefined)

/** Runs one statement on the test server. */
export const exec = (statement: string) =>
  Effect.runPromise(Effect.scoped(
    Effect.gen(function*() {
      const sql = yield* PgClient.make({ url: Redacted.make(pgUrl) })
      yield* sql.unsafe(statement)
    }).pipe(Effect.provide(Reactivity.layer))
  ))

void SqlClient
