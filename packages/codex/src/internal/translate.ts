/**
 * Translation between the app-server's JSON-RPC messages and Deputy's protocol: notifications and server
 * requests become `Event`s, answer ops become JSON-RPC results. A plain synchronous state machine: the
 * reader feeds it whole chunks of lines and collects events and replies in batches (no effect per message).
 */
import { AgentDiagnostic, ApprovalRequest, ShellWords, Supervisor } from "@deputy/core"
import { type Event, type EventMsg, type FileChange, JsonLines, type Op, type ReviewDecision } from "@deputy/protocol"
import type * as Either from "effect/Either"
import * as JsonRpc from "./jsonRpc.js"

type Json = Record<string, unknown>

const record = (value: unknown): Json =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? value as Json : {}

const string = (value: unknown): string | undefined => typeof value === "string" ? value : undefined

const number = (value: unknown): number | undefined => typeof value === "number" ? value : undefined

/** Builds an event message; the shapes follow `@deputy/protocol`'s `EventMsg` (checked by the tests). */
const msg = (type: string, fields: Json): EventMsg.EventMsg =>
  ({ type, ...withoutUndefined(fields) }) as EventMsg.EventMsg

const withoutUndefined = (fields: Json): Json => {
  const out: Json = {}
  for (const key in fields) {
    if (fields[key] !== undefined) out[key] = fields[key]
  }
  return out
}

const snake = (text: string): string => text.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)

/**
 * The app-server spells `codexErrorInfo` in camelCase (`internalServerError`,
 * `{responseStreamDisconnected: {httpStatusCode}}`); Codex's own events use snake_case.
 */
export const errorInfo = (value: unknown): unknown => {
  if (typeof value === "string") return snake(value)
  if (Array.isArray(value)) return value.map(errorInfo)
  if (typeof value === "object" && value !== null) {
    const out: Json = {}
    for (const [key, inner] of Object.entries(value)) out[snake(key)] = errorInfo(inner)
    return out
  }
  return value
}

/** An app-server approval decision as a `ReviewDecision` (for `available_decisions`). */
export const fromAppServerDecision = (decision: unknown): ReviewDecision.ReviewDecision | undefined => {
  switch (decision) {
    case "accept":
      return "approved"
    case "acceptForSession":
      return "approved_for_session"
    case "decline":
      return "denied"
    case "cancel":
      return "abort"
  }
  const object = record(decision)
  if ("acceptWithExecpolicyAmendment" in object) {
    const amendment = record(object.acceptWithExecpolicyAmendment).execpolicy_amendment
    return {
      approved_execpolicy_amendment: {
        proposed_execpolicy_amendment: Array.isArray(amendment) ? amendment.map(String) : []
      }
    }
  }
  if ("applyNetworkPolicyAmendment" in object) {
    const amendment = record(record(object.applyNetworkPolicyAmendment).network_policy_amendment)
    return {
      network_policy_amendment: {
        network_policy_amendment: {
          host: string(amendment.host) ?? "",
          action: amendment.action === "allow" ? "allow" : "deny"
        }
      }
    }
  }
  return undefined
}

/**
 * A `ReviewDecision` as a command approval decision: `approved→accept`, `approved_for_session→acceptForSession`,
 * `approved_execpolicy_amendment→acceptWithExecpolicyAmendment`, `network_policy_amendment→applyNetworkPolicyAmendment`,
 * `denied→decline`, `timed_out→decline`, `abort→cancel`.
 */
export const commandDecision = (decision: ReviewDecision.ReviewDecision): unknown => {
  switch (decision) {
    case "approved":
      return "accept"
    case "approved_for_session":
      return "acceptForSession"
    case "denied":
    case "timed_out":
      return "decline"
    case "abort":
      return "cancel"
  }
  if ("approved_execpolicy_amendment" in decision) {
    return {
      acceptWithExecpolicyAmendment: {
        execpolicy_amendment: decision.approved_execpolicy_amendment.proposed_execpolicy_amendment
      }
    }
  }
  if ("network_policy_amendment" in decision) {
    return {
      applyNetworkPolicyAmendment: {
        network_policy_amendment: decision.network_policy_amendment.network_policy_amendment
      }
    }
  }
  return "decline"
}

/**
 * A `ReviewDecision` as a file change decision (`accept | acceptForSession | decline | cancel`): amendments
 * that allow count as `accept`, anything else that is not an approval as `decline`.
 */
export const fileChangeDecision = (
  decision: ReviewDecision.ReviewDecision
): "accept" | "acceptForSession" | "decline" | "cancel" => {
  switch (decision) {
    case "approved":
      return "accept"
    case "approved_for_session":
      return "acceptForSession"
    case "abort":
      return "cancel"
    case "denied":
    case "timed_out":
      return "decline"
  }
  if ("approved_execpolicy_amendment" in decision) return "accept"
  if ("network_policy_amendment" in decision) {
    return decision.network_policy_amendment.network_policy_amendment.action === "allow" ? "accept" : "decline"
  }
  return "decline"
}

