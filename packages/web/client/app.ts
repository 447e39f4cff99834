/**
 * The page of `deputy serve`: plain TypeScript and the DOM, compiled by tsc, no framework. Everything the
 * server sends that came from a sub-agent arrives as runs (even positions text, odd positions escapes)
 * and is put in text nodes only (`textContent`, never `innerHTML`).
 */

type Shown = ReadonlyArray<string>

interface DiffLine {
  readonly sign: string
  readonly text: Shown
}
interface FileView {
  readonly path: Shown
  readonly change: string
  readonly moveTo?: Shown
  readonly outside: boolean
  readonly note?: Shown
  readonly lines: ReadonlyArray<DiffLine>
}
interface LinkView {
  readonly path: Shown
  readonly source: Shown
  readonly turnId?: Shown
  readonly callId?: Shown
}
interface RequestView {
  readonly id: string
  readonly kind: string
  readonly delegateId: Shown
  readonly path?: Shown
  readonly process?: Shown
  readonly receivedAt: number
  readonly deadline?: number
  readonly summary: Shown
  readonly command?: Shown
  readonly cwd?: Shown
  readonly cwdOutside?: boolean
  readonly reason?: Shown
  readonly files?: ReadonlyArray<FileView>
  readonly filesLeftOut?: { readonly files: number; readonly outside: number }
  readonly questions?: ReadonlyArray<Shown>
  readonly chain: ReadonlyArray<LinkView>
  readonly actions: ReadonlyArray<string>
}
interface HistoryView {
  readonly id: string
  readonly summary: Shown
  readonly path?: Shown
  readonly outcome: string
  readonly decidedBy: Shown
  readonly client?: string
  readonly at: number
}
interface EventView {
  readonly seq: number
  readonly type: string
  readonly text: Shown
}
interface NodeView {
  readonly id: string
  readonly path: Shown
  readonly parent?: string
  readonly status: string
  readonly turn?: Shown
  readonly usage?: {
    readonly input?: number
    readonly output?: number
    readonly total: number
    readonly turns?: number
  }
  readonly budgetLeft?: Shown
  readonly ended?: Shown
}
type Message =
  | {
    readonly type: "snapshot"
    readonly n: number
    readonly server: string
    readonly nodes: ReadonlyArray<NodeView>
    readonly events: Record<string, ReadonlyArray<EventView>>
    readonly pending: ReadonlyArray<RequestView>
    readonly history: ReadonlyArray<HistoryView>
    readonly note?: string
  }
  | { readonly type: "pending"; readonly n: number; readonly pending: ReadonlyArray<RequestView> }
  | { readonly type: "settled"; readonly n: number; readonly entry: HistoryView }
  | { readonly type: "node"; readonly n: number; readonly node: NodeView }
  | { readonly type: "events"; readonly n: number; readonly node: string; readonly events: ReadonlyArray<EventView> }

const token = document.querySelector<HTMLMetaElement>("meta[name=deputy-token]")?.content ?? ""

const tabId = (() => {
  const known = sessionStorage.getItem("deputy-tab")
  if (known !== null && /^[A-Za-z0-9_-]{1,64}$/.test(known)) return known
  const bytes = new Uint8Array(6)
  crypto.getRandomValues(bytes)
  const fresh = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
  sessionStorage.setItem("deputy-tab", fresh)
  return fresh
})()

const keptEvents = 200
const keptHistory = 1000

/** Nodes whose event list this tab folded (kept across re-renders). */
const folded = new Set<string>()

const state = {
  server: "",
  n: -1,
  nodes: new Map<string, NodeView>(),
  events: new Map<string, Array<EventView>>(),
  pending: [] as ReadonlyArray<RequestView>,
  history: [] as Array<HistoryView>,
  deferred: [] as Array<string>,
  selected: undefined as string | undefined
}

// ---------------------------------------------------------------------------------------------------
// DOM helpers: text only.

const el = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  ...children: ReadonlyArray<Node | string>
): HTMLElementTagNameMap[K] => {
  const node = document.createElement(tag)
  if (className !== undefined) node.className = className
  for (const child of children) node.append(typeof child === "string" ? document.createTextNode(child) : child)
  return node
}

