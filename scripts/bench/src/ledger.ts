/**
 * The approval ledger's cost and its cross-process answer latency.
 *
 * - Round trip (as `approval.ts`: the child's `exec_approval_request` entering its stream to the
 *   `exec_approval` reaching the child), approve-all, one request at a time: without a ledger, with the
 *   in-memory ledger middleware, with the SQLite ledger (a file in a temp dir; WAL, synchronous=NORMAL,
 *   its anchor file beside it), one delegate each, all in the same run, taking turns in blocks of 100
 *   requests. Each ledgered request is 2 transactions: pending; decided + settled. The target row is SQLite
 *   minus memory at p99.
 * - Cross-process answer: this process records a request pending and waits in `awaitAnswer`; another
 *   process (`ledgerAnswerer.js`) answers it; latency = from just before its `answer` call to the wait
 *   returning here (same machine clock: `performance.timeOrigin + now()`). SQLite polling (10 ms), SQLite
 *   file watch, PostgreSQL LISTEN/NOTIFY (skipped without a server at DEPUTY_TEST_PG_URL or 127.0.0.1:5432).
 */
import { Approvals, Delegate } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import { BenchAgents } from "./benchAgent.js"
import { check, gc, percentile, type SectionResult, series, type Size } from "./stats.js"

/** One variant's delegate (no ledger, memory, SQLite), started in the current scope. */
const startVariant = (ledger: Layer.Layer<ApprovalLedger.ApprovalLedger, unknown> | undefined) =>
  Effect.gen(function*() {
    const agents = new BenchAgents()
    const approvals = ledger === undefined
      ? Approvals.layerApproveAll
      : ApprovalLedger.layerApprovals().pipe(Layer.provide(Layer.merge(Approvals.layerApproveAll, ledger)))
    const context = yield* Layer.build(Layer.merge(agents.layer, approvals))
    yield* Effect.provide(Delegate.interactive({ source: "review" }), context)
    return { agents, child: agents.latest!, latencies: [] as Array<number> }
  })

type Variant = Effect.Effect.Success<ReturnType<typeof startVariant>>

/** `count` sequential round trips through one variant, appended to its latencies (µs). */
const roundTrips = (variant: Variant, count: number, tag: string) =>
  Effect.gen(function*() {
    const { agents, child, latencies } = variant
    for (let i = 0; i < count; i++) {
      const callId = `call_${tag}_${i}`
      const answered = yield* Deferred.make<number>()
      agents.onSubmission = (submission, at) => {
        if (submission.op.type === "exec_approval" && submission.op.id === callId) {
          check(submission.op.decision === "approved", `request ${callId} was answered ${submission.op.decision}`)
          Deferred.unsafeDone(answered, Exit.succeed(at))
        }
      }
      const started = performance.now()
      child.emitNow({ type: "exec_approval_request", call_id: callId, command: ["git", "status"], cwd: "/repo" }, "t")
      const arrived = yield* Deferred.await(answered)
      latencies.push((arrived - started) * 1000)
    }
    agents.onSubmission = undefined
  })

/** Blocks of round trips, the variants taking turns, so a load spike on the machine hits each alike. */
const measureRoundTrips = (
  count: number,
  run: number,
  ledgers: ReadonlyArray<Layer.Layer<ApprovalLedger.ApprovalLedger, unknown> | undefined>
) =>
  Effect.scoped(Effect.gen(function*() {
    const variants = yield* Effect.forEach(ledgers, startVariant)
    for (let done = 0, block = 0; done < count; done += roundTripBlock, block++) {
      for (const variant of variants) {
        yield* roundTrips(variant, Math.min(roundTripBlock, count - done), `${run}_${block}`)
      }
    }
    return variants.map((variant) => variant.latencies)
  }))

const roundTripBlock = 100

const here = path.dirname(new URL(import.meta.url).pathname)
export const pgUrl = process.env.DEPUTY_TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test"

/** Starts the answering process and follows what it reports. */
const answerer = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly answeredAt: Map<string, number>; readonly kill: () => void }, Error>((resume) => {
      const child = spawn(process.execPath, [path.join(here, "ledgerAnswerer.js"), ...args], {
        stdio: ["ignore", "pipe", "inherit"]
      })
      const answeredAt = new Map<string, number>()
      let ready = false
      readline.createInterface({ input: child.stdout }).on("line", (line) => {
        if (line === "ready") {
          ready = true
          resume(Effect.succeed({ answeredAt, kill: () => child.kill("SIGKILL") }))
          return
        }
        const report = JSON.parse(line) as { readonly id: string; readonly at: number }
        answeredAt.set(report.id, report.at)
      })
      child.on("exit", (code) => {
        if (!ready) resume(Effect.fail(new Error(`the answering process exited (${code})`)))
      })
    }),
    (process) => Effect.sync(() => process.kill())
  )

