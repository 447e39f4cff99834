/**
 * The approval inbox in a browser, over real HTTP on 127.0.0.1: from a child's `exec_approval_request`
 * entering its event stream, through the `ApprovalInbox`, the server's Server-Sent Events, a client that
 * answers with `POST /api/answer` as the page does, to the `exec_approval` reaching the child; one request
 * at a time. And the fan-out: how long until every one of 20 open event streams has shown a new request.
 * The clients are Node HTTP clients speaking the page's protocol (no browser: its rendering is not
 * measured).
 *
 * Attach mode (`deputy serve --ledger`), in the same run: the child's delegate asks through the ledger's
 * middleware over an `Approvals` that never answers (as `deputy run --approval inbox`), the server serves
 * `LedgerFeed.inbox` over a second connection to the same ledger (as another process would; SQLite with
 * its file watch, and PostgreSQL with LISTEN/NOTIFY when a server is at DEPUTY_TEST_PG_URL or
 * 127.0.0.1:5432). Both sides are in this process, so the two clocks are one; the answer's path is the
 * other process's: POST → ledger `answer` (a transaction) → the waiting connection wakes → the child.
 * `answer*`: from just before the POST to the `exec_approval` at the child.
 */
import { ApprovalInbox, Approvals, Delegate } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import { LedgerFeed, WebServer } from "@deputy/web"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { BenchAgents } from "./benchAgent.js"
import { dropPg, pgReachable, pgUrl } from "./ledger.js"
import { check, gc, percentile, type SectionResult, series, type Size } from "./stats.js"

interface Pending {
  readonly id: string
}

/** A client of the event stream: calls `onPending` with each new pending list. */
const follow = (server: WebServer.WebServerService, onPending: (pending: ReadonlyArray<Pending>) => void) =>
  Effect.acquireRelease(
    Effect.async<http.ClientRequest>((resume) => {
      const req = http.get({
        host: "127.0.0.1",
        port: server.port,
        path: `/api/events?token=${server.token}`,
        headers: { host: `127.0.0.1:${server.port}` }
      }, (res) => {
        let buffer = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => {
          buffer += chunk
          let end: number
          while ((end = buffer.indexOf("\n\n")) !== -1) {
            const frame = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            if (!frame.startsWith("data: ")) continue
            const message = JSON.parse(frame.slice(6)) as { type: string; pending?: ReadonlyArray<Pending> }
            if (message.type === "snapshot") resume(Effect.succeed(req))
            if (message.pending !== undefined) onPending(message.pending)
          }
        })
      })
      req.on("error", () => undefined)
    }),
    (req) => Effect.sync(() => req.destroy())
  )

const agent = new http.Agent({ keepAlive: true })

const answer = (server: WebServer.WebServerService, id: string) => {
  const body = JSON.stringify({ id, action: "approve", tab: "bench" })
  const req = http.request({
    host: "127.0.0.1",
    port: server.port,
    path: "/api/answer",
    method: "POST",
    agent,
    headers: {
      host: `127.0.0.1:${server.port}`,
      origin: server.origin,
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "x-deputy-token": server.token
    }
  }, (res) => res.resume())
  req.on("error", () => undefined)
  req.end(body)
}

/**
 * Where the child's requests go (its `Approvals`) and the server that serves them: `deputy serve --task`'s
 * in-process inbox, or a ledger (attach mode).
 */
type Setup = Layer.Layer<WebServer.WebServer | Approvals.Approvals, unknown>

const inProcess: Setup = WebServer.layer().pipe(Layer.provideMerge(ApprovalInbox.layer))

/** Nobody answers here: the ledger's middleware waits for an answer from elsewhere (`--approval inbox`). */
const nobody = Layer.succeed(Approvals.Approvals, {
  command: () => Effect.never,
  patch: () => Effect.never,
  permissions: () => Effect.never,
  userInput: () => Effect.never,
  elicitation: () => Effect.never
})

/** Attach mode over `ledger`: the child asks through one connection, the server reads and answers through another. */
const attached = (ledger: () => Layer.Layer<ApprovalLedger.ApprovalLedger, unknown>): Setup =>
  Layer.merge(
    ApprovalLedger.layerApprovals({ remote: true }).pipe(Layer.provide(Layer.merge(nobody, ledger()))),
    Layer.scoped(
      WebServer.WebServer,
      Effect.gen(function*() {
        const served = yield* Effect.map(Layer.build(ledger()), Context.get(ApprovalLedger.ApprovalLedger))
        return yield* WebServer.makeWith(yield* LedgerFeed.inbox(served))
      })
    )
  )

