/** The `deputy serve` tests' client: the URL it prints, its event stream as the page reads it, and answers. */
import type { ChildProcess } from "node:child_process"
import * as http from "node:http"

/** The page's state, folded from the event stream the browser reads. */
export interface State {
  pending: Array<{
    id: string
    command?: Array<string>
    path?: Array<string>
    process?: Array<string>
    chain: Array<{ path: Array<string> }>
  }>
  history: Array<{ id: string; outcome: string; decidedBy: Array<string>; client?: string; at: number }>
  nodes: Map<string, { id: string; path: Array<string>; status: string; ended?: Array<string> }>
  events: Map<string, Array<{ type: string; text: Array<string> }>>
  note?: string
}

/** The URL `deputy serve` prints first (it fails if the program exits before). */
export const urlOf = (child: ChildProcess & { stdout: NodeJS.ReadableStream }) =>
  new Promise<URL>((resolve, reject) => {
    let out = ""
    let err = ""
    child.stderr?.on("data", (data) => err += data)
    child.on("close", (code) => reject(new Error(`deputy serve exited ${code} before printing its URL: ${err}`)))
    child.stdout.on("data", (data) => {
      out += data
      if (out.includes("\n")) resolve(new URL(out.split("\n")[0]))
    })
  })

/** Follows the page's event stream and resolves when `until` holds. */
export const follow = (url: URL, until: (state: State) => boolean) =>
  new Promise<State>((resolve, reject) => {
    const state: State = { pending: [], history: [], nodes: new Map(), events: new Map() }
    const req = http.get({
      host: url.hostname,
      port: url.port,
      path: `/api/events?token=${url.searchParams.get("token")}`,
      headers: { host: url.host }
    }, (res) => {
      let buffer = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const frame = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = frame.split("\n").find((line) => line.startsWith("data: "))
          if (data === undefined) continue
          const message = JSON.parse(data.slice(6))
          if (message.type === "snapshot") {
            state.pending = message.pending
            state.history = message.history
            state.note = message.note
            for (const node of message.nodes) state.nodes.set(node.id, node)
            for (const [id, list] of Object.entries(message.events)) state.events.set(id, list as any)
          } else if (message.type === "pending") state.pending = message.pending
          else if (message.type === "settled") state.history.push(message.entry)
          else if (message.type === "node") state.nodes.set(message.node.id, message.node)
          else if (message.type === "events") {
            state.events.set(message.node, [...(state.events.get(message.node) ?? []), ...message.events])
          }
          if (until(state)) {
            req.destroy()
            resolve(state)
          }
        }
      })
    })
    req.on("error", (error) => {
      if (!(error as NodeJS.ErrnoException).code?.includes("ECONNRESET")) reject(error)
    })
  })

/** Answers as the page does (`POST /api/answer` from the tab `tab`); resolves with the status and body. */
export const answerWith = (url: URL, id: string, action: string, tab = "e2e") =>
  new Promise<{ readonly status: number; readonly body: any }>((resolve, reject) => {
    const body = JSON.stringify({ id, action, tab })
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: "/api/answer",
      method: "POST",
      headers: {
        host: url.host,
        origin: url.origin,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        "x-deputy-token": url.searchParams.get("token")!
      }
    }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (text += chunk))
      res.on("end", () => {
        let parsed: unknown
        try {
          parsed = JSON.parse(text)
        } catch {
          parsed = text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed })
      })
    })
    req.on("error", reject)
    req.end(body)
  })

/** The status of an answer given as the page does. */
export const answer = (url: URL, id: string, action: string, tab = "e2e") =>
  answerWith(url, id, action, tab).then((response) => response.status)

/** A raw request to the server: method, path and headers as given (for the security tests). */
export const raw = (
  url: URL,
  options: {
    readonly method?: string
    readonly path: string
    readonly headers?: Record<string, string>
    readonly body?: string
  }
) =>
  new Promise<number>((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: options.path,
      method: options.method ?? "GET",
      headers: options.headers
    }, (res) => {
      res.resume()
      res.on("end", () => resolve(res.statusCode ?? 0))
    })
    req.on("error", reject)
    req.end(options.body)
  })