/** The `changes` of a `fileChange` item as `{path: FileChange}`. */
export const fileChanges = (changes: unknown): Record<string, FileChange.FileChange> => {
  const out: Record<string, FileChange.FileChange> = {}
  if (!Array.isArray(changes)) return out
  for (const change of changes) {
    const entry = record(change)
    const path = string(entry.path)
    if (path === undefined) continue
    const kind = record(entry.kind)
    const diff = string(entry.diff) ?? ""
    const fileChange: FileChange.FileChange = kind.type === "add"
      ? { type: "add", content: diff }
      : kind.type === "delete"
      ? { type: "delete", content: diff }
      : { type: "update", unified_diff: diff, move_path: string(kind.move_path) ?? null }
    // defineProperty, not `out[path] =`: a file named `__proto__` stays a visible key (prompt and policy).
    Object.defineProperty(out, path, { value: fileChange, enumerable: true, writable: true, configurable: true })
  }
  return out
}

const tokenUsage = (value: unknown) => {
  const usage = record(value)
  return {
    input_tokens: number(usage.inputTokens) ?? 0,
    cached_input_tokens: number(usage.cachedInputTokens) ?? 0,
    output_tokens: number(usage.outputTokens) ?? 0,
    reasoning_output_tokens: number(usage.reasoningOutputTokens) ?? 0,
    total_tokens: number(usage.totalTokens) ?? 0
  }
}

const durationOf = (ms: number | undefined) =>
  ms === undefined ? undefined : { secs: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 }

const lastAgentMessageOf = (items: unknown): string | undefined => {
  if (!Array.isArray(items)) return undefined
  let last: string | undefined
  for (const item of items) {
    const entry = record(item)
    if (entry.type === "agentMessage" && typeof entry.text === "string") last = entry.text
  }
  return last
}

/** A JSON-RPC response to one of the client's own requests. */
export type Outcome =
  | { readonly _tag: "Success"; readonly result: unknown }
  | { readonly _tag: "Failure"; readonly error: JsonRpc.RpcErrorBody }

type RequestKind = "exec" | "patch" | "permissions" | "user_input" | "elicitation"

interface PendingRequest {
  readonly kind: RequestKind
  readonly rpcId: JsonRpc.RequestId
  /** The request event's id and `call_id` (what a withdrawal names). */
  readonly eventId: string
  readonly callId: string
  /** Ids an answer op may use for it (approval id, item id, turn ids). */
  readonly keys: ReadonlyArray<string>
}

const answerKinds: Readonly<Record<string, RequestKind>> = {
  exec_approval: "exec",
  patch_approval: "patch",
  request_permissions_response: "permissions",
  user_input_answer: "user_input",
  request_user_input_response: "user_input",
  resolve_elicitation: "elicitation"
}

/** Item types that run something for the model: while one runs, the turn is not waiting on the model. */
const toolItemTypes: ReadonlySet<string> = new Set([
  "commandExecution",
  "fileChange",
  "mcpToolCall",
  "dynamicToolCall",
  "collabAgentToolCall",
  "webSearch",
  "imageGeneration"
])

/** Codex's notice that it retries the model (`error` with `willRetry`): not progress. */
const isRetryNotice = (method: string, params: unknown): boolean =>
  method === "error" && record(params).willRetry === true

/** Notices shown in this process (see `Translator`'s `shownOnce`). */
const shownInProcess = new Set<string>()

/** Codex's notice that `bwrap` is not installed (it then uses a bundled copy). */
const bubblewrapNotice = /could not find bubblewrap/i

/** The one line said instead. */
export const bubblewrapWarning =
  "codex: bubblewrap is not installed, Codex uses its bundled copy (install: sudo apt-get install bubblewrap)"

/** At most this many characters of a child's text in a notice (it is untrusted: bounded, shown through Text). */
const noticeChars = 200

const bounded = (text: string | undefined): string =>
  text === undefined ? "" : text.length > noticeChars ? `${text.slice(0, noticeChars)}…` : text

/** A dynamic tool's name as Codex sends it (`namespace.tool` when namespaced), bounded. */
const dynamicToolName = (params: Json): string => {
  const tool = string(params.tool) ?? "?"
  const namespace = string(params.namespace)
  return bounded(namespace === undefined ? tool : `${namespace}.${tool}`)
}

/**
 * The result of a dynamic tool call (`item/tool/call`) nobody handles: a failed call (`success: false`)
 * whose text tells the model why, so the turn goes on and the tool never runs.
 */
export const dynamicToolRefusal = (params: Json) => ({
  contentItems: [{
    type: "inputText",
    text: `Deputy has no handler for the dynamic tool \`${dynamicToolName(params)}\`: the call was not run.`
  }],
  success: false
})

const dynamicToolNotice = (params: Json): string =>
  `codex app-server asked Deputy to run the dynamic tool \`${dynamicToolName(params)}\` (call ${
    bounded(string(params.callId))
  }); Deputy has no handler for it: answered with a failed call`

/** Elicitation modes Codex sends (`McpServerElicitationRequestParams`, 0.169 and 0.171). */
const elicitationModes: ReadonlySet<string> = new Set(["form", "openai/form", "openaiForm", "url"])

/** Why an elicitation cannot be routed (it is then declined at once), or undefined. */
const elicitationProblem = (params: Json): string | undefined => {
  if (string(params.serverName) === undefined) return "it names no MCP server"
  if (string(params.message) === undefined) return "it has no message"
  const mode = string(params.mode)
  if (mode === undefined || !elicitationModes.has(mode)) {
    return `its mode is not one Deputy knows (${JSON.stringify(bounded(mode ?? String(params.mode)))})`
  }
  if (params.requestedSchema !== undefined && params.requestedSchema !== null) {
    const chars = JSON.stringify(params.requestedSchema).length
    const limit = ApprovalRequest.elicitationLimits.schemaChars
    if (chars > limit) return `its requested schema is ${chars} characters (at most ${limit})`
  }
  return undefined
}