const crossProcess = (
  layer: Layer.Layer<ApprovalLedger.ApprovalLedger, unknown>,
  args: ReadonlyArray<string>,
  count: number
) =>
  Effect.scoped(Effect.gen(function*() {
    const ledger = yield* Effect.map(Layer.build(layer), Context.get(ApprovalLedger.ApprovalLedger))
    const other = yield* answerer(args)
    const latencies: Array<number> = []
    for (let i = 0; i < count; i++) {
      const id = `bench/command/x${i}`
      yield* ledger.recordPending({
        kind: "command",
        id,
        delegateId: "bench",
        turnId: "t",
        callId: `x${i}`,
        source: "review",
        event: { type: "exec_approval_request", call_id: `x${i}`, command: ["true"], cwd: "/" }
      })
      yield* ledger.awaitAnswer(id)
      const woke = performance.timeOrigin + performance.now()
      // the answerer writes its report right after answering; give its pipe a moment if needed
      let at = other.answeredAt.get(id)
      for (let tries = 0; at === undefined && tries < 200; tries++) {
        yield* Effect.sleep(1)
        at = other.answeredAt.get(id)
      }
      check(at !== undefined, `the answerer did not report ${id}`)
      latencies.push(woke - at!)
    }
    return latencies
  }))

export const pgReachable = (layer: Layer.Layer<ApprovalLedger.ApprovalLedger, unknown>) =>
  Effect.runPromise(
    Effect.scoped(Layer.build(layer)).pipe(Effect.as(true), Effect.catchAll(() => Effect.succeed(false)))
  )

/** Drops the bench's PostgreSQL tables. */
export const dropPg = (prefix: string) =>
  Effect.runPromise(Effect.scoped(
    Effect.gen(function*() {
      const sql = yield* PgClient.make({ url: Redacted.make(pgUrl) })
      const rows = yield* sql<{ readonly table_name: string }>`
      SELECT table_name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_name LIKE ${prefix.replace(/_/g, "\\_") + "%"}`
      for (const row of rows) yield* sql.unsafe(`DROP TABLE IF EXISTS "${row.table_name}" CASCADE`)
    }).pipe(Effect.provide(Reactivity.layer))
  )).catch(() => undefined)

export const run = async (size: Size): Promise<SectionResult> => {
  const count = size.quick ? 300 : 3000
  const crossCount = size.quick ? 30 : 200
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-bench-ledger-"))
  const pgPrefix = `deputy_bench_${process.pid}_`
  const pgLayer = ApprovalLedger.layerPg({ url: pgUrl, tablePrefix: pgPrefix })
  const hasPg = await pgReachable(pgLayer)
  let file = 0
  try {
    const metrics = await series(size, async (run) => {
      const out: Record<string, number> = {}
      gc()
      const [plain, memory, sqlite] = await Effect.runPromise(measureRoundTrips(count, run, [
        undefined,
        ApprovalLedger.layerMemory(),
        ApprovalLedger.layerSqlite({ filename: path.join(dir, `rt${++file}.db`) })
      ]))
      out.plainP50Us = percentile(plain, 50)
      out.plainP99Us = percentile(plain, 99)
      out.memoryP50Us = percentile(memory, 50)
      out.memoryP99Us = percentile(memory, 99)
      out.sqliteP50Us = percentile(sqlite, 50)
      out.sqliteP99Us = percentile(sqlite, 99)
      // the target: what SQLite adds over the in-memory ledger (the ledger's logic costs the same in both)
      out.sqliteAddedP99Us = out.sqliteP99Us - out.memoryP99Us
      for (const wake of ["poll", "watch"] as const) {
        const filename = path.join(dir, `x${++file}`, "ledger.db")
        const latencies = await Effect.runPromise(
          crossProcess(ApprovalLedger.layerSqlite({ filename, wake }), ["sqlite", filename], crossCount)
        )
        out[`sqlite${wake === "poll" ? "Poll" : "Watch"}AnswerP50Ms`] = percentile(latencies, 50)
        out[`sqlite${wake === "poll" ? "Poll" : "Watch"}AnswerP99Ms`] = percentile(latencies, 99)
      }
      if (hasPg) {
        const prefix = `${pgPrefix}r${++file}_`
        const latencies = await Effect.runPromise(
          crossProcess(ApprovalLedger.layerPg({ url: pgUrl, tablePrefix: prefix }), ["pg", pgUrl, prefix], crossCount)
        )
        out.pgAnswerP50Ms = percentile(latencies, 50)
        out.pgAnswerP99Ms = percentile(latencies, 99)
      }
      return out
    })
    return {
      metrics,
      notes: [
        `${count} sequential round trips per run and variant (no ledger / memory / SQLite, in turns of ${roundTripBlock}), ` +
        `p50/p99 within each run`,
        `${crossCount} cross-process answers per run and store`,
        ...(hasPg ? [] : [`PostgreSQL skipped: no server at ${pgUrl}`])
      ]
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    if (hasPg) await dropPg(pgPrefix)
  }
}
