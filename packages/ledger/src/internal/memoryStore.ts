/**
 * The in-memory store: one process, one array, a semaphore for the append transaction.
 */
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type { ApprovalLedgerService, LedgerOptions } from "../ApprovalLedger.js"
import type { NewRow, Row, RowQuery, Store } from "./ledger.js"
import { genesis, makeService, matches, processIdentity, seal } from "./ledger.js"

const openOnly = (rows: ReadonlyArray<Row>, decided: ReadonlySet<string>, query: RowQuery) =>
  query.open === true ? rows.filter((row) => !decided.has(row.requestId)) : rows

/** A store in memory. */
export const makeStore: Effect.Effect<Store> = Effect.gen(function*() {
  const rows: Array<Row> = []
  const byKey = new Map<string, Row>()
  const byRequest = new Map<string, Array<Row>>()
  const decided = new Set<string>()
  const lock = yield* Effect.makeSemaphore(1)
  const appended = yield* PubSub.unbounded<Row>()

  const insert = (row: Row) => {
    if (row.key !== null) {
      if (byKey.has(row.key)) throw new Error(`duplicate entry key ${row.key}`)
      byKey.set(row.key, row)
    }
    rows.push(row)
    const forRequest = byRequest.get(row.requestId)
    if (forRequest === undefined) byRequest.set(row.requestId, [row])
    else forRequest.push(row)
    if (row.type === "decided") decided.add(row.requestId)
  }

  const store: Store = {
    target: "memory",
    append: (requestId, plan) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        const planned = plan(byRequest.get(requestId) ?? [], now)
        const sealed: Array<Row> = []
        let prev = rows.length === 0 ? genesis : rows[rows.length - 1].hash
        for (const row of planned.rows as ReadonlyArray<NewRow>) {
          const next = seal(row, rows.length + 1, now, prev)
          insert(next)
          sealed.push(next)
          prev = next.hash
        }
        yield* PubSub.publishAll(appended, sealed)
        return { planned, sealed }
      })).pipe(Effect.flatMap(({ planned, sealed }) => planned.result(sealed))),
    select: (query) =>
      Effect.sync(() => {
        const source = query.requestIds !== undefined && query.requestIds.length < 64
          ? query.requestIds.flatMap((id) => byRequest.get(id) ?? []).sort((a, b) => a.seq - b.seq)
          : rows
        const found = openOnly(source.filter((row) => matches(row, query)), decided, query)
        return query.limit === undefined ? found : found.slice(0, query.limit)
      }),
    head: Effect.sync(() =>
      rows.length === 0 ? { seq: 0, hash: genesis } : { seq: rows.length, hash: rows[rows.length - 1].hash }
    ),
    awaitDecided: (requestId) =>
      Effect.scoped(Effect.gen(function*() {
        const subscription = yield* PubSub.subscribe(appended)
        const existing = byKey.get(`${requestId}/decided`)
        if (existing !== undefined) return existing
        while (true) {
          const row = yield* Queue.take(subscription)
          if (row.type === "decided" && row.requestId === requestId) return row
        }
      })),
    awaitHead: (afterSeq) =>
      Effect.scoped(Effect.gen(function*() {
        const subscription = yield* PubSub.subscribe(appended)
        while (rows.length <= afterSeq) yield* Queue.take(subscription)
        return rows.length
      }))
  }
  return store
})

/** The in-memory ledger service. */
export const make = (options: LedgerOptions = {}): Effect.Effect<ApprovalLedgerService> =>
  Effect.map(makeStore, (store) => makeService(store, processIdentity(options)))
