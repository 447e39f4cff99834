/**
 * The SQLite and PostgreSQL ledgers: opening (and refusing corrupt or foreign databases), migrating,
 * and how each waits for an answer from another process.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { AnchorOptions, ApprovalLedgerService, LedgerError, PgOptions, SqliteOptions } from "../ApprovalLedger.js"
import { LedgerCorrupt, LedgerUnavailable } from "../ApprovalLedger.js"
import * as anchors from "./anchor.js"
import type { Store } from "./ledger.js"
import { genesis, makeService, processIdentity, sha256, unavailable } from "./ledger.js"
import * as sqliteWriter from "./sqliteWriter.js"
import type { Tables, Waiter } from "./sqlStore.js"
import { defaultPrefix, makeStore, migrate, storeAnchor, tables } from "./sqlStore.js"

const deputyHome = (env: Record<string, string | undefined>): string =>
  env.DEPUTY_HOME !== undefined && env.DEPUTY_HOME !== "" ? env.DEPUTY_HOME : path.join(os.homedir(), ".deputy")

/** `$DEPUTY_HOME/ledger.db`, else `~/.deputy/ledger.db`. */
export const defaultFilename = (env: Record<string, string | undefined>): string =>
  path.join(deputyHome(env), "ledger.db")

/** `$DEPUTY_HOME/ledger-pg-<hash>.anchor`: one per server, database and table prefix. */
export const pgAnchorFile = (
  url: string,
  tablePrefix: string | undefined,
  env: Record<string, string | undefined>
): string =>
  path.join(
    deputyHome(env),
    `ledger-pg-${sha256(`${describeUrl(url)}\n${(tablePrefix ?? defaultPrefix).toLowerCase()}`).slice(0, 16)}.anchor`
  )

/**
 * Opens the anchor of a ledger; an empty ledger without one gets the empty ledger's anchor (so the first
 * append, and every one after it, can move it); with `adoptExisting`, a ledger with entries and no anchor
 * gets its current head.
 */
const openAnchor = (
  options: AnchorOptions,
  target: string,
  head: Effect.Effect<{ readonly seq: number; readonly hash: string }, LedgerError>
): Effect.Effect<anchors.Anchor, LedgerError> =>
  Effect.gen(function*() {
    const fail = unavailable(target, `keep its anchor ${options.file}`)
    const anchor = yield* Effect.try({
      try: () => anchors.make(options.file, options.keyFile ?? anchors.defaultKeyFile(options.file)),
      catch: fail
    })
    const state = yield* Effect.try({ try: () => anchor.read(), catch: fail })
    if (state._tag === "Missing") {
      const current = yield* head
      if (current.seq === 0) yield* Effect.try({ try: () => anchor.write(0, genesis), catch: fail })
      // a machine that never anchored a shared ledger starts at its head as it is now (trust on first use)
      else if (options.adoptExisting === true) {
        yield* Effect.try({ try: () => anchor.write(current.seq, current.hash), catch: fail })
      }
    }
    return anchor
  })

/** SQLite's `application_id` of a Deputy ledger ("DPTY"). */
export const applicationId = 0x44505459

const sqliteHeader = "SQLite format 3\0"

const codeOf = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string") return code
    current = (current as { readonly cause?: unknown }).cause
  }
  return undefined
}

const messageOf = (error: unknown): string => {
  let current: unknown = error
  let text = ""
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const message = (current as { readonly message?: unknown }).message
    if (typeof message === "string" && !text.includes(message)) text = text === "" ? message : `${text}: ${message}`
    current = (current as { readonly cause?: unknown }).cause
  }
  return text === "" ? String(error) : text
}

/** SQLite errors that mean "this file is not a (sound) database". */
const corruptCodes = new Set(["SQLITE_NOTADB", "SQLITE_CORRUPT"])

const classify = (filename: string, operation: string) => (error: unknown): LedgerError =>
  corruptCodes.has(codeOf(error) ?? "")
    ? new LedgerCorrupt({ target: filename, reason: `SQLite cannot read it: ${messageOf(error)}` })
    : new LedgerUnavailable({ target: filename, operation, reason: messageOf(error) })