/** Runs as nodes: text as text nodes, escapes in a marked span (still text). */
const runs = (shown: Shown | undefined, className?: string): HTMLSpanElement => {
  const span = el("span", className)
  ;(shown ?? []).forEach((run, index) => {
    if (run === "") return
    if (index % 2 === 0) span.append(document.createTextNode(run))
    else {
      const escape = el("span", "esc")
      escape.textContent = run
      span.append(escape)
    }
  })
  return span
}

const flat = (shown: Shown | undefined) => (shown ?? []).join("")

const time = (ms: number) => new Date(ms).toLocaleTimeString()

const byId = (id: string) => document.getElementById(id)!

// ---------------------------------------------------------------------------------------------------
// Rendering.

const renderTree = () => {
  const list = byId("tree")
  const nodes = [...state.nodes.values()].sort((a, b) => flat(a.path).localeCompare(flat(b.path)))
  list.replaceChildren(...nodes.map((node) => {
    const depth = flat(node.path).split("/").length - 1
    const item = el("li", "node")
    item.dataset.node = node.id
    item.style.marginLeft = `${depth * 1.5}rem`
    const head = el(
      "div",
      "node-head",
      runs(node.path, "node-path"),
      el("span", `status status-${node.status.split(":")[0]}`, node.status)
    )
    if (node.turn !== undefined && flat(node.turn) !== "") head.append(el("span", "turn", "turn ", runs(node.turn)))
    if (node.usage !== undefined) {
      const { input, output, total, turns } = node.usage
      const detail = [
        input !== undefined ? `${input} in` : undefined,
        output !== undefined ? `${output} out` : undefined,
        turns !== undefined ? `${turns} turns` : undefined
      ].filter((part) => part !== undefined)
      head.append(el("span", "usage", `${total} tokens${detail.length > 0 ? ` (${detail.join(", ")})` : ""}`))
    }
    if (node.budgetLeft !== undefined) head.append(el("span", "budget", "budget left ", runs(node.budgetLeft)))
    if (node.ended !== undefined) head.append(el("span", "ended", "ended: ", runs(node.ended)))
    const events = state.events.get(node.id) ?? []
    const details = el("details", "events")
    details.open = !folded.has(node.id)
    details.addEventListener("toggle", () => {
      if (details.open) folded.delete(node.id)
      else folded.add(node.id)
    })
    details.append(el("summary", undefined, `${events.length} events`))
    const log = el("ol", "event-log")
    for (const event of events.slice(-50)) {
      log.append(el("li", `event event-${event.type}`, el("span", "event-type", event.type), " ", runs(event.text)))
    }
    details.append(log)
    item.append(head, details)
    return item
  }))
}

const ordered = (): ReadonlyArray<RequestView> => {
  const now = state.pending.filter((request) => !state.deferred.includes(request.id))
  const later = state.deferred
    .map((id) => state.pending.find((request) => request.id === id))
    .filter((request): request is RequestView => request !== undefined)
  return [...now, ...later]
}

const labels: Record<string, readonly [string, string]> = {
  approve: ["Approve", "a"],
  approve_for_session: ["Approve for session", "s"],
  deny: ["Deny", "d"],
  abort: ["Abort", "x"]
}

