/**
 * The approval inbox in a browser: a local web server on 127.0.0.1 that shows the delegates, their
 * events and the pending requests of an `ApprovalInbox`, and answers them through it.
 *
 * Safe by default: it listens on the loopback address only, on a free port unless told one; every
 * request needs the random token of the printed URL (403 otherwise); the Host header must be the loopback
 * name it started with (DNS rebinding); answers are POSTs with the token in a header from the page's own
 * origin (no CSRF, no CORS); and what a sub-agent sent reaches the page as `View.Shown` runs the page
 * puts in text nodes only. Live updates go by Server-Sent Events; the page reconnects by itself after
 * a restart and rebuilds from the snapshot the server sends first.
 *
 * The tree (`options.tree`) and the ledger's history (`options.history`) are optional inputs: without
 * them the page shows the delegates `attach`ed or `report`ed to the server and the settlements it saw.
 *
 * @since 0.2.0
 */
import { ApprovalInbox, type Delegate } from "@deputy/core"
import type { AgentStatus, Event, EventMsg } from "@deputy/protocol"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Guard from "./internal/guard.js"
import * as View from "./View.js"

/**
 * A node of the tree as a supervisor reports it (all optional but its id): plugs into the page as is.
 *
 * @since 0.2.0
 * @category models
 */
export interface TreeNode {
  readonly id: string
  readonly path?: string | undefined
  readonly parent?: string | undefined
  readonly status?: AgentStatus.AgentStatus | string | undefined
  readonly turn?: string | undefined
  /** A delegate's token usage, or a supervisor's roll-up (`tokens`, `turns`). */
  readonly usage?: EventMsg.TokenUsage | { readonly tokens: number; readonly turns?: number | undefined } | undefined
  readonly budgetLeft?: string | undefined
  readonly ended?: string | undefined
}

/**
 * A settlement from elsewhere (the ledger: other processes' answers), for the history.
 *
 * @since 0.2.0
 * @category models
 */
export interface HistoryEntry {
  readonly settlement: ApprovalInbox.InboxSettlement
  readonly at: number
}

/**
 * How `attach` treats a node: `supervised` when a supervisor's tree (the `tree` input) reports its status,
 * usage and end; the delegate then gives the page its events and current turn only.
 *
 * @since 0.2.0
 * @category models
 */
export interface AttachOptions {
  readonly supervised?: boolean | undefined
}

/**
 * A pending request as a source lists it: an inbox's entry, with the process that asked when the source
 * knows it (a ledger does).
 *
 * @since 0.2.0
 * @category models
 */
export type PendingShown = ApprovalInbox.PendingApproval & { readonly process?: string | undefined }

/**
 * What the server serves: the pending requests (their list and its changes, current value first), the
 * answers (`respond`, which fails with `ApprovalNotPending` when another answer won), and, from an inbox,
 * its settlements. An `ApprovalInbox` is one (`make`); `LedgerFeed.inbox` is another (attach mode).
 *
 * @since 0.2.0
 * @category models
 */
export interface InboxSource {
  readonly pending: Effect.Effect<ReadonlyArray<PendingShown>>
  readonly changes: Stream.Stream<ReadonlyArray<PendingShown>>
  readonly respond: ApprovalInbox.ApprovalInboxService["respond"]
  readonly settlements?: Stream.Stream<ApprovalInbox.InboxSettlement> | undefined
}

/**
 * Options: the loopback name (`127.0.0.1` or `localhost`), the port (default: a free one), the token
 * (default: fresh and random; give the same one to a restarted server so open pages reconnect), the
 * workspace patches are checked against, how many events per node the page keeps (default 200), how many
 * settlements the history keeps (default 1000), and the optional
 * tree and history inputs.
 *
 * @since 0.2.0
 * @category models
 */
export interface WebServerOptions {
  readonly host?: "127.0.0.1" | "localhost" | undefined
  readonly port?: number | undefined
  readonly token?: string | undefined
  readonly workspace?: string | undefined
  readonly eventsPerNode?: number | undefined
  readonly historySize?: number | undefined
  readonly tree?: Stream.Stream<ReadonlyArray<TreeNode>> | undefined
  readonly history?: Stream.Stream<HistoryEntry> | undefined
  /** A line the page shows above the tree (attach mode says what the tree is). */
  readonly note?: string | undefined
}

/**
 * A running server: its URL (with the token), port and token; `attach` makes a delegate a node of the
 * page and reads its events (the server becomes the handle's consumer); `report` updates a node.
 *
 * @since 0.2.0
 * @category models
 */