const elicitationNotice = (params: Json, problem: string): string => {
  const mode = bounded(string(params.mode) ?? "?")
  const url = string(params.url)
  return `MCP server \`${bounded(string(params.serverName) ?? "?")}\` asked (${mode}${
    url === undefined ? "" : ` ${bounded(url)}`
  }): ${JSON.stringify(bounded(string(params.message)))}; declined at once: ${problem}`
}

/** At most this many nested threads are remembered (a child cannot grow the map without bound). */
const maxNestedThreads = 1000

/** A pending request's kind as the delegate names it. */
const withdrawnKinds: Readonly<Record<RequestKind, ApprovalRequest.ApprovalKind>> = {
  exec: "command",
  patch: "patch",
  permissions: "permissions",
  user_input: "user_input",
  elicitation: "elicitation"
}

/** Whether an op answers a request of Codex (a command, patch, permissions, user-input or elicitation request). */
export const isAnswer = (op: Op.Op): boolean => Object.hasOwn(answerKinds, op.type)

/**
 * The app-server session as Deputy events. Feed it lines (`line`) or messages (`message`), the client's own
 * turn starts (`turnStart*`) and answer ops (`answer`); take the results with `takeEvents` / `takeReplies`.
 */
export class Translator {
  private events: Array<Event.Event> = []
  private replies: Array<string> = []
  /** Codex turn id → id of the `user_input` submission that started it. */
  private readonly turnSubmissions = new Map<string, string>()
  /** `turn/start` requests sent whose turn is not known yet, oldest first. */
  private readonly unclaimedTurnStarts: Array<string> = []
  private active: { readonly turnId: string; readonly submissionId: string } | undefined
  private readonly turnEndWaiters: Array<() => void> = []
  private readonly lastAgentMessages = new Map<string, string>()
  private readonly failedTurns = new Set<string>()
  private readonly endedTurns = new Set<string>()
  private readonly fileChangeItems = new Map<string, Record<string, FileChange.FileChange>>()
  private readonly pending: Array<PendingRequest> = []
  /** Threads Codex spawned itself (`parentThreadId`), by id: their requests name them. */
  private readonly threads = new Map<string, ApprovalRequest.NestedThread>()
  /** The nested threads reported ended (a subset of `threads`). */
  private readonly closedThreads = new Set<string>()
  /** The nested threads that started a turn (a subset of `threads`). */
  private readonly threadsWithTurns = new Set<string>()
  /** The turn in progress of each nested thread. */
  private readonly nestedTurns = new Map<string, string>()
  /**
   * The session's own thread, once known: messages of any other thread are a nested thread's (their
   * turns, items and usage are not this session's).
   */
  mainThread: string | undefined
  /** Items that run a tool (commands, patches, tool calls) started and not completed: time the model is not asked. */
  private readonly toolItems = new Set<string>()
  /** Turns Deputy stopped for want of progress, with the error to report at their end. */
  private readonly timedOutTurns = new Map<string, string>()
  private retriesInTurn = 0
  /** When the app-server last made progress (any message but a retry notice), by `now`. */
  lastProgress: number

  constructor(
    private readonly onResponse: (id: JsonRpc.RequestId, outcome: Outcome) => void,
    private readonly now: () => number = Date.now,
    /** Notices already shown (by key), shared by the translators of one process: each is shown once. */
    private readonly shownOnce: Set<string> = shownInProcess
  ) {
    this.lastProgress = now()
  }

  /**
   * Whether the turn in progress is waiting on something other than the model: a request of Codex to the
   * parent, or a tool it runs.
   */
  get busy(): boolean {
    return this.pending.length > 0 || this.toolItems.size > 0
  }

  /** How many times Codex said it retries the model in the turn in progress. */
  get retries(): number {
    return this.retriesInTurn
  }

  /** Counts from now (time spent busy is not time without progress). */
  touch(): void {
    this.lastProgress = this.now()
  }

  /** Whether Deputy already stopped this turn for want of progress. */
  isTimedOut(turnId: string): boolean {
    return this.timedOutTurns.has(turnId)
  }

  /** Deputy stops this turn for want of progress: when it ends, it ends with this error. */
  timeOut(turnId: string, message: string): void {
    this.timedOutTurns.set(turnId, message)
  }

  /** Ends a turn Codex did not end after it was interrupted (as if it had, interrupted). */
  forceEnd(turnId: string): void {
    if (this.active?.turnId === turnId) this.turnCompleted({ id: turnId, status: "interrupted" })
  }

  /** The events produced since the last call. */
  takeEvents(): Array<Event.Event> {
    const events = this.events
    this.events = []
    return events
  }

  /** The lines to write to the app-server produced since the last call. */
  takeReplies(): Array<string> {
    const replies = this.replies
    this.replies = []
    return replies
  }

  /**
   * Adds an event (the session's own: `session_configured`, `shutdown_complete`, errors of ops). The
   * session's `shutdown_complete` is the end of the threads Codex spawned in it too (Codex does not close
   * them first): each one not closed yet is reported ended just before it.
   */
  emit(id: string, eventMsg: EventMsg.EventMsg): void {
    if (eventMsg.type === "shutdown_complete") this.endThreads()
    this.events.push({ id, msg: eventMsg })
  }