const openSqlite = (config: SqliteClient.SqliteClientConfig, operation: string) =>
  SqliteClient.make(config).pipe(
    Effect.provide(Reactivity.layer),
    Effect.catchAllDefect((defect) => Effect.fail(classify(config.filename, operation)(defect)))
  )

/**
 * Refuses a file that is not a Deputy ledger before anything writes to it: not SQLite, unreadable, or
 * another program's database (another `application_id`, or tables but not ours).
 */
const inspectSqlite = (filename: string, t: Tables): Effect.Effect<void, LedgerError> =>
  Effect.gen(function*() {
    const stat = yield* Effect.try({
      try: () => fs.existsSync(filename) ? fs.statSync(filename) : undefined,
      catch: unavailable(filename, "be read")
    })
    if (stat === undefined || (stat.isFile() && stat.size === 0)) return
    if (!stat.isFile()) return yield* new LedgerCorrupt({ target: filename, reason: "it is not a regular file" })
    const header = yield* Effect.try({
      try: () => {
        const fd = fs.openSync(filename, "r")
        try {
          const buffer = Buffer.alloc(16)
          const read = fs.readSync(fd, buffer, 0, 16, 0)
          return buffer.subarray(0, read).toString("latin1")
        } finally {
          fs.closeSync(fd)
        }
      },
      catch: unavailable(filename, "be read")
    })
    if (header !== sqliteHeader) {
      return yield* new LedgerCorrupt({
        target: filename,
        reason: `it is not a SQLite database (it starts with ${JSON.stringify(header.slice(0, 8))})`
      })
    }
    yield* Effect.scoped(
      Effect.gen(function*() {
        const client = yield* openSqlite({ filename, readonly: true, disableWAL: true }, "be opened")
        const [app] = yield* client.unsafe<{ readonly application_id: number }>("PRAGMA application_id")
        const names = (yield* client.unsafe<{ readonly name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )).map((row) => row.name)
        const id = Number(app?.application_id ?? 0)
        if (id !== 0 && id !== applicationId) {
          return yield* new LedgerCorrupt({
            target: filename,
            reason: `it is another program's database (application id 0x${id.toString(16)})`
          })
        }
        if (names.length > 0 && !names.includes(t.migrations)) {
          return yield* new LedgerCorrupt({
            target: filename,
            reason: `it is another program's database (tables ${names.slice(0, 5).join(", ")})`
          })
        }
      }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(classify(filename, "be read")(error))))
    )
  })

/** Waits by asking the database every `interval`. */
const pollingWaiter = (interval: Duration.Duration): Waiter => ({
  awaitDecided: (_requestId, check) =>
    Effect.gen(function*() {
      while (true) {
        const row = yield* check
        if (row !== undefined) return row
        yield* Effect.sleep(interval)
      }
    }),
  decided: () => Effect.void
})

/**
 * Waits for the database's directory to change (inotify on Linux: another process committing writes the
 * `-wal` file), then asks; asks every `fallback` anyway, should an event be missed (or a file system not
 * report changes made by other hosts' processes). The directory is watched only while a request waits:
 * each commit raises several events, and handling them cost more than the commit (measured ~0.3 ms of CPU
 * per approval with nobody waiting). Without a working watch it asks every `poll`.
 */
