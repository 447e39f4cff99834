/**
 * The store over `@effect/sql`: one schema for SQLite and PostgreSQL, migrated with `Migrator`; appends
 * serialized across processes by locking the head row first in each transaction.
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { LedgerError } from "../ApprovalLedger.js"
import type { Anchor, AnchorMove } from "./anchor.js"
import { advance, decide, readSettled } from "./anchor.js"
import type { NewRow, Planner, Row, RowQuery, Store } from "./ledger.js"
import { genesis, seal, unavailable } from "./ledger.js"

/** The default prefix of the ledger's tables. */
export const defaultPrefix = "deputy_ledger_"

/** Table names of one ledger. */
export interface Tables {
  readonly entries: string
  readonly head: string
  readonly migrations: string
}

/** The tables for a prefix (letters, digits and `_`, starting with a letter or `_`). */
export const tables = (prefix: string): Tables => {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(prefix)) {
    throw new Error(`invalid ledger table prefix ${JSON.stringify(prefix)}`)
  }
  return { entries: `${prefix}entries`, head: `${prefix}head`, migrations: `${prefix}migrations` }
}

/** The schema, the same for both dialects; a migration once released is never changed (add one). */
export const migrations = (t: Tables): Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> => ({
  "1_create_ledger": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`CREATE TABLE ${t.entries} (
      seq BIGINT PRIMARY KEY,
      at_ms BIGINT NOT NULL,
      type TEXT NOT NULL,
      request_id TEXT NOT NULL,
      entry_key TEXT UNIQUE,
      delegate_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      outcome TEXT,
      decided_by TEXT,
      decided_by_tag TEXT,
      host TEXT NOT NULL,
      pid INTEGER NOT NULL,
      run_id TEXT NOT NULL,
      trace_id TEXT,
      digest TEXT NOT NULL,
      data TEXT NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL
    )`)
    yield* sql.unsafe(`CREATE INDEX ${t.entries}_request ON ${t.entries} (request_id, seq)`)
    yield* sql.unsafe(`CREATE INDEX ${t.entries}_type ON ${t.entries} (type, seq)`)
    yield* sql.unsafe(`CREATE INDEX ${t.entries}_at ON ${t.entries} (at_ms)`)
    yield* sql.unsafe(`CREATE TABLE ${t.head} (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)`)
    yield* sql.unsafe(`INSERT INTO ${t.head} (id, seq, hash) VALUES (1, 0, '${genesis}')`)
  }),
  // who wrote a row, exactly (`ProcessIdentity`): NULL in the rows written before
  "2_process_identity": Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const column of ["boot_id TEXT", "pid_ns TEXT", "start_ticks BIGINT", "machine_id TEXT"]) {
      yield* sql.unsafe(`ALTER TABLE ${t.entries} ADD COLUMN ${column}`)
    }
  })
})

/** Runs the migrations (retried: two processes may create a fresh ledger at once). */
export const migrate = (t: Tables, target: string) =>
  Migrator.make({})({ loader: Migrator.fromRecord(migrations(t)), table: t.migrations }).pipe(
    Effect.retry(Schedule.spaced(50).pipe(Schedule.intersect(Schedule.recurs(5)))),
    Effect.mapError(unavailable(target, "create its tables"))
  )

/** An entry as a row of the entries table. */
export interface DbRow {
  readonly seq: number | string | bigint
  readonly at_ms: number | string | bigint
  readonly type: string
  readonly request_id: string
  readonly entry_key: string | null
  readonly delegate_id: string
  readonly kind: string
  readonly outcome: string | null
  readonly decided_by: string | null
  readonly decided_by_tag: string | null
  readonly host: string
  readonly pid: number | string
  readonly run_id: string
  readonly boot_id: string | null
  readonly pid_ns: string | null
  readonly start_ticks: number | string | bigint | null
  readonly machine_id: string | null
  readonly trace_id: string | null
  readonly digest: string
  readonly data: string
  readonly prev_hash: string
  readonly hash: string
}

/** Reads a row of the entries table. */
export const fromDb = (row: DbRow): Row => ({
  seq: Number(row.seq),
  at: Number(row.at_ms),
  type: row.type as Row["type"],
  requestId: row.request_id,
  key: row.entry_key,
  delegateId: row.delegate_id,
  kind: row.kind,
  outcome: row.outcome,
  decidedBy: row.decided_by,
  decidedByTag: row.decided_by_tag,
  host: row.host,
  pid: Number(row.pid),
  runId: row.run_id,
  ...(row.boot_id === null ? {} : { bootId: row.boot_id }),
  ...(row.pid_ns === null ? {} : { pidNamespace: row.pid_ns }),
  // untrusted: a value that is no number reads as NaN, which `liveness` refuses (unknown)
  ...(row.start_ticks === null ? {} : { startTicks: Number(row.start_ticks) }),
  ...(row.machine_id === null ? {} : { machineId: row.machine_id }),
  traceId: row.trace_id,
  digest: row.digest,
  data: row.data,
  prevHash: row.prev_hash,
  hash: row.hash
})