  /** Reports every nested thread not closed yet ended (see `threadEnded`). */
  private endThreads(): void {
    for (const threadId of this.threads.keys()) this.threadEnded(threadId)
  }

  /**
   * Reports a nested thread ended, once: `interrupted` mid-turn or before its first turn; idle after a
   * turn, with no reason of its own (the supervisor keeps its last turn's outcome).
   */
  private threadEnded(threadId: string): void {
    if (!this.threads.has(threadId) || this.closedThreads.has(threadId)) return
    this.closedThreads.add(threadId)
    const inTurn = this.nestedTurns.delete(threadId)
    this.threadReport(
      threadId,
      inTurn || !this.threadsWithTurns.has(threadId) ? { event: "ended", reason: "interrupted" } : { event: "ended" }
    )
  }

  /** The turn in progress of a nested thread, if any. */
  nestedTurn(threadId: string): string | undefined {
    return this.nestedTurns.get(threadId)
  }

  /** Whether Codex reported this nested thread. */
  knowsThread(threadId: string): boolean {
    return this.threads.has(threadId)
  }

  /** The turn in progress, if any. */
  get activeTurn(): { readonly turnId: string; readonly submissionId: string } | undefined {
    return this.active
  }

  /** Calls `callback` once no turn is in progress (at once if none is). */
  whenIdle(callback: () => void): void {
    if (this.active === undefined) callback()
    else this.turnEndWaiters.push(callback)
  }

  /** The client sent `turn/start` for this submission. */
  turnStartSent(submissionId: string): void {
    this.unclaimedTurnStarts.push(submissionId)
  }

  /**
   * The app-server answered the `turn/start` of this submission with this turn. The turn counts as in progress
   * from here (its `turn/started` may come later), so an `interrupt` right after `user_input` reaches it.
   */
  turnStartAnswered(submissionId: string, turnId: string | undefined): void {
    this.unclaim(submissionId)
    if (turnId === undefined) return
    if (!this.turnSubmissions.has(turnId)) this.turnSubmissions.set(turnId, submissionId)
    if (this.active === undefined && !this.endedTurns.has(turnId)) {
      this.active = { turnId, submissionId: this.turnSubmissions.get(turnId)! }
    }
  }

  /** The `turn/start` of this submission failed. */
  turnStartFailed(submissionId: string): void {
    this.unclaim(submissionId)
  }

  private unclaim(submissionId: string): void {
    const index = this.unclaimedTurnStarts.indexOf(submissionId)
    if (index !== -1) this.unclaimedTurnStarts.splice(index, 1)
  }

  private idOf(turnId: string | undefined): string {
    if (turnId !== undefined) {
      const id = this.turnSubmissions.get(turnId)
      if (id !== undefined) return id
    }
    return this.active?.submissionId ?? ""
  }

  private diagnostic(diagnostic: AgentDiagnostic.AgentDiagnostic): void {
    this.events.push(AgentDiagnostic.toEvent(diagnostic))
  }

  /** One line of the app-server's stdout (or an over-long line it skipped). */
  line(line: Either.Either<JsonLines.Line, JsonLines.LineTooLong>): void {
    if (line._tag === "Left") {
      this.diagnostic({
        type: "deputy_diagnostic",
        kind: "line_too_long",
        message: line.left.message,
        line: line.left.line,
        snippet: line.left.snippet
      })
      return
    }
    const { line: lineNumber, text } = line.right
    // Bounded in depth and width before parsing, as every line from a child is (a hostile line can
    // neither overflow the stack nor hold the event loop).
    const json = JsonLines.parseJson(text, lineNumber)
    if (json._tag === "Left") {
      this.malformed(lineNumber, text, json.left.reason)
      return
    }
    const incoming = JsonRpc.classify(json.right)
    if (incoming === undefined) this.malformed(lineNumber, text, "not a JSON-RPC message")
    else this.message(incoming)
  }

  private malformed(line: number, text: string, reason: string): void {
    const snippet = text.length <= 120 ? text : `${text.slice(0, 120)}… (${text.length} chars)`
    this.diagnostic({
      type: "deputy_diagnostic",
      kind: "malformed_line",
      message: `codex app-server line ${line}: ${reason}`,
      line,
      snippet
    })
  }

  /** One message of the app-server. */
  message(incoming: JsonRpc.Incoming): void {
    if (!(incoming._tag === "Notification" && isRetryNotice(incoming.method, incoming.params))) this.touch()
    switch (incoming._tag) {
      case "Response":
        return this.onResponse(incoming.id, { _tag: "Success", result: incoming.result })
      case "ErrorResponse":
        return this.onResponse(incoming.id, { _tag: "Failure", error: incoming.error })
      case "Notification":
        return this.notification(incoming.method, record(incoming.params))
      case "Request":
        return this.request(incoming.id, incoming.method, record(incoming.params))
    }
  }

  private opaque(method: string, params: Json, turnId: string | undefined): void {
    this.emit(this.idOf(turnId), msg("codex_notification", { method, params }))
  }