/** `count` sequential round trips; `clients` event streams open; the first one answers. µs each. */
const measure = (count: number, run: number, clients: number, setup: Setup) => {
  const agents = new BenchAgents()
  return Effect.gen(function*() {
    const server = yield* WebServer.WebServer
    yield* Delegate.interactive({ source: "review" })
    const child = agents.latest!
    let seen: ((index: number, pending: ReadonlyArray<Pending>) => void) | undefined
    const answered = new Set<string>()
    for (let index = 0; index < clients; index++) {
      yield* follow(server, (pending) => seen?.(index, pending))
    }
    const roundTrips: Array<number> = []
    const fanOut: Array<number> = []
    const answers: Array<number> = []
    for (let i = 0; i < count; i++) {
      const callId = `call_${run}_${i}`
      const done = yield* Deferred.make<number>()
      const allSaw = yield* Deferred.make<number>()
      const saw = new Set<number>()
      let posted = 0
      seen = (index, pending) => {
        const request = pending.find((entry) => entry.id.endsWith(`/${callId}`))
        if (request === undefined || saw.has(index)) return
        saw.add(index)
        if (saw.size === clients) Deferred.unsafeDone(allSaw, Exit.succeed(performance.now()))
        if (index === 0 && !answered.has(request.id)) {
          answered.add(request.id)
          posted = performance.now()
          answer(server, request.id)
        }
      }
      agents.onSubmission = (submission, at) => {
        if (submission.op.type === "exec_approval" && submission.op.id === callId) {
          check(submission.op.decision === "approved", `request ${callId} was answered ${submission.op.decision}`)
          Deferred.unsafeDone(done, Exit.succeed(at))
        }
      }
      const started = performance.now()
      child.emitNow({ type: "exec_approval_request", call_id: callId, command: ["git", "status"], cwd: "/repo" }, "t")
      const arrived = yield* Deferred.await(done)
      roundTrips.push((arrived - started) * 1000)
      answers.push((arrived - posted) * 1000)
      fanOut.push(((yield* Deferred.await(allSaw)) - started) * 1000)
    }
    agents.onSubmission = undefined
    return { roundTrips, fanOut, answers }
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(agents.layer, setup))
  )
}

export const run = async (size: Size): Promise<SectionResult> => {
  const count = size.quick ? 100 : 1000
  const attachCount = size.quick ? 20 : 200
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-bench-web-"))
  const pgPrefix = `deputy_bench_web_${process.pid}_`
  const hasPg = await pgReachable(ApprovalLedger.layerPg({ url: pgUrl, tablePrefix: `${pgPrefix}probe_` }))
  let file = 0
  try {
    const metrics = await series(size, async (run) => {
      gc()
      const one = await Effect.runPromise(measure(count, run, 1, inProcess))
      gc()
      const twenty = await Effect.runPromise(measure(count, run, 20, inProcess))
      gc()
      const filename = path.join(dir, `attach${++file}.db`)
      const sqlite = await Effect.runPromise(
        measure(attachCount, run, 1, attached(() => ApprovalLedger.layerSqlite({ filename })))
      )
      const out: Record<string, number> = {
        p50Us: percentile(one.roundTrips, 50),
        p99Us: percentile(one.roundTrips, 99),
        answerP50Us: percentile(one.answers, 50),
        answerP99Us: percentile(one.answers, 99),
        fanOut20P50Us: percentile(twenty.fanOut, 50),
        fanOut20P99Us: percentile(twenty.fanOut, 99),
        with20P50Us: percentile(twenty.roundTrips, 50),
        attachSqliteAnswerP50Us: percentile(sqlite.answers, 50),
        attachSqliteAnswerP99Us: percentile(sqlite.answers, 99),
        attachSqliteP50Us: percentile(sqlite.roundTrips, 50),
        attachSqliteP99Us: percentile(sqlite.roundTrips, 99)
      }
      if (hasPg) {
        gc()
        const tablePrefix = `${pgPrefix}r${++file}_`
        const pg = await Effect.runPromise(
          measure(attachCount, run, 1, attached(() => ApprovalLedger.layerPg({ url: pgUrl, tablePrefix })))
        )
        out.attachPgAnswerP50Us = percentile(pg.answers, 50)
        out.attachPgAnswerP99Us = percentile(pg.answers, 99)
        out.attachPgP50Us = percentile(pg.roundTrips, 50)
        out.attachPgP99Us = percentile(pg.roundTrips, 99)
      }
      return out
    })
    return {
      metrics,
      notes: [
        `${count} sequential round trips per run over 127.0.0.1: SSE to a Node client, POST /api/answer, answer at the child`,
        "fanOut20: until all 20 open event streams have the new request; with20: the round trip with those 20 open",
        `attach mode: ${attachCount} sequential requests per run through a ledger (two connections, one process); ` +
        "answer*: from the POST to the child, in-process serve and attach mode measured in the same run",
        ...(hasPg ? [] : [`attach mode over PostgreSQL skipped: no server at ${pgUrl}`])
      ]
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    if (hasPg) await dropPg(pgPrefix)
  }
}