/** A row of the entries table, its columns by name. */
export const toDb = (row: Row) => ({
  seq: row.seq,
  at_ms: row.at,
  type: row.type,
  request_id: row.requestId,
  entry_key: row.key,
  delegate_id: row.delegateId,
  kind: row.kind,
  outcome: row.outcome,
  decided_by: row.decidedBy,
  decided_by_tag: row.decidedByTag,
  host: row.host,
  pid: row.pid,
  run_id: row.runId,
  boot_id: row.bootId ?? null,
  pid_ns: row.pidNamespace ?? null,
  start_ticks: row.startTicks ?? null,
  machine_id: row.machineId ?? null,
  trace_id: row.traceId,
  digest: row.digest,
  data: row.data,
  prev_hash: row.prevHash,
  hash: row.hash
})

/** How a store waits for a decision: polling (SQLite) or notifications (PostgreSQL). */
export interface Waiter {
  /** Waits until `check` finds something; `requestId` names the request it waits for (none: any change). */
  readonly awaitDecided: <A>(
    requestId: string | undefined,
    check: Effect.Effect<A | undefined, LedgerError>
  ) => Effect.Effect<A, LedgerError>
  /** Called after a transaction that appended `decided` (or `pending`) rows committed, with their requests. */
  readonly decided: (requestIds: ReadonlyArray<string>) => Effect.Effect<void>
}