const renderRequest = (request: RequestView): HTMLLIElement => {
  const item = el("li", "request")
  item.dataset.id = request.id
  item.dataset.kind = request.kind
  if (request.id === state.selected) item.classList.add("selected")
  item.append(el(
    "div",
    "request-head",
    el("span", `kind kind-${request.kind}`, request.kind),
    runs(request.path ?? request.delegateId, "request-path"),
    ...(request.process !== undefined ? [el("span", "process", "from ", runs(request.process))] : []),
    el("span", "received", `received ${time(request.receivedAt)}`),
    ...(request.deadline !== undefined ? [el("span", "deadline", `deadline ${time(request.deadline)}`)] : [])
  ))
  item.append(el("div", "summary", runs(request.summary)))
  if (request.command !== undefined) {
    item.append(el("pre", "command", "$ ", runs(request.command)))
  }
  if (request.cwd !== undefined) {
    const cwd = el("div", "cwd", "in ", runs(request.cwd))
    if (request.cwdOutside === true) cwd.append(el("span", "outside", "outside the workspace"))
    item.append(cwd)
  }
  if (request.reason !== undefined) item.append(el("div", "reason", "reason: ", runs(request.reason)))
  for (const file of request.files ?? []) {
    const head = el("div", "file-head", el("span", `change change-${file.change}`, file.change), " ", runs(file.path))
    if (file.moveTo !== undefined) head.append(" → ", runs(file.moveTo))
    if (file.outside) head.append(el("span", "outside", "outside the workspace"))
    if (file.note !== undefined) head.append(el("span", "note", runs(file.note)))
    const diff = el("pre", "diff")
    for (const line of file.lines) {
      const cls = line.sign === "+" ? "add" : line.sign === "-" ? "del" : line.sign === "@" ? "hunk" : "ctx"
      diff.append(el("div", `line ${cls}`, line.sign === "@" || line.sign === "…" ? "" : line.sign, runs(line.text)))
    }
    item.append(el("div", `file${file.outside ? " file-outside" : ""}`, head, diff))
  }
  if (request.filesLeftOut !== undefined) {
    const { files, outside } = request.filesLeftOut
    const left = el("div", "files-left-out", `… ${files} more files not shown`)
    if (outside > 0) left.append(el("span", "outside", `${outside} of them outside the workspace`))
    item.append(left)
  }
  for (const question of request.questions ?? []) item.append(el("div", "question", "? ", runs(question)))
  if (request.chain.length > 0) {
    const chain = el("ol", "chain")
    for (const link of request.chain) {
      const entry = el("li", undefined, runs(link.path), " ", el("span", "source", "(", runs(link.source), ")"))
      if (link.turnId !== undefined) entry.append(" turn ", runs(link.turnId))
      if (link.callId !== undefined) entry.append(" call ", runs(link.callId))
      chain.append(entry)
    }
    item.append(el("div", "chain-head", "provenance"), chain)
  }
  const actions = el("div", "actions")
  for (const action of request.actions) {
    const [label, key] = labels[action] ?? [action, ""]
    const button = el("button", `act act-${action}`, label, " ", el("kbd", undefined, key))
    button.type = "button"
    button.dataset.action = action
    button.addEventListener("click", () => void answer(request.id, action))
    actions.append(button)
  }
  const later = el("button", "act act-later", "Not now ", el("kbd", undefined, "n"))
  later.type = "button"
  later.dataset.action = "later"
  later.addEventListener("click", () => defer(request.id))
  actions.append(later)
  item.append(actions)
  item.addEventListener("click", () => select(request.id))
  return item
}

const renderPending = () => {
  const list = ordered()
  if (state.selected === undefined || !list.some((request) => request.id === state.selected)) {
    state.selected = list[0]?.id
  }
  byId("pending-count").textContent = `(${list.length})`
  byId("pending").replaceChildren(...list.map(renderRequest))
}

const renderHistoryEntry = (entry: HistoryView) => {
  const item = el(
    "li",
    `settled outcome-${entry.outcome}`,
    el("span", "at", time(entry.at)),
    " ",
    el("span", "outcome", entry.outcome),
    " ",
    runs(entry.summary),
    " — by ",
    runs(entry.decidedBy, "decided-by")
  )
  if (entry.client === `web:${tabId}`) item.append(el("span", "mine", " (this tab)"))
  item.dataset.id = entry.id
  return item
}

const renderHistory = () => {
  byId("history").replaceChildren(...[...state.history].reverse().map(renderHistoryEntry))
}

const notice = (...parts: ReadonlyArray<Node | string>) => {
  byId("notice").replaceChildren(...parts)
}

/** Requests this tab answered too late, whose settlement it has not seen yet: told when it arrives. */
const late = new Set<string>()

const alreadyDecided = (entry: HistoryView) =>
  notice(
    el("strong", undefined, "Already decided: "),
    runs(entry.summary),
    ` was ${entry.outcome} by `,
    runs(entry.decidedBy, "decided-by"),
    ` at ${time(entry.at)}.`
  )

// ---------------------------------------------------------------------------------------------------
// Actions.

const select = (id: string | undefined) => {
  state.selected = id
  for (const item of document.querySelectorAll<HTMLElement>("#pending > li")) {
    item.classList.toggle("selected", item.dataset.id === id)
  }
}

const defer = (id: string) => {
  state.deferred = [...state.deferred.filter((other) => other !== id), id]
  const list = ordered()
  state.selected = list.find((request) => !state.deferred.includes(request.id))?.id ?? list[0]?.id
  renderPending()
}