  private notification(method: string, params: Json): void {
    const thread = string(params.threadId)
    if (this.mainThread !== undefined && thread !== undefined && thread !== this.mainThread) {
      return this.nestedNotification(method, params, thread)
    }
    const turnId = string(params.turnId)
    switch (method) {
      case "turn/started":
        return this.turnStarted(record(params.turn))
      case "turn/completed":
        return this.turnCompleted(record(params.turn))
      case "item/started":
        return this.itemStarted(method, params)
      case "item/completed":
        return this.itemCompleted(method, params)
      case "item/agentMessage/delta":
        return this.emit(this.idOf(turnId), msg("agent_message_delta", { delta: string(params.delta) ?? "" }))
      case "item/reasoning/summaryTextDelta":
        return this.emit(this.idOf(turnId), msg("agent_reasoning_delta", { delta: string(params.delta) ?? "" }))
      case "item/reasoning/textDelta":
        return this.emit(
          this.idOf(turnId),
          msg("agent_reasoning_raw_content_delta", { delta: string(params.delta) ?? "" })
        )
      case "thread/tokenUsage/updated": {
        const usage = record(params.tokenUsage)
        return this.emit(
          this.idOf(turnId),
          msg("token_count", {
            info: {
              total_token_usage: tokenUsage(usage.total),
              last_token_usage: tokenUsage(usage.last),
              model_context_window: number(usage.modelContextWindow) ?? null
            }
          })
        )
      }
      case "error": {
        const error = record(params.error)
        const fields = {
          message: string(error.message) ?? "unknown error",
          codex_error_info: errorInfo(error.codexErrorInfo ?? null),
          additional_details: string(error.additionalDetails)
        }
        if (params.willRetry === true) {
          this.retriesInTurn++
          return this.emit(this.idOf(turnId), msg("stream_error", fields))
        }
        if (turnId !== undefined) this.failedTurns.add(turnId)
        return this.emit(this.idOf(turnId), msg("error", fields))
      }
      case "turn/diff/updated":
        return this.emit(this.idOf(turnId), msg("turn_diff", { unified_diff: string(params.diff) ?? "" }))
      case "turn/plan/updated":
        return this.emit(
          this.idOf(turnId),
          msg("plan_update", { explanation: params.explanation ?? null, plan: params.plan ?? [] })
        )
      case "warning":
        return this.emit(this.idOf(turnId), msg("warning", { message: string(params.message) ?? "" }))
      case "configWarning": {
        if (!bubblewrapNotice.test(string(params.summary) ?? "")) return this.opaque(method, params, turnId)
        // Codex's three-line notice on every start, said once per process in one line.
        if (this.shownOnce.has("bubblewrap")) return
        this.shownOnce.add("bubblewrap")
        return this.emit(this.idOf(turnId), msg("warning", { message: bubblewrapWarning }))
      }
      case "thread/started": {
        const started = record(params.thread)
        const id = string(started.id)
        const parentId = string(started.parentThreadId)
        if (id !== undefined && parentId !== undefined) {
          this.nestedStarted(id, parentId, string(started.agentNickname), string(started.agentRole), {})
        }
        return this.opaque(method, params, turnId)
      }
      case "serverRequest/resolved":
        return this.resolved(method, params)
      default:
        return this.opaque(method, params, turnId)
    }
  }

  private resolved(method: string, params: Json): void {
    const index = this.pending.findIndex((request) => request.rpcId === params.requestId)
    if (index === -1) return this.opaque(method, params, string(params.turnId))
    // Resolved before Deputy answered: Codex withdrew it (its turn ended or was interrupted).
    const request = this.pending.splice(index, 1)[0]!
    const withdrawn: ApprovalRequest.RequestWithdrawn = {
      type: ApprovalRequest.withdrawnType,
      kind: withdrawnKinds[request.kind],
      call_id: request.callId,
      reason: "Codex withdrew the request: it no longer waits for an answer (its turn ended or was interrupted)"
    }
    return this.emit(request.eventId, withdrawn as unknown as EventMsg.EventMsg)
  }

  private turnStarted(turn: Json): void {
    const turnId = string(turn.id) ?? ""
    let submissionId = this.turnSubmissions.get(turnId)
    if (submissionId === undefined) {
      submissionId = this.unclaimedTurnStarts.shift() ?? ""
      this.turnSubmissions.set(turnId, submissionId)
    }
    this.active = { turnId, submissionId }
    this.retriesInTurn = 0
    this.emit(submissionId, msg("task_started", { turn_id: turnId, started_at: number(turn.startedAt) }))
  }

  private turnCompleted(turn: Json): void {
    const turnId = string(turn.id) ?? ""
    const id = this.idOf(turnId)
    const timing = { completed_at: number(turn.completedAt), duration_ms: number(turn.durationMs) }
    const lastAgentMessage = this.lastAgentMessages.get(turnId) ?? lastAgentMessageOf(turn.items) ?? null
    switch (turn.status) {
      case "completed":
        this.emit(id, msg("task_complete", { turn_id: turnId, last_agent_message: lastAgentMessage, ...timing }))
        break
      case "interrupted": {
        const timedOut = this.timedOutTurns.get(turnId)
        if (timedOut === undefined) {
          this.emit(id, msg("turn_aborted", { turn_id: turnId, reason: "interrupted", ...timing }))
          break
        }
        // Stopped by Deputy for want of progress: an error, as a failed turn ends.
        const fields = { message: timedOut, codex_error_info: "deputy_turn_timeout" }
        this.emit(id, msg("error", fields))
        this.emit(
          id,
          msg("task_complete", { turn_id: turnId, last_agent_message: lastAgentMessage, error: fields, ...timing })
        )
        break
      }
      case "failed": {
        // As Codex itself does: an `error`, then the turn completes with the error attached.
        const error = record(turn.error)
        const fields = {
          message: string(error.message) ?? "the turn failed",
          codex_error_info: errorInfo(error.codexErrorInfo ?? null)
        }
        if (!this.failedTurns.has(turnId)) this.emit(id, msg("error", fields))
        this.emit(
          id,
          msg("task_complete", { turn_id: turnId, last_agent_message: lastAgentMessage, error: fields, ...timing })
        )
        break
      }
      default:
        this.opaque("turn/completed", { turn }, turnId)
    }
    this.lastAgentMessages.delete(turnId)
    this.failedTurns.delete(turnId)
    this.endedTurns.add(turnId)
    this.timedOutTurns.delete(turnId)
    if (this.active?.turnId === turnId) {
      this.toolItems.clear()
      this.active = undefined
      for (const waiter of this.turnEndWaiters.splice(0)) waiter()
    }
  }