/** A store over the `SqlClient` in context. */
export const makeStore = (
  sql: SqlClient.SqlClient,
  t: Tables,
  target: string,
  waiter: Waiter,
  anchor?: Anchor
): Store => {
  const entries = sql(t.entries)
  const head = sql(t.head)
  const fail = (operation: string) => unavailable(target, operation)

  const rowsFor = (requestId: string) =>
    Effect.map(
      sql<DbRow>`SELECT * FROM ${entries} WHERE request_id = ${requestId} ORDER BY seq`,
      (rows) => rows.map(fromDb)
    ).pipe(Effect.mapError(fail("read")))

  const where = (query: RowQuery): Fragment => {
    const conditions: Array<Fragment> = []
    if (query.requestIds !== undefined) {
      conditions.push(query.requestIds.length === 0 ? sql`1 = 0` : sql`p.request_id IN ${sql.in(query.requestIds)}`)
    }
    if (query.delegateId !== undefined) conditions.push(sql`p.delegate_id = ${query.delegateId}`)
    if (query.kind !== undefined) conditions.push(sql`p.kind = ${query.kind}`)
    if (query.types !== undefined) {
      conditions.push(query.types.length === 0 ? sql`1 = 0` : sql`p.type IN ${sql.in(query.types)}`)
    }
    if (query.outcome !== undefined) conditions.push(sql`p.outcome = ${query.outcome}`)
    if (query.decidedByTag !== undefined) conditions.push(sql`p.decided_by_tag = ${query.decidedByTag}`)
    if (query.since !== undefined) conditions.push(sql`p.at_ms >= ${query.since}`)
    if (query.until !== undefined) conditions.push(sql`p.at_ms < ${query.until}`)
    if (query.afterSeq !== undefined) conditions.push(sql`p.seq > ${query.afterSeq}`)
    if (query.host !== undefined) conditions.push(sql`p.host = ${query.host}`)
    if (query.pid !== undefined) conditions.push(sql`p.pid = ${query.pid}`)
    if (query.runId !== undefined) conditions.push(sql`p.run_id = ${query.runId}`)
    if (query.open === true) {
      conditions.push(
        sql`NOT EXISTS (SELECT 1 FROM ${entries} d WHERE d.entry_key = p.request_id || ${"/decided"})`
      )
    }
    return sql.and(conditions)
  }

  const select: Store["select"] = (query) =>
    Effect.map(
      query.limit === undefined
        ? sql<DbRow>`SELECT p.* FROM ${entries} p WHERE ${where(query)} ORDER BY p.seq`
        : sql<DbRow>`SELECT p.* FROM ${entries} p WHERE ${where(query)} ORDER BY p.seq LIMIT ${query.limit}`,
      (rows) => rows.map(fromDb)
    ).pipe(Effect.mapError(fail("read")))

  const append = <A, E>(requestId: string, plan: Planner<A, E>): Effect.Effect<A, E | LedgerError> =>
    Effect.gen(function*() {
      const { move, planned, sealed } = yield* sql.withTransaction(Effect.gen(function*() {
        // lock the head first: in SQLite this takes the write lock before any read (so the busy timeout
        // applies), in PostgreSQL it row-locks the head until commit; either way appends are serialized
        const heads = yield* sql<{ readonly seq: number | string; readonly hash: string }>`
          UPDATE ${head} SET seq = seq WHERE id = 1 RETURNING seq, hash`
        if (heads.length !== 1) return yield* Effect.fail(new Error("the ledger's head row is missing"))
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        const planned = plan(yield* rowsFor(requestId), now)
        let seq = Number(heads[0].seq)
        let prev = heads[0].hash
        let move: AnchorMove = anchor === undefined || planned.rows.length === 0
          ? { _tag: "Keep" }
          : decide(anchor, { seq, hash: prev })
        if (move._tag === "Compare") {
          const at = yield* sql<{ readonly hash: string }>`SELECT hash FROM ${entries} WHERE seq = ${move.seq}`
          move = at[0]?.hash === move.hash ? { _tag: "Advance" } : { _tag: "Keep" }
        }
        const sealed: Array<Row> = []
        for (const row of planned.rows as ReadonlyArray<NewRow>) {
          const next = seal(row, ++seq, now, prev)
          sealed.push(next)
          prev = next.hash
        }
        if (sealed.length > 0) {
          yield* sql`INSERT INTO ${entries} ${sql.insert(sealed.map(toDb))}`
          yield* sql`UPDATE ${head} SET seq = ${seq}, hash = ${prev} WHERE id = 1`
        }
        return { move, planned, sealed }
      })).pipe(
        // a failed COMMIT or ROLLBACK (disk full) surfaces from @effect/sql as a defect
        Effect.catchAllDefect((defect) => Effect.fail(fail("write")(defect))),
        Effect.mapError((error) =>
          (!isLedgerError(error) && isStorageError(error) ? fail("write")(error) : error) as E | LedgerError
        )
      )
      yield* committed(anchor, move, sealed)
      // `pending` rows wake `awaitHead` (a page attached to the ledger) too
      const decided = sealed.filter((row) => row.type === "decided" || row.type === "pending").map((row) =>
        row.requestId
      )
      if (decided.length > 0) yield* waiter.decided(decided)
      return yield* planned.result(sealed)
    })

  const headOf: Store["head"] = Effect.map(
    sql<{ readonly seq: number | string; readonly hash: string }>`SELECT seq, hash FROM ${head} WHERE id = 1`,
    (rows) => rows.length === 0 ? { seq: 0, hash: genesis } : { seq: Number(rows[0].seq), hash: rows[0].hash }
  ).pipe(Effect.mapError(fail("read")))

  const checkDecided = (requestId: string) =>
    Effect.map(
      sql<DbRow>`SELECT * FROM ${entries} WHERE entry_key = ${`${requestId}/decided`}`,
      (rows) => rows.length === 0 ? undefined : fromDb(rows[0])
    ).pipe(Effect.mapError(fail("read")))

  // one span per statement would cost more than the statement (STYLE.md: spans per request, not per row)
  const quiet = <A, E>(effect: Effect.Effect<A, E>) => Effect.withTracerEnabled(effect, false)
  return {
    target,
    append: (requestId, plan) => quiet(append(requestId, plan)),
    select: (query) => quiet(select(query)),
    head: quiet(headOf),
    awaitDecided: (requestId) => waiter.awaitDecided(requestId, quiet(checkDecided(requestId))),
    awaitHead: (afterSeq) =>
      waiter.awaitDecided(undefined, quiet(Effect.map(headOf, (head) => head.seq > afterSeq ? head.seq : undefined))),
    anchor: anchor === undefined ? undefined : storeAnchor(anchor, target)
  }
}

/** After a commit: moves the anchor to the last row appended if the append may (a failure is logged). */
export const committed = (
  anchor: Anchor | undefined,
  move: AnchorMove,
  sealed: ReadonlyArray<Row>
): Effect.Effect<void> => {
  if (anchor === undefined || move._tag !== "Advance" || sealed.length === 0) return Effect.void
  const last = sealed[sealed.length - 1]
  const failed = advance(anchor, last.seq, last.hash)
  return failed === undefined ? Effect.void : Effect.logWarning(`approval ledger: ${failed}`)
}

/** The anchor as `verify` reads it. */
export const storeAnchor = (anchor: Anchor, target: string): NonNullable<Store["anchor"]> => ({
  file: anchor.file,
  read: Effect.try({ try: () => readSettled(anchor), catch: unavailable(target, `read its anchor ${anchor.file}`) })
})

const isLedgerError = (error: unknown): boolean => {
  const tag = (error as { readonly _tag?: unknown })?._tag
  return tag === "LedgerUnavailable" || tag === "LedgerCorrupt"
}

/** SQL failures and the plain errors raised inside the append transaction (not a plan's own errors). */
const isStorageError = (error: unknown): boolean => {
  const tag = (error as { readonly _tag?: unknown })?._tag
  return tag === "SqlError" || tag === "ResultLengthMismatch" || (error instanceof Error && tag === undefined)
}