export interface WebServerService {
  readonly url: string
  readonly origin: string
  readonly port: number
  readonly token: string
  readonly attach: (
    handle: Delegate.DelegateHandle,
    node?: (Omit<TreeNode, "id"> & AttachOptions) | undefined
  ) => Effect.Effect<void, never, Scope.Scope>
  readonly report: (node: TreeNode) => Effect.Effect<void>
}

/**
 * The server could not listen (the port is taken, the address is not available).
 *
 * @since 0.2.0
 * @category errors
 */
export class WebServerError extends Schema.TaggedError<WebServerError>("@deputy/web/WebServerError")(
  "WebServerError",
  { address: Schema.String, cause: Schema.String }
) {
  override get message(): string {
    return `cannot serve on ${this.address}: ${this.cause}; choose another --port, or leave it out for a free one`
  }
}

/**
 * A message of the event stream. `n` counts every change since the server started; a page that sees a
 * gap reconnects and starts again from a snapshot.
 *
 * @since 0.2.0
 * @category models
 */
export type Message =
  | {
    readonly type: "snapshot"
    readonly n: number
    readonly server: string
    readonly nodes: ReadonlyArray<View.NodeView>
    readonly events: Readonly<Record<string, ReadonlyArray<View.EventView>>>
    readonly pending: ReadonlyArray<View.RequestView>
    readonly history: ReadonlyArray<View.HistoryView>
    readonly note?: string | undefined
  }
  | { readonly type: "pending"; readonly n: number; readonly pending: ReadonlyArray<View.RequestView> }
  | { readonly type: "settled"; readonly n: number; readonly entry: View.HistoryView }
  | { readonly type: "node"; readonly n: number; readonly node: View.NodeView }
  | {
    readonly type: "events"
    readonly n: number
    readonly node: string
    readonly events: ReadonlyArray<View.EventView>
  }

/**
 * The body of `POST /api/answer`: the request, the action, and the tab that answers (recorded as
 * `DecidedBy.InboxClient` `web:<tab>`).
 *
 * @since 0.2.0
 * @category models
 */
export const AnswerBody = Schema.Struct({
  id: Schema.String.pipe(Schema.maxLength(4096)),
  action: Schema.Literal("approve", "approve_for_session", "deny", "abort"),
  tab: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/))
})

const statusText = (status: AgentStatus.AgentStatus | string | undefined): string =>
  status === undefined
    ? "unknown"
    : typeof status === "string"
    ? status
    : "completed" in status
    ? "completed"
    : `errored: ${status.errored}`

/** The turn the last turn event of a batch leaves running: its id, `""` when it ended, none if no such event. */
const currentTurn = (batch: ReadonlyArray<Event.Event>): string | undefined => {
  for (let i = batch.length - 1; i >= 0; i--) {
    const msg = batch[i].msg
    if (msg.type === "task_started") return String(msg.turn_id ?? batch[i].id)
    if (msg.type === "task_complete" || msg.type === "turn_aborted") return ""
  }
  return undefined
}

const packageRoot = (): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const manifest = path.join(dir, "package.json")
    if (fs.existsSync(manifest) && fs.readFileSync(manifest, "utf8").includes("\"@deputy/web\"")) return dir
    dir = path.dirname(dir)
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
}

/** The page's files, read once: compiled by tsc at build time (`build/client`), no network at run time. */
const assets = () => {
  const root = packageRoot()
  const read = (file: string) => {
    try {
      return fs.readFileSync(path.join(root, file), "utf8")
    } catch {
      return undefined
    }
  }
  return {
    script: read("build/client/app.js") ??
      "document.body.textContent = 'The page script is not built: run npm run build (tsc -b).'",
    style: read("static/style.css") ?? ""
  }
}

const security = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