  private itemStarted(method: string, params: Json): void {
    const item = record(params.item)
    const turnId = string(params.turnId)
    const callId = string(item.id) ?? ""
    if (typeof item.type === "string" && toolItemTypes.has(item.type)) this.toolItems.add(callId)
    if (item.type === "subAgentActivity") return this.subAgentActivity(method, params)
    switch (item.type) {
      case "commandExecution":
        return this.emit(
          this.idOf(turnId),
          msg("exec_command_begin", {
            call_id: callId,
            turn_id: turnId,
            command: ShellWords.toArgv(string(item.command) ?? ""),
            cwd: string(item.cwd) ?? "",
            parsed_cmd: item.commandActions ?? [],
            source: item.source
          })
        )
      case "fileChange": {
        const changes = fileChanges(item.changes)
        this.fileChangeItems.set(callId, changes)
        return this.emit(this.idOf(turnId), msg("patch_apply_begin", { call_id: callId, turn_id: turnId, changes }))
      }
      default:
        return this.opaque(method, params, turnId)
    }
  }

  private itemCompleted(method: string, params: Json): void {
    const item = record(params.item)
    const turnId = string(params.turnId)
    const callId = string(item.id) ?? ""
    this.toolItems.delete(callId)
    switch (item.type) {
      case "agentMessage": {
        const text = string(item.text) ?? ""
        if (turnId !== undefined) this.lastAgentMessages.set(turnId, text)
        return this.emit(this.idOf(turnId), msg("agent_message", { message: text, phase: item.phase ?? undefined }))
      }
      case "commandExecution": {
        const output = string(item.aggregatedOutput) ?? ""
        return this.emit(
          this.idOf(turnId),
          msg("exec_command_end", {
            call_id: callId,
            turn_id: turnId,
            command: ShellWords.toArgv(string(item.command) ?? ""),
            cwd: string(item.cwd) ?? "",
            exit_code: number(item.exitCode) ?? -1,
            stdout: output,
            stderr: "",
            aggregated_output: output,
            duration: durationOf(number(item.durationMs)),
            status: item.status
          })
        )
      }
      case "fileChange":
        this.fileChangeItems.delete(callId)
        return this.emit(
          this.idOf(turnId),
          msg("patch_apply_end", {
            call_id: callId,
            turn_id: turnId,
            stdout: "",
            stderr: "",
            success: item.status === "completed",
            status: item.status,
            changes: fileChanges(item.changes)
          })
        )
      default:
        return this.opaque(method, params, turnId)
    }
  }

  /**
   * A thread Codex spawned itself, first seen (`thread/started` with `parentThreadId`, or a
   * `subAgentActivity` item of kind `started`): remembered (bounded) so its requests name it, and reported
   * (`Supervisor.ThreadEvent`); its parent is omitted when it is this session's own thread.
   */
  private nestedStarted(
    id: string,
    parentId: string,
    name: string | undefined,
    role: string | undefined,
    spawnedIn: { readonly turnId?: string | undefined; readonly callId?: string | undefined }
  ): void {
    if (id === this.mainThread || this.threads.has(id)) return
    if (this.threads.size >= maxNestedThreads) {
      if (this.threads.size === maxNestedThreads && !this.shownOnce.has(`threads:${this.mainThread}`)) {
        this.shownOnce.add(`threads:${this.mainThread}`)
        this.diagnostic({
          type: "deputy_diagnostic",
          kind: "protocol",
          message: `codex app-server reported more than ${maxNestedThreads} nested threads: the others are not ` +
            "tracked (their requests name only their thread id)"
        })
      }
      return
    }
    this.threads.set(
      id,
      withoutUndefined({ id, parentId, nickname: name, role }) as unknown as ApprovalRequest.NestedThread
    )
    this.emit(
      this.idOf(undefined),
      msg(Supervisor.threadEventType, {
        event: "started",
        thread_id: id,
        parent_thread_id: parentId === this.mainThread ? undefined : parentId,
        name,
        role,
        turn_id: spawnedIn.turnId,
        call_id: spawnedIn.callId
      })
    )
  }

  /** Codex 0.171's `subAgentActivity` item in the spawning thread (`agentThreadId`, `agentPath`). */
  private subAgentActivity(method: string, params: Json): void {
    const item = record(params.item)
    const id = string(item.agentThreadId)
    const parentId = string(params.threadId) ?? this.mainThread
    if (item.kind !== "started" || id === undefined || parentId === undefined) {
      return this.opaque(method, params, string(params.turnId))
    }
    const agentPath = string(item.agentPath)
    const name = agentPath === undefined ? undefined : agentPath.slice(agentPath.lastIndexOf("/") + 1)
    this.nestedStarted(id, parentId, name, string(item.agentRole), {
      turnId: string(params.turnId),
      callId: string(item.id)
    })
  }

