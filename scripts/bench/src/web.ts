/**
 * The approval inbox in a browser, over real HTTP on 127.0.0.1: from a child's `exec_approval_request`
 * entering its event stream, through the `ApprovalInbox`, the server's Server-Sent Events, a client that
 * answers with `POST /api/answer` as the page does, to the `exec_approval` reaching the child; one request
 * at a time. And the fan-out: how long until every one of 20 open event streams has shown a new request.
 * The clients are Node HTTP clients speaking the page's protocol (no browser: its rendering is not
 * measured).
 */
import { ApprovalInbox, Delegate } from "@deputy/core"
import { WebServer } from "@deputy/web"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as http from "node:http"
import { BenchAgents } from "./benchAgent.js"
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

/** `count` sequential round trips; `clients` event streams open; the first one answers. µs each. */
const measure = (count: number, run: number, clients: number) => {
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
    for (let i = 0; i < count; i++) {
      const callId = `call_${run}_${i}`
      const done = yield* Deferred.make<number>()
      const allSaw = yield* Deferred.make<number>()
      const saw = new Set<number>()
      seen = (index, pending) => {
        const request = pending.find((entry) => entry.id.endsWith(`/${callId}`))
        if (request === undefined || saw.has(index)) return
        saw.add(index)
        if (saw.size === clients) Deferred.unsafeDone(allSaw, Exit.succeed(performance.now()))
        if (index === 0 && !answered.has(request.id)) {
          answered.add(request.id)
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
      roundTrips.push(((yield* Deferred.await(done)) - started) * 1000)
      fanOut.push(((yield* Deferred.await(allSaw)) - started) * 1000)
    }
    agents.onSubmission = undefined
    return { roundTrips, fanOut }
  }).pipe(
    Effect.scoped,
    Effect.provide(WebServer.layer().pipe(Layer.provideMerge(Layer.merge(agents.layer, ApprovalInbox.layer))))
  )
}

export const run = async (size: Size): Promise<SectionResult> => {
  const count = size.quick ? 100 : 1000
  const metrics = await series(size, async (run) => {
    gc()
    const one = await Effect.runPromise(measure(count, run, 1))
    gc()
    const twenty = await Effect.runPromise(measure(count, run, 20))
    return {
      p50Us: percentile(one.roundTrips, 50),
      p99Us: percentile(one.roundTrips, 99),
      fanOut20P50Us: percentile(twenty.fanOut, 50),
      fanOut20P99Us: percentile(twenty.fanOut, 99),
      with20P50Us: percentile(twenty.roundTrips, 50)
    }
  })
  return {
    metrics,
    notes: [
      `${count} sequential round trips per run over 127.0.0.1: SSE to a Node client, POST /api/answer, answer at the child`,
      "fanOut20: until all 20 open event streams have the new request; with20: the round trip with those 20 open"
    ]
  }
}