const page = (token: string) =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="deputy-token" content="${token}">
<title>Deputy</title>
<link rel="stylesheet" href="/style.css?token=${token}">
<script type="module" src="/app.js?token=${token}"></script>
</head>
<body>
<header><h1>Deputy</h1><span id="connection" class="connection">connecting…</span></header>
<main>
<section id="tree-section"><h2>Delegates</h2><p id="tree-note" class="note"></p><ul id="tree"></ul></section>
<section id="pending-section"><h2>Pending requests <span id="pending-count"></span></h2>
<p class="keys">Keys: <kbd>a</kbd> approve · <kbd>s</kbd> approve for session · <kbd>d</kbd> deny · <kbd>x</kbd> abort · <kbd>n</kbd> not now · <kbd>j</kbd>/<kbd>k</kbd> next/previous</p>
<div id="notice" role="status"></div>
<ol id="pending"></ol></section>
<section id="history-section"><h2>History</h2><ol id="history"></ol></section>
</main>
</body>
</html>
`

const encoder = new TextEncoder()
const sse = (message: Message) => encoder.encode(`data: ${JSON.stringify(message)}\n\n`)

const answerOf = (
  pending: ApprovalInbox.PendingApproval,
  action: typeof AnswerBody.Type.action
): ApprovalInbox.InboxAnswer | undefined => {
  const request = pending.request
  switch (request.kind) {
    case "command":
    case "patch":
      return ApprovalInbox.decision(
        action === "approve"
          ? "approved"
          : action === "deny"
          ? "denied"
          : action === "abort"
          ? "abort"
          : "approved_for_session"
      )
    case "permissions":
      return action === "abort"
        ? undefined
        : ApprovalInbox.permissions(
          action === "deny"
            ? Option.none()
            : Option.some({
              permissions: request.event.permissions,
              scope: action === "approve_for_session" ? "session" : "turn"
            })
        )
    case "user_input":
      return action === "deny" ? ApprovalInbox.userInput(Option.none()) : undefined
    case "elicitation":
      return {
        _tag: "Elicitation",
        response: action === "deny"
          ? { action: "decline" }
          : action === "abort"
          ? { action: "cancel" }
          : { action: "accept", ...(action === "approve_for_session" ? { persist: "session" } : {}) }
      }
  }
}

/**
 * Starts the server in the current scope for the `ApprovalInbox` in context (closing the scope stops the
 * server and ends every open page's event stream; the pages reconnect to the next server on the same port
 * and token).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  options: WebServerOptions = {}
): Effect.Effect<WebServerService, WebServerError, Scope.Scope | ApprovalInbox.ApprovalInbox> =>
  Effect.flatMap(ApprovalInbox.ApprovalInbox, (inbox) => makeWith(inbox, options))

/**
 * Starts the server in the current scope for a source of requests (`make` for an inbox; attach mode:
 * `LedgerFeed.inbox`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeWith = (
  inbox: InboxSource,
  options: WebServerOptions = {}
): Effect.Effect<WebServerService, WebServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const hostName = options.host ?? "127.0.0.1"
    const token = options.token ?? Guard.freshToken()
    if (!/^[A-Za-z0-9_-]{16,256}$/.test(token)) {
      return yield* new WebServerError({
        address: `127.0.0.1:${options.port ?? 0}`,
        cause: "the token must be 16 to 256 URL-safe characters (A-Z a-z 0-9 _ -)"
      })
    }
    const workspace = path.resolve(options.workspace ?? process.cwd())
    const eventsPerNode = options.eventsPerNode ?? 200
    const historySize = options.historySize ?? 1000
    const serverId = Guard.freshToken().slice(0, 12)
    const files = assets()

    // The state the page mirrors. Every change bumps `n` and is offered in the same synchronous step, so
    // the messages' order is the changes' order.
    let n = 0
    const nodes = new Map<string, View.NodeView>()
    const nodePaths = new Map<string, string>()
    const events = new Map<string, Array<View.EventView>>()
    let pending: ReadonlyArray<View.RequestView> = []
    const history: Array<View.HistoryView> = []
    const hub = yield* PubSub.sliding<Message>(4096)
    const publish = (make: (n: number) => Message) => {
      n++
      hub.unsafeOffer(make(n))
    }
    const snapshot = (): Message => ({
      type: "snapshot",
      n,
      server: serverId,
      nodes: [...nodes.values()],
      events: Object.fromEntries(events),
      pending,
      history: [...history],
      ...(options.note === undefined ? {} : { note: options.note })
    })

    const putNode = (node: TreeNode) =>
      Effect.sync(() => {
        const before = nodes.get(node.id)
        if (node.path !== undefined) nodePaths.set(node.id, node.path)
        const view: View.NodeView = {
          id: node.id,
          path: node.path !== undefined ? View.shown(node.path, 400) : before?.path ?? View.shown(node.id, 400),
          parent: node.parent ?? before?.parent,
          status: node.status !== undefined ? View.plain(View.shown(statusText(node.status), 400)) : before?.status ??
            "unknown",
          turn: node.turn !== undefined ? View.shown(node.turn, 200) : before?.turn,
          usage: node.usage === undefined
            ? before?.usage
            : "tokens" in node.usage
            ? { total: node.usage.tokens, turns: node.usage.turns }
            : { input: node.usage.input_tokens, output: node.usage.output_tokens, total: node.usage.total_tokens },
          budgetLeft: node.budgetLeft !== undefined ? View.shown(node.budgetLeft, 200) : before?.budgetLeft,
          ended: node.ended !== undefined ? View.shown(node.ended, 400) : before?.ended
        }
        nodes.set(node.id, view)
        publish((n) => ({ type: "node", n, node: view }))
      })

    const addEvents = (node: string, from: number, batch: ReadonlyArray<Event.Event>) =>
      Effect.sync(() => {
        const list = events.get(node) ?? []
        const views = batch.map((event, index) => View.event(from + index, event))
        list.push(...views)
        if (list.length > eventsPerNode) list.splice(0, list.length - eventsPerNode)
        events.set(node, list)
        publish((n) => ({ type: "events", n, node, events: views }))
      })

    const addHistory = (settled: ApprovalInbox.InboxSettlement, at: number) =>
      Effect.sync(() => {
        const entry = View.settlement(settled, at)
        history.push(entry)
        if (history.length > historySize) history.splice(0, history.length - historySize)
        publish((n) => ({ type: "settled", n, entry }))
      })

    // The inbox: every settlement, with when, and its pending list (oldest first, as it keeps it; each
    // request's view made once). The settlements' reader is started first; `make` returns once the list's
    // reader has its current value, so what follows is seen.
    if (inbox.settlements !== undefined) {
      yield* inbox.settlements.pipe(
        Stream.runForEach((settled) => Effect.flatMap(Clock.currentTimeMillis, (at) => addHistory(settled, at))),
        Effect.forkScoped
      )
    }
    const views = new WeakMap<PendingShown, View.RequestView>()
    const viewOf = (entry: PendingShown) => {
      let view = views.get(entry)
      if (view === undefined) {
        view = View.request(entry, workspace, nodePaths.get(entry.request.delegateId))
        views.set(entry, view)
      }
      return view
    }
    const listening = yield* Deferred.make<void>()
    yield* inbox.changes.pipe(
      Stream.runForEach((all) =>
        Effect.zipRight(
          Effect.sync(() => {
            pending = all.map(viewOf)
            publish((n) => ({ type: "pending", n, pending }))
          }),
          Deferred.succeed(listening, undefined)
        )
      ),
      Effect.forkScoped
    )
    if (options.tree !== undefined) {
      yield* options.tree.pipe(Stream.runForEach(Effect.forEach(putNode, { discard: true })), Effect.forkScoped)
    }
    if (options.history !== undefined) {
      yield* options.history.pipe(
        Stream.runForEach((entry) => addHistory(entry.settlement, entry.at)),
        Effect.forkScoped
      )
    }
    yield* Deferred.await(listening)

    const json = (status: number, body: unknown) => HttpServerResponse.unsafeJson(body, { status, headers: security })

    // The subscription lives as long as the response's stream: it ends when the page goes away.
    const events$ = Stream.unwrapScoped(Effect.gen(function*() {
      const subscription = yield* PubSub.subscribe(hub)
      const first = snapshot()
      const live = Stream.fromQueue(subscription).pipe(Stream.map(sse))
      const ping = Stream.fromSchedule(Schedule.spaced("15 seconds")).pipe(
        Stream.map(() => encoder.encode(": ping\n\n"))
      )
      return Stream.concat(Stream.make(encoder.encode("retry: 1000\n\n"), sse(first)), Stream.merge(live, ping))
    }))

    const answer = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const body = yield* request.json.pipe(
        Effect.flatMap(Schema.decodeUnknown(AnswerBody)),
        Effect.option
      )
      if (Option.isNone(body)) return json(400, { error: "the body must be {id, action, tab}" })
      const { action, id, tab } = body.value
      const waiting = (yield* inbox.pending).find((entry) => entry.request.id === id)
      const settledEntry = () => {
        for (let i = history.length - 1; i >= 0; i--) if (history[i].id === id) return history[i]
        return undefined
      }
      if (waiting === undefined) {
        return json(409, { error: `request ${id} is not pending`, settled: settledEntry() })
      }
      const reply = answerOf(waiting, action)
      if (reply === undefined) return json(400, { error: `a ${waiting.request.kind} request cannot be answered so` })
      return yield* inbox.respond(id, reply, { client: `web:${tab}` }).pipe(
        Effect.as(json(200, { ok: true })),
        Effect.catchTag(
          "ApprovalNotPending",
          (error: ApprovalInbox.ApprovalNotPending) =>
            Effect.succeed(json(409, { error: error.message, settled: settledEntry() }))
        ),
        Effect.catchTag("ApprovalAnswerMismatch", (error) => Effect.succeed(json(400, { error: error.message })))
      )
    })

    const router = HttpRouter.empty.pipe(
      HttpRouter.get(
        "/",
        Effect.succeed(HttpServerResponse.html(page(token)).pipe(HttpServerResponse.setHeaders(security)))
      ),
      HttpRouter.get(
        "/app.js",
        Effect.succeed(
          HttpServerResponse.text(files.script, { contentType: "text/javascript; charset=utf-8", headers: security })
        )
      ),
      HttpRouter.get(
        "/style.css",
        Effect.succeed(
          HttpServerResponse.text(files.style, { contentType: "text/css; charset=utf-8", headers: security })
        )
      ),
      HttpRouter.get("/api/state", Effect.sync(() => json(200, snapshot()))),
      HttpRouter.get(
        "/api/events",
        Effect.sync(() =>
          HttpServerResponse.stream(events$, {
            contentType: "text/event-stream",
            headers: { ...security, connection: "keep-alive" }
          })
        )
      ),
      HttpRouter.post("/api/answer", answer)
    )

    const expectHost = { current: "" }
    const app = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const refused = Guard.check(
        { method: request.method, url: request.url, headers: request.headers },
        { host: expectHost.current, token }
      )
      if (refused !== undefined) {
        return HttpServerResponse.text(`${refused.reason}\n`, { status: refused.status, headers: security })
      }
      return yield* router
    }).pipe(
      Effect.catchTag(
        "RouteNotFound",
        (_: HttpServerError.RouteNotFound) =>
          Effect.succeed(HttpServerResponse.text("not found\n", { status: 404, headers: security }))
      )
    )

    let nodeServer: http.Server | undefined
    const server = yield* NodeHttpServer.make(() => (nodeServer = http.createServer()), {
      host: "127.0.0.1",
      port: options.port ?? 0
    }).pipe(
      Effect.mapError((error) =>
        new WebServerError({ address: `127.0.0.1:${options.port ?? 0}`, cause: String(error.cause) })
      )
    )
    // Registered after the server's own finalizer, so it runs first: open event streams would keep
    // `server.close` waiting forever.
    yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer?.closeAllConnections()))
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    expectHost.current = `${hostName}:${port}`
    yield* server.serve(app)
    const origin = `http://${hostName}:${port}`

    const attach: WebServerService["attach"] = (handle, node) =>
      Effect.gen(function*() {
        const { supervised, ...shown } = node ?? {}
        yield* putNode(
          supervised === true ? { id: handle.id, ...shown } : { id: handle.id, status: "pending_init", ...shown }
        )
        const refresh = supervised === true ? Effect.void : Effect.flatMap(
          Effect.all([handle.status, handle.usage]),
          ([status, usage]) => putNode({ id: handle.id, status, usage })
        )
        yield* Effect.gen(function*() {
          let position = yield* handle.position
          while (true) {
            const batch = yield* handle.read(position)
            if (Option.isNone(batch)) break
            yield* addEvents(handle.id, batch.value.from, batch.value.events)
            const turn = currentTurn(batch.value.events)
            if (turn !== undefined) yield* putNode({ id: handle.id, turn })
            position = batch.value.from + batch.value.events.length
            yield* handle.release(position)
            yield* refresh
          }
          const ended = yield* handle.ended
          yield* refresh
          if (supervised !== true) yield* putNode({ id: handle.id, ended: ended.reason })
        }).pipe(Effect.forkScoped, Effect.asVoid)
      })

    return {
      url: `${origin}/?token=${token}`,
      origin,
      port,
      token,
      attach,
      report: putNode
    } satisfies WebServerService
  })

/**
 * The running server (`yield* WebServer.WebServer`).
 *
 * @since 0.2.0
 * @category tags
 */
export class WebServer extends Context.Tag("@deputy/web/WebServer")<WebServer, WebServerService>() {}

/**
 * Starts the server for the layer's lifetime.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  options: WebServerOptions = {}
): Layer.Layer<WebServer, WebServerError, ApprovalInbox.ApprovalInbox> => Layer.scoped(WebServer, make(options))
