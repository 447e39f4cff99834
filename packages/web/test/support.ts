import { AgentSpawner, ApprovalInbox, type ApprovalRequest, Approvals, Delegate, TestAgent } from "@deputy/core"
import { WebServer } from "@deputy/web"
import * as Effect from "effect/Effect"
import * as http from "node:http"

/** An HTTP request with full control of the headers (fetch forbids setting Host and Origin). */
export const request = (options: {
  readonly port: number
  readonly path: string
  readonly method?: string
  readonly headers?: Record<string, string>
  readonly body?: string
}) =>
  Effect.async<{ readonly status: number; readonly body: string; readonly headers: http.IncomingHttpHeaders }>(
    (resume) => {
      const req = http.request({
        host: "127.0.0.1",
        port: options.port,
        path: options.path,
        method: options.method ?? "GET",
        headers: options.headers
      }, (res) => {
        const chunks: Array<Buffer> = []
        // An event stream never ends: the first chunk is enough.
        const sse = String(res.headers["content-type"]).startsWith("text/event-stream")
        res.on("data", (chunk: Buffer) => {
          chunks.push(chunk)
          if (sse) res.destroy()
        })
        const done = () =>
          resume(
            Effect.succeed({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString(),
              headers: res.headers
            })
          )
        res.on("end", done)
        res.on("close", done)
      })
      req.on("error", (error) => resume(Effect.die(error)))
      if (options.body !== undefined) req.write(options.body)
      req.end()
      return Effect.sync(() => req.destroy())
    }
  )

/**
 * One TestAgent child as a delegate routed into the inbox and attached to the server as node `path`.
 */
export const child = (path: string) =>
  Effect.gen(function*() {
    const inbox = yield* ApprovalInbox.ApprovalInbox
    const server = yield* WebServer.WebServer
    const agent = yield* TestAgent.make()
    const handle = yield* Delegate.interactive({ id: path.split("/").pop()!, source: "review" }).pipe(
      Effect.provideService(AgentSpawner.AgentSpawner, agent.spawner),
      Effect.provideService(Approvals.Approvals, inbox.approvals)
    )
    yield* server.attach(handle, { path })
    return { agent: agent.service, handle }
  })

/** Request `n` of another process's node `root/other`, as a ledger records it: `make deploy-N` in /srv. */
export const command = (n: number): ApprovalRequest.CommandApproval => ({
  id: `other/command/c${n}`,
  delegateId: "other",
  turnId: "t",
  callId: `c${n}`,
  source: "review",
  path: "root/other",
  kind: "command",
  event: { type: "exec_approval_request", call_id: `c${n}`, command: ["make", `deploy-${n}`], cwd: "/srv" }
})

/** The answer "approved". */
export const approve = { _tag: "Decision", decision: "approved" } as const
