/**
 * SQLite appends on their own better-sqlite3 connection: prepared statements, one `BEGIN IMMEDIATE`
 * transaction run synchronously (head, the request's rows, insert, head), no Effect in between. Through
 * `@effect/sql` the same transaction is about a dozen effects (statement compilation, the prepared-statement
 * cache, the semaphore, fiber refs), measured at ~4× the time of the statements themselves; reads stay on
 * the `@effect/sql` client.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createRequire } from "node:module"
import type { LedgerError } from "../ApprovalLedger.js"
import type { Anchor, AnchorMove } from "./anchor.js"
import { decide } from "./anchor.js"
import type { NewRow, Plan, Planner, Row, Store } from "./ledger.js"
import { seal } from "./ledger.js"
import type { DbRow, Tables } from "./sqlStore.js"
import { committed, fromDb, toDb } from "./sqlStore.js"

interface Statement {
  readonly run: (...params: ReadonlyArray<unknown>) => unknown
  readonly get: (...params: ReadonlyArray<unknown>) => unknown
  readonly all: (...params: ReadonlyArray<unknown>) => Array<unknown>
}

interface Transaction<Args extends ReadonlyArray<unknown>, R> {
  readonly immediate: (...args: Args) => R
}

/** The part of better-sqlite3's `Database` used here (the package ships no types). */
interface Database {
  readonly prepare: (sql: string) => Statement
  readonly pragma: (source: string) => unknown
  readonly transaction: <Args extends ReadonlyArray<unknown>, R>(fn: (...args: Args) => R) => Transaction<Args, R>
  readonly close: () => unknown
}

const Sqlite = createRequire(import.meta.url)("better-sqlite3") as new(
  filename: string,
  options: { readonly fileMustExist: boolean }
) => Database

const columns = [
  "seq",
  "at_ms",
  "type",
  "request_id",
  "entry_key",
  "delegate_id",
  "kind",
  "outcome",
  "decided_by",
  "decided_by_tag",
  "host",
  "pid",
  "run_id",
  "boot_id",
  "pid_ns",
  "start_ticks",
  "machine_id",
  "trace_id",
  "digest",
  "data",
  "prev_hash",
  "hash"
] as const

interface Appended {
  readonly move: AnchorMove
  readonly planned: Plan<unknown, unknown>
  readonly sealed: ReadonlyArray<Row>
}

/** Opens the writing connection (the database exists and is migrated) and returns `Store.append`. */
export const make = (
  filename: string,
  t: Tables,
  busyTimeoutMs: number,
  anchor: Anchor | undefined,
  classify: (filename: string, operation: string) => (error: unknown) => LedgerError
): Effect.Effect<Store["append"], LedgerError, Scope.Scope> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const db = new Sqlite(filename, { fileMustExist: true })
          try {
            db.pragma(`busy_timeout = ${Math.max(0, Math.round(busyTimeoutMs))}`)
            // per connection: see makeSqlite (durable against a process crash; checkpoints off the hot path)
            db.pragma("synchronous = NORMAL")
            db.pragma("wal_autocheckpoint = 0")
            return db
          } catch (error) {
            db.close()
            throw error
          }
        },
        catch: classify(filename, "be opened")
      }),
      (db) => Effect.sync(() => db.close())
    )
    const statements = yield* Effect.try({
      try: () => ({
        head: db.prepare(`SELECT seq, hash FROM ${t.head} WHERE id = 1`),
        rows: db.prepare(`SELECT * FROM ${t.entries} WHERE request_id = ? ORDER BY seq`),
        hashAt: db.prepare(`SELECT hash FROM ${t.entries} WHERE seq = ?`),
        insert: db.prepare(
          `INSERT INTO ${t.entries} (${columns.join(", ")}) VALUES (${columns.map((name) => `@${name}`).join(", ")})`
        ),
        setHead: db.prepare(`UPDATE ${t.head} SET seq = ?, hash = ? WHERE id = 1`)
      }),
      catch: classify(filename, "be opened")
    })
    const transaction = db.transaction((requestId: string, plan: Planner<unknown, unknown>, now: number): Appended => {
      const head = statements.head.get() as { readonly seq: number | bigint; readonly hash: string } | undefined
      if (head === undefined) throw new Error("the ledger's head row is missing")
      const planned = plan((statements.rows.all(requestId) as Array<DbRow>).map(fromDb), now)
      let seq = Number(head.seq)
      let prev = head.hash
      let move: AnchorMove = anchor === undefined || planned.rows.length === 0
        ? { _tag: "Keep" }
        : decide(anchor, { seq, hash: prev })
      if (move._tag === "Compare") {
        const at = statements.hashAt.get(move.seq) as { readonly hash: string } | undefined
        move = at?.hash === move.hash ? { _tag: "Advance" } : { _tag: "Keep" }
      }
      const sealed: Array<Row> = []
      for (const row of planned.rows as ReadonlyArray<NewRow>) {
        const next = seal(row, ++seq, now, prev)
        statements.insert.run(toDb(next))
        sealed.push(next)
        prev = next.hash
      }
      if (sealed.length > 0) statements.setHead.run(seq, prev)
      return { move, planned, sealed }
    })
    const fail = classify(filename, "write")
    const append = <A, E>(requestId: string, plan: Planner<A, E>): Effect.Effect<A, E | LedgerError> =>
      Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
        Effect.flatMap((now) =>
          Effect.try({
            try: () => transaction.immediate(requestId, plan as Planner<unknown, unknown>, now),
            catch: fail
          })
        ),
        Effect.flatMap(({ move, planned, sealed }) =>
          Effect.zipRight(committed(anchor, move, sealed), (planned as Plan<A, E>).result(sealed))
        )
      )
    return append
  })