const watchingWaiter = (
  filename: string,
  fallback: Duration.Duration,
  poll: Duration.Duration
): Effect.Effect<Waiter, never, Scope.Scope> =>
  Effect.gen(function*() {
    let wakers = new Set<Deferred.Deferred<void>>()
    let watcher: fs.FSWatcher | undefined
    let waiting = 0
    const close = () => {
      watcher?.close()
      watcher = undefined
    }
    const watch = Effect.sync(() => {
      if (waiting++ > 0 && watcher !== undefined) return
      try {
        watcher = fs.watch(path.dirname(filename), { persistent: false }, () => {
          const woken = wakers
          wakers = new Set()
          for (const waker of woken) Deferred.unsafeDone(waker, Exit.void)
        })
        watcher.on("error", () => undefined)
      } catch {
        watcher = undefined
      }
    })
    const unwatch = Effect.sync(() => {
      if (--waiting === 0) close()
    })
    yield* Effect.addFinalizer(() => Effect.sync(close))
    const waiter: Waiter = {
      awaitDecided: (_requestId, check) =>
        Effect.acquireUseRelease(watch, () =>
          Effect.gen(function*() {
            while (true) {
              const waker = yield* Deferred.make<void>()
              wakers.add(waker)
              const row = yield* check
              if (row !== undefined) {
                wakers.delete(waker)
                return row
              }
              yield* Deferred.await(waker).pipe(
                Effect.timeoutOption(watcher === undefined ? poll : fallback),
                Effect.ensuring(Effect.sync(() => wakers.delete(waker)))
              )
            }
          }), () => unwatch),
      decided: () => Effect.void
    }
    return waiter
  })

/** The SQLite ledger. */
export const makeSqlite = (options: SqliteOptions): Effect.Effect<ApprovalLedgerService, LedgerError, Scope.Scope> =>
  Effect.gen(function*() {
    const filename = path.resolve(options.filename ?? defaultFilename(process.env))
    const t = tables(options.tablePrefix ?? defaultPrefix)
    yield* Effect.try({
      try: () => fs.mkdirSync(path.dirname(filename), { recursive: true }),
      catch: unavailable(filename, "create its directory")
    })
    yield* inspectSqlite(filename, t)
    const client = yield* openSqlite({ filename, disableWAL: true }, "be opened")
    const busy = Duration.toMillis(Duration.decode(options.busyTimeout ?? Duration.seconds(5)))
    const setup = Effect.gen(function*() {
      yield* client.unsafe(`PRAGMA busy_timeout = ${Math.max(0, Math.round(busy))}`)
      yield* client.unsafe("PRAGMA journal_mode = WAL")
      // WAL + NORMAL: a commit survives the process dying (the crash that matters here); an OS crash may
      // lose the last commits, never corrupt the file
      yield* client.unsafe("PRAGMA synchronous = NORMAL")
    }).pipe(Effect.mapError(classify(filename, "be opened")))
    yield* setup
    yield* migrate(t, filename).pipe(Effect.provideService(SqlClient.SqlClient, client))
    const [app] = yield* client.unsafe<{ readonly application_id: number }>("PRAGMA application_id").pipe(
      Effect.mapError(classify(filename, "be read"))
    )
    if (Number(app?.application_id ?? 0) === 0) {
      yield* client.unsafe(`PRAGMA application_id = ${applicationId}`).pipe(
        Effect.mapError(classify(filename, "be written"))
      )
    }
    // checkpoint the WAL from a background fiber once a second instead of inside every ~1000th commit
    // (a checkpoint syncs the file: milliseconds, which would land on whichever request commits then)
    yield* client.unsafe("PRAGMA wal_autocheckpoint = 0").pipe(Effect.mapError(classify(filename, "be opened")))
    yield* client.unsafe("PRAGMA wal_checkpoint(PASSIVE)").pipe(
      Effect.ignore,
      Effect.withTracerEnabled(false),
      Effect.repeat(Schedule.spaced(Duration.seconds(1))),
      Effect.interruptible,
      Effect.forkScoped
    )
    const poll = Duration.decode(options.pollInterval ?? Duration.millis(10))
    // measured (scripts/bench ledger, loaded 2-core machine): watch p50 2-6 ms, poll (10 ms) p50 ~10 ms
    const waiter = options.wake === "poll"
      ? pollingWaiter(poll)
      : yield* watchingWaiter(filename, Duration.millis(50), poll)
    const reads = makeStore(client, t, filename, waiter)
    const anchor = options.anchor === false ? undefined : yield* openAnchor(
      {
        file: options.anchor?.file ?? `${filename}.anchor`,
        keyFile: options.anchor?.keyFile,
        adoptExisting: options.anchor?.adoptExisting
      },
      filename,
      reads.head
    )
    // both waiters learn of decisions by reading, so appends need not tell them (`Waiter.decided`)
    const store: Store = {
      ...reads,
      append: yield* sqliteWriter.make(filename, t, busy, anchor, classify),
      anchor: anchor === undefined ? undefined : storeAnchor(anchor, filename)
    }
    return makeService(store, processIdentity(options))
  })

const describeUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
  } catch {
    return "the PostgreSQL server"
  }
}

/** `pg_notify` (the client's own `notify` sends `NOTIFY channel, $1`, which PostgreSQL refuses). */
const notify = (client: PgClient.PgClient, channel: string, payload: string) =>
  client`SELECT pg_notify(${channel}, ${payload})`

/** Waits for LISTEN/NOTIFY wake-ups (and asks the database every `fallback`, should a notification be lost). */
const notifyingWaiter = (
  client: PgClient.PgClient,
  channel: string,
  hub: PubSub.PubSub<string>,
  fallback: Duration.Duration
): Waiter => ({
  awaitDecided: (requestId, check) =>
    Effect.scoped(Effect.gen(function*() {
      const subscription = yield* PubSub.subscribe(hub)
      while (true) {
        const row = yield* check
        if (row !== undefined) return row
        // wake on a notification for this request, or after `fallback`
        yield* Queue.take(subscription).pipe(
          Effect.repeat({ until: (payload) => requestId === undefined || payload === requestId }),
          Effect.timeoutOption(fallback)
        )
      }
    })),
  decided: (requestIds) =>
    Effect.forEach(requestIds, (id) => notify(client, channel, id), { discard: true }).pipe(
      Effect.catchAll((error) => Effect.logWarning(`approval ledger: NOTIFY failed: ${error.message}`))
    )
})

/** The PostgreSQL ledger. */
export const makePg = (options: PgOptions): Effect.Effect<ApprovalLedgerService, LedgerError, Scope.Scope> =>
  Effect.gen(function*() {
    const target = describeUrl(options.url)
    const prefix = (options.tablePrefix ?? defaultPrefix).toLowerCase()
    const t = tables(prefix)
    const client = yield* PgClient.make({
      url: Redacted.make(options.url),
      maxConnections: options.maxConnections ?? 4,
      connectTimeout: Duration.seconds(5)
    }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.mapError(unavailable(target, "connect"))
    )
    const present = (yield* client<{ readonly table_name: string }>`
      SELECT table_name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_name IN ${client.in([t.entries, t.head, t.migrations])}`.pipe(
      Effect.mapError(unavailable(target, "be read"))
    )).map((row) => row.table_name)
    if (present.length > 0 && !present.includes(t.migrations)) {
      return yield* new LedgerCorrupt({
        target,
        reason: `tables ${present.join(", ")} exist but were not made by Deputy's migrations`
      })
    }
    yield* migrate(t, target).pipe(Effect.provideService(SqlClient.SqlClient, client as SqlClient.SqlClient))
    const identity = processIdentity(options)
    const channel = `${prefix}decided`
    const hub = yield* PubSub.unbounded<string>()
    const ready = yield* Deferred.make<void>()
    const token = `ready:${identity.runId}`
    yield* client.listen(channel).pipe(
      Stream.runForEach((payload) =>
        payload === token ? Deferred.succeed(ready, undefined) : PubSub.publish(hub, payload)
      ),
      Effect.catchAll((error) => Effect.logWarning(`approval ledger: LISTEN on ${target} ended: ${error.message}`)),
      Effect.forkScoped
    )
    // the listener is up once it hears its own notification
    yield* notify(client, channel, token).pipe(
      Effect.zipRight(Deferred.await(ready).pipe(Effect.timeoutFail({ duration: 200, onTimeout: () => "not yet" }))),
      Effect.retry(Schedule.recurs(25)),
      Effect.mapError(unavailable(target, "listen for answers"))
    )
    const waiter = notifyingWaiter(client, channel, hub, Duration.seconds(1))
    const anchor = options.anchor === undefined
      ? undefined
      : yield* openAnchor(options.anchor, target, makeStore(client, t, target, waiter).head)
    return makeService(makeStore(client, t, target, waiter, anchor), identity)
  })