const answer = async (id: string, action: string) => {
  try {
    const response = await fetch("/api/answer", {
      method: "POST",
      headers: { "content-type": "application/json", "x-deputy-token": token },
      body: JSON.stringify({ id, action, tab: tabId }),
      credentials: "same-origin"
    })
    if (response.ok) return notice()
    const body = await response.json().catch(() => ({})) as { error?: string; settled?: HistoryView }
    const known = body.settled ?? state.history.find((entry) => entry.id === id)
    if (response.status === 409 && known !== undefined) alreadyDecided(known)
    else if (response.status === 409) {
      // Settled a moment ago: the settlement is on its way on the event stream.
      late.add(id)
      notice(el("strong", undefined, "Already decided: "), "this request was settled by another answer.")
    } else {
      notice(el("strong", undefined, "Not answered: "), body.error ?? `HTTP ${response.status}`)
    }
  } catch (error) {
    notice(el("strong", undefined, "Not answered: "), `the server cannot be reached (${String(error)})`)
  }
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return
  const list = ordered()
  const index = list.findIndex((request) => request.id === state.selected)
  const current = list[index]
  switch (event.key) {
    case "j":
      select(list[Math.min(list.length - 1, index + 1)]?.id)
      break
    case "k":
      select(list[Math.max(0, index - 1)]?.id)
      break
    case "n":
      if (current !== undefined) defer(current.id)
      break
    case "a":
    case "s":
    case "d":
    case "x": {
      const action = { a: "approve", s: "approve_for_session", d: "deny", x: "abort" }[event.key]
      if (current !== undefined && current.actions.includes(action)) void answer(current.id, action)
      break
    }
    default:
      return
  }
  event.preventDefault()
})

// ---------------------------------------------------------------------------------------------------
// The event stream: a snapshot first, then changes numbered by `n`; a gap or a new server starts over.

let source: EventSource | undefined

const connection = (text: string, live: boolean) => {
  const badge = byId("connection")
  badge.textContent = text
  badge.dataset.live = live ? "yes" : "no"
  document.body.dataset.live = live ? "yes" : "no"
}

const apply = (message: Message) => {
  if (message.type === "snapshot") {
    state.server = message.server
    state.n = message.n
    state.nodes = new Map(message.nodes.map((node) => [node.id, node]))
    state.events = new Map(Object.entries(message.events).map(([node, list]) => [node, [...list]]))
    state.pending = message.pending
    state.history = [...message.history]
    state.deferred = state.deferred.filter((id) => message.pending.some((request) => request.id === id))
    document.body.dataset.server = message.server
    byId("tree-note").textContent = message.note ?? ""
    renderTree()
    renderPending()
    renderHistory()
    return
  }
  if (message.n <= state.n) return
  if (message.n !== state.n + 1) return reconnect()
  state.n = message.n
  switch (message.type) {
    case "pending":
      state.pending = message.pending
      state.deferred = state.deferred.filter((id) => message.pending.some((request) => request.id === id))
      renderPending()
      break
    case "settled":
      state.history.push(message.entry)
      if (state.history.length > keptHistory) state.history.splice(0, state.history.length - keptHistory)
      if (late.delete(message.entry.id)) alreadyDecided(message.entry)
      renderHistory()
      break
    case "node":
      state.nodes.set(message.node.id, message.node)
      renderTree()
      break
    case "events": {
      const list = state.events.get(message.node) ?? []
      list.push(...message.events)
      if (list.length > keptEvents) list.splice(0, list.length - keptEvents)
      state.events.set(message.node, list)
      renderTree()
      break
    }
  }
}

const connect = () => {
  source = new EventSource(`/api/events?token=${encodeURIComponent(token)}`)
  source.onopen = () => connection("live", true)
  source.onmessage = (event: MessageEvent<string>) => apply(JSON.parse(event.data) as Message)
  source.onerror = () => {
    connection("reconnecting…", false)
    // The browser retries by itself unless the server answered with an error; then find out which.
    if (source?.readyState === EventSource.CLOSED) setTimeout(probe, 1000)
  }
}

/** After a refused stream: a server that does not know this page's token (a new one) is said so. */
const probe = () => {
  fetch("/api/state", { headers: { "x-deputy-token": token } }).then(
    (response) => {
      if (response.status === 403) {
        connection("this page's token was refused: open the URL the server printed", false)
        setTimeout(probe, 5000)
      } else reconnect()
    },
    () => setTimeout(probe, 1000)
  )
}

const reconnect = () => {
  source?.close()
  state.n = -1
  connect()
}

connect()