  private threadReport(threadId: string, fields: Json): void {
    this.emit(this.idOf(undefined), msg(Supervisor.threadEventType, { thread_id: threadId, ...fields }))
  }

  /**
   * A message of a nested thread: its turns and usage are reported as the thread's (never this session's
   * turns), its file changes kept for its patch requests, a withdrawal handled as any; the rest opaque.
   */
  private nestedNotification(method: string, params: Json, threadId: string): void {
    const known = this.threads.has(threadId)
    switch (method) {
      case "turn/started": {
        const turnId = string(record(params.turn).id)
        if (turnId !== undefined) this.nestedTurns.set(threadId, turnId)
        if (!known) return
        this.threadsWithTurns.add(threadId)
        return this.threadReport(threadId, { event: "turn_started" })
      }
      case "turn/completed": {
        // The end of the thread's turn, not of the thread: a `followup_task` starts another turn of it.
        const turn = record(params.turn)
        this.nestedTurns.delete(threadId)
        if (!known) return
        return this.threadReport(threadId, {
          event: "turn_ended",
          reason: turn.status === "completed" ? "completed" : turn.status === "interrupted" ? "interrupted" : "errored",
          last_agent_message: lastAgentMessageOf(turn.items) ?? null
        })
      }
      case "thread/closed":
        // The thread's end (see `threadEnded`).
        if (!known) this.nestedTurns.delete(threadId)
        return this.threadEnded(threadId)
      case "thread/tokenUsage/updated": {
        const total = number(record(record(params.tokenUsage).total).totalTokens)
        return known && total !== undefined
          ? this.threadReport(threadId, { event: "usage", total_tokens: total })
          : undefined
      }
      case "item/started":
      case "item/completed": {
        const item = record(params.item)
        if (item.type === "subAgentActivity" && method === "item/started") return this.subAgentActivity(method, params)
        if (item.type === "fileChange") {
          const callId = string(item.id) ?? ""
          if (method === "item/started") this.fileChangeItems.set(callId, fileChanges(item.changes))
          else this.fileChangeItems.delete(callId)
        }
        return this.opaque(method, params, undefined)
      }
      case "serverRequest/resolved":
        return this.resolved(method, params)
      default:
        return this.opaque(method, params, undefined)
    }
  }

  private request(rpcId: JsonRpc.RequestId, method: string, params: Json): void {
    const turnId = string(params.turnId) ?? ""
    // A thread Codex spawned itself (spawn_agent) asks through this session: its requests say which.
    const threadId = string(params.threadId)
    // A thread that is not this session's and was never reported is still named (a supervisor refuses it).
    const nested = threadId === undefined || threadId === this.mainThread
      ? undefined
      : this.threads.get(threadId) ?? (this.mainThread === undefined ? undefined : { id: threadId })
    const itemId = string(params.itemId) ?? ""
    const id = this.idOf(turnId)
    switch (method) {
      case "item/commandExecution/requestApproval": {
        const approvalId = string(params.approvalId)
        this.pending.push({
          kind: "exec",
          rpcId,
          eventId: id,
          callId: itemId,
          keys: approvalId === undefined ? [itemId] : [approvalId, itemId]
        })
        const decisions = Array.isArray(params.availableDecisions)
          ? params.availableDecisions.map(fromAppServerDecision).filter((decision) => decision !== undefined)
          : undefined
        return this.emit(
          id,
          msg("exec_approval_request", {
            [ApprovalRequest.threadField]: nested,
            call_id: itemId,
            approval_id: approvalId,
            turn_id: turnId,
            // a network approval has no command of its own (Codex 0.169 and 0.171): none is made up
            command: string(params.command) === undefined ? [] : ShellWords.toArgv(string(params.command)!),
            cwd: string(params.cwd) ?? "",
            reason: string(params.reason),
            network_approval_context: params.networkApprovalContext ?? undefined,
            proposed_execpolicy_amendment: Array.isArray(params.proposedExecpolicyAmendment)
              ? params.proposedExecpolicyAmendment.map(String)
              : undefined,
            proposed_network_policy_amendments: params.proposedNetworkPolicyAmendments ?? undefined,
            available_decisions: decisions,
            parsed_cmd: Array.isArray(params.commandActions) ? params.commandActions : [],
            started_at_ms: number(params.startedAtMs)
          })
        )
      }
      case "item/fileChange/requestApproval":
        this.pending.push({ kind: "patch", rpcId, eventId: id, callId: itemId, keys: [itemId] })
        return this.emit(
          id,
          msg("apply_patch_approval_request", {
            [ApprovalRequest.threadField]: nested,
            call_id: itemId,
            turn_id: turnId,
            changes: this.fileChangeItems.get(itemId) ?? {},
            reason: string(params.reason),
            grant_root: string(params.grantRoot),
            started_at_ms: number(params.startedAtMs)
          })
        )
      case "item/permissions/requestApproval": {
        this.pending.push({ kind: "permissions", rpcId, eventId: id, callId: itemId, keys: [itemId] })
        const permissions = record(params.permissions)
        const fileSystem = permissions.fileSystem === null || permissions.fileSystem === undefined
          ? null
          : record(permissions.fileSystem)
        return this.emit(
          id,
          msg("request_permissions", {
            [ApprovalRequest.threadField]: nested,
            call_id: itemId,
            turn_id: turnId,
            reason: string(params.reason),
            permissions: {
              network: permissions.network ?? null,
              file_system: fileSystem === null
                ? null
                : { read: fileSystem.read ?? null, write: fileSystem.write ?? null }
            },
            cwd: string(params.cwd),
            environment_id: string(params.environmentId)
          })
        )
      }
      case "item/tool/requestUserInput":
        this.pending.push({ kind: "user_input", rpcId, eventId: id, callId: itemId, keys: [id, turnId, itemId] })
        return this.emit(
          id,
          msg("request_user_input", {
            [ApprovalRequest.threadField]: nested,
            call_id: itemId,
            turn_id: turnId,
            questions: Array.isArray(params.questions) ? params.questions : [],
            // Codex 0.171: whether the turn waits for the answer (absent on 0.169)
            is_blocking: typeof params.isBlocking === "boolean" ? params.isBlocking : undefined
          })
        )
      case "item/tool/call":
        return this.failClosed(rpcId, method, dynamicToolRefusal(params), dynamicToolNotice(params))
      case "mcpServer/elicitation/request": {
        const problem = elicitationProblem(params)
        if (problem !== undefined) {
          return this.failClosed(
            rpcId,
            method,
            { action: "decline", content: null },
            elicitationNotice(params, problem)
          )
        }
        const serverName = string(params.serverName)!
        const callId = ApprovalRequest.elicitationCallId(serverName, rpcId)
        this.pending.push({ kind: "elicitation", rpcId, eventId: id, callId, keys: [callId] })
        const url = string(params.url)
        return this.emit(
          id,
          msg("elicitation_request", {
            [ApprovalRequest.threadField]: nested,
            turn_id: string(params.turnId),
            server_name: serverName,
            id: rpcId,
            request: withoutUndefined({
              mode: string(params.mode),
              _meta: params._meta ?? undefined,
              message: string(params.message),
              requested_schema: params.requestedSchema ?? undefined,
              url,
              elicitation_id: string(params.elicitationId)
            })
          })
        )
      }
      default:
        this.replies.push(
          JsonRpc.error(rpcId, JsonRpc.methodNotFound, `Deputy does not handle the server request \`${method}\``)
        )
        return this.diagnostic({
          type: "deputy_diagnostic",
          kind: "unknown_request",
          message: `codex app-server sent a request Deputy does not handle (\`${method}\`); answered with an error`,
          snippet: JSON.stringify({ method, id: rpcId }).slice(0, 120)
        })
    }
  }

  /**
   * Answers a server request Deputy does not route to the parent with its fail-closed result (a dynamic
   * tool call that did not run, an MCP elicitation declined) at once, and reports it.
   */
  private failClosed(rpcId: JsonRpc.RequestId, method: string, result: unknown, message: string): void {
    this.replies.push(JsonRpc.result(rpcId, result))
    this.diagnostic({
      type: "deputy_diagnostic",
      kind: "unknown_request",
      message,
      snippet: JSON.stringify({ method, id: rpcId }).slice(0, 120)
    })
  }

  /** Answers a pending request with an answer op; an answer nobody waits for becomes a diagnostic. */
  answer(op: Op.Op): void {
    const kind = Object.hasOwn(answerKinds, op.type) ? answerKinds[op.type] : undefined
    const fields = op as Json
    const requestId = fields.request_id
    const key = kind === "elicitation"
      ? ApprovalRequest.elicitationCallId(
        string(fields.server_name) ?? "",
        typeof requestId === "number" ? requestId : string(requestId) ?? ""
      )
      : string(fields.id) ?? ""
    const index = this.pending.findIndex((request) => request.kind === kind && request.keys.includes(key))
    if (kind === undefined || index === -1) {
      return this.diagnostic({
        type: "deputy_diagnostic",
        kind: "protocol",
        message: `\`${op.type}\` for \`${key}\` ignored: codex app-server has no pending request with that id ` +
          "(answered already, or resolved by the end of its turn)"
      })
    }
    const request = this.pending.splice(index, 1)[0]!
    this.replies.push(JsonRpc.result(request.rpcId, this.resultOf(op)))
  }

  private resultOf(op: Op.Op): unknown {
    switch (op.type) {
      case "exec_approval":
        return { decision: commandDecision((op as { decision: ReviewDecision.ReviewDecision }).decision) }
      case "patch_approval":
        return { decision: fileChangeDecision((op as { decision: ReviewDecision.ReviewDecision }).decision) }
      case "request_permissions_response": {
        const response = record((op as Json).response)
        const permissions = record(response.permissions)
        const granted: Json = {}
        const network = record(permissions.network)
        if (permissions.network !== null && permissions.network !== undefined) {
          granted.network = { enabled: typeof network.enabled === "boolean" ? network.enabled : null }
        }
        const fileSystem = record(permissions.file_system)
        if (permissions.file_system !== null && permissions.file_system !== undefined) {
          granted.fileSystem = { read: fileSystem.read ?? null, write: fileSystem.write ?? null }
        }
        return { permissions: granted, scope: response.scope === "session" ? "session" : "turn" }
      }
      case "resolve_elicitation": {
        const { content, decision, meta } = op as Json
        return {
          action: decision === "accept" || decision === "cancel" ? decision : "decline",
          content: decision === "accept" && content !== undefined ? content : null,
          _meta: decision === "accept" && meta !== undefined ? meta : null
        }
      }
      default: {
        const response = record((op as Json).response)
        return { answers: record(response.answers) }
      }
    }
  }
}
