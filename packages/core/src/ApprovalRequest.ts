/**
 * What a child asks its parent, with provenance, and how each request settled.
 *
 * @since 0.1.0
 */
import { type EventMsg, type Op, type Permissions, ReviewDecision, type SessionSource } from "@deputy/protocol"
import type { PolicyAction } from "./Approvals.js"
import type { DecidedBy } from "./DecidedBy.js"
import { join as joinWords } from "./ShellWords.js"

/**
 * The kinds of request a delegate routes to the parent (`elicitation` since 0.2.0: an MCP server's
 * question, `ElicitationRequest`).
 *
 * @since 0.1.0
 * @category models
 */
export type ApprovalKind = "command" | "patch" | "permissions" | "user_input" | "elicitation"

/**
 * The event type of a child withdrawing a request it asked and nobody answered yet (Codex's
 * `serverRequest/resolved`: its turn ended or was interrupted). The delegate settles the request
 * `aborted` with the event's `reason`, stops asking the parent (the prompt is taken down), and sends the
 * child no answer.
 *
 * @since 0.2.0
 * @category constants
 */
export const withdrawnType = "deputy_request_withdrawn" as const

/**
 * A child's withdrawal of the request of this kind and call id (`ApprovalRequest.withdrawnType`).
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestWithdrawn {
  readonly type: typeof withdrawnType
  readonly kind: ApprovalKind
  readonly call_id: string
  readonly reason: string
}

/**
 * Where a request comes from. `id` is unique per delegate (`<delegateId>/<kind>/<callId>`), so two
 * delegates never collide (Codex keys user input by the parent's turn id, and two delegates do).
 *
 * @since 0.1.0
 * @category models
 */
export interface Provenance {
  /** Unique key of this request: `<delegateId>/<kind>/<callId>`. */
  readonly id: string
  /** The delegate that routed it. */
  readonly delegateId: string
  /** The child's turn (the `Event.id` the request arrived with). */
  readonly turnId: string
  /** The tool call the request is about. */
  readonly callId: string
  /** Why the sub-agent exists. */
  readonly source: SessionSource.SubAgentSource
  /** The position of the event the request arrived with, among the delegate's forwarded events. */
  readonly sequence?: number
  /**
   * The asking node's path in a supervised tree (`root/review/tests`); absent outside a tree.
   *
   * @since 0.2.0
   */
  readonly path?: string | undefined
  /**
   * Where the request comes from through the tree: the top-level node first (the supervisor's `root` is
   * not a node and has no link), the asking node last, each with its source and, for every node but the
   * asker, the turn and call in which it started the next one. Absent outside a tree.
   *
   * @since 0.2.0
   */
  readonly chain?: ReadonlyArray<ProvenanceLink> | undefined
  /**
   * The thread the child spawned itself that asks through it (a Codex sub-agent started with
   * `spawn_agent`), when the request is not the child's own; absent otherwise.
   *
   * @since 0.2.0
   */
  readonly thread?: NestedThread | undefined
}

/**
 * A thread a child spawned itself (Codex: a thread with `parentThreadId`), as its requests carry it.
 *
 * @since 0.2.0
 * @category models
 */
export interface NestedThread {
  /** The thread's id. */
  readonly id: string
  /** The thread that spawned it. */
  readonly parentId?: string | undefined
  /** Its nickname (Codex's `agentNickname`), when it has one. */
  readonly nickname?: string | undefined
  /** Its role (Codex's `agentRole`), when it has one. */
  readonly role?: string | undefined
}

/**
 * The field of a request event that names the nested thread asking (`NestedThread`, set by the child's
 * adapter, e.g. `@deputy/codex`); the delegate copies it into `Provenance.thread`.
 *
 * @since 0.2.0
 * @category constants
 */
export const threadField = "deputy_thread" as const

/**
 * The nested thread a request event names (`threadField`), if any; anything malformed is ignored.
 *
 * @since 0.2.0
 * @category accessors
 */
export const threadOf = (msg: unknown): NestedThread | undefined => {
  if (typeof msg !== "object" || msg === null) return undefined
  const thread = (msg as Record<string, unknown>)[threadField]
  if (typeof thread !== "object" || thread === null) return undefined
  const { id, nickname, parentId, role } = thread as Record<string, unknown>
  if (typeof id !== "string") return undefined
  const text = (value: unknown) => typeof value === "string" ? value : undefined
  return { id, parentId: text(parentId), nickname: text(nickname), role: text(role) }
}

/**
 * One node on a request's way up a supervised tree.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProvenanceLink {
  /** The node's path (`root/review`). */
  readonly path: string
  /** The node's own name (the last segment of its path). */
  readonly name: string
  /** The node's delegate id. */
  readonly delegateId: string
  /** Why the node exists. */
  readonly source: SessionSource.SubAgentSource
  /** The node's turn in which the next node on the chain was started, when known. */
  readonly turnId?: string | undefined
  /** The tool call that started the next node on the chain, when known. */
  readonly callId?: string | undefined
}

/**
 * The child asks to run a command.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommandApproval extends Provenance {
  readonly kind: "command"
  readonly event: typeof EventMsg.ExecApprovalRequest.Type
}

/**
 * The child asks to apply a patch.
 *
 * @since 0.1.0
 * @category models
 */
export interface PatchApproval extends Provenance {
  readonly kind: "patch"
  readonly event: typeof EventMsg.ApplyPatchApprovalRequest.Type
}

/**
 * The child asks for permissions.
 *
 * @since 0.1.0
 * @category models
 */
export interface PermissionsRequest extends Provenance {
  readonly kind: "permissions"
  readonly event: typeof EventMsg.RequestPermissions.Type
}

/**
 * The child asks the user questions.
 *
 * @since 0.1.0
 * @category models
 */
export interface UserInputRequest extends Provenance {
  readonly kind: "user_input"
  readonly event: typeof EventMsg.RequestUserInput.Type
}

/**
 * An MCP server the child uses asks the user something: fill a form, open a URL, or (Codex's MCP tool-call
 * approvals) allow a tool call. Everything in it comes from the MCP server: read it through `elicitation`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ElicitationRequest extends Provenance {
  readonly kind: "elicitation"
  readonly event: typeof EventMsg.ElicitationRequest.Type
}

/**
 * Any routed request.
 *
 * @since 0.1.0
 * @category models
 */
export type ApprovalRequest =
  | CommandApproval
  | PatchApproval
  | PermissionsRequest
  | UserInputRequest
  | ElicitationRequest

/**
 * How a request settled. Every request settles exactly once.
 *
 * @since 0.1.0
 * @category models
 */
export type ApprovalOutcome = "approved" | "approved_for_session" | "denied" | "aborted" | "timed_out"

/**
 * A settled request: the outcome, who decided it (carried from the decider, never re-derived), why it
 * was aborted or timed out (`reason`), how long the parent took, and the exact op the child received.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApprovalSettlement {
  readonly request: ApprovalRequest
  readonly outcome: ApprovalOutcome
  /** Who decided: a person, a policy rule, a fixed setting, a default, a deadline, a cancellation... */
  readonly decidedBy: DecidedBy
  readonly reason?: string | undefined
  readonly waitedMs: number
  readonly answer: Op.Op
}

/**
 * What a permission profile asks for, in words (`network access; write /tmp`); empty when nothing.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describePermissions = (permissions: Permissions.RequestPermissionProfile): string => {
  const { file_system, network } = permissions
  return [
    network?.enabled ? "network access" : undefined,
    file_system?.read?.length ? `read ${file_system.read.join(", ")}` : undefined,
    file_system?.write?.length ? `write ${file_system.write.join(", ")}` : undefined
  ].filter((part) => part !== undefined).join("; ")
}

/**
 * The network access a command request asks for (Codex's `networkApprovalContext`: the command tries
 * to reach `host` over `protocol` and the sandbox asks first), or `undefined` for any other request.
 *
 * @since 0.2.0
 * @category accessors
 */
export const networkAccess = (
  request: ApprovalRequest
): { readonly host: string; readonly protocol: string } | undefined => {
  if (request.kind !== "command") return undefined
  const context = request.event.network_approval_context
  if (context === undefined || context === null) return undefined
  return { host: context.host, protocol: typeof context.protocol === "string" ? context.protocol : "unknown" }
}

/**
 * Whether the child waits for the answer to its questions (Codex's `isBlocking`, carried as the event's
 * `is_blocking`): `false` when it goes on without one; `true` when it waits or does not say.
 *
 * @since 0.2.0
 * @category accessors
 */
export const isBlocking = (request: UserInputRequest): boolean => request.event.is_blocking !== false

/**
 * A one-line description of a request for people: the command (its words quoted as a shell would read
 * them, so `["rm", "/tmp/x /"]` shows as `rm '/tmp/x /'`), the patched files, the permissions or the questions.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (request: ApprovalRequest): string => {
  switch (request.kind) {
    case "command": {
      const network = networkAccess(request)
      const run = `run \`${joinWords(request.event.command)}\` in ${request.event.cwd}`
      if (network === undefined) return run
      const reach = `reach ${network.host} (${network.protocol})`
      // Codex asks a network approval without the command (the one running asks through its proxy)
      return request.event.command.length === 0 ? reach : `${reach} to ${run}`
    }
    case "patch":
      return `apply a patch to ${Object.keys(request.event.changes).join(", ") || "no files"}`
    case "permissions":
      return `grant ${describePermissions(request.event.permissions) || "permissions"}`
    case "user_input":
      return `answer ${request.event.questions.map((question) => JSON.stringify(question.question)).join(", ")}`
    case "elicitation":
      return describeElicitation(request)
  }
}

/**
 * The outcome a review decision stands for.
 *
 * @since 0.1.0
 * @category outcomes
 */
export const outcomeOfDecision = (decision: ReviewDecision.ReviewDecision): ApprovalOutcome => {
  if (decision === "approved_for_session") return "approved_for_session"
  if (decision === "abort") return "aborted"
  if (decision === "timed_out") return "timed_out"
  return ReviewDecision.isApproval(decision) ? "approved" : "denied"
}

// --- MCP elicitations ---

/**
 * How long an elicitation may be: its requested schema as JSON, its message and names are cut or refused
 * past these (an MCP server is untrusted).
 *
 * @since 0.2.0
 * @category constants
 */
export const elicitationLimits = {
  /** The requested schema, as JSON text (a larger one is refused). */
  schemaChars: 16_384,
  /** Fields in a form (more is refused). */
  fields: 32,
  /** Options of one enum field (more is refused). */
  options: 64,
  /** The message, a title, a description, an option label (longer is cut). */
  textChars: 2000,
  /** A field or server name, a tool name (longer is refused). */
  nameChars: 128
} as const

/**
 * The call id of an elicitation (`Provenance.callId`): its server and request id, so a number and a
 * string id stay apart. A child's adapter withdrawing one names it so.
 *
 * @since 0.2.0
 * @category accessors
 */
export const elicitationCallId = (serverName: string, id: string | number): string =>
  `${serverName}#${JSON.stringify(id)}`

/**
 * A choice an MCP tool-call approval offers beyond "allow once": remember it for the session or always.
 *
 * @since 0.2.0
 * @category models
 */
export type ElicitationPersist = "session" | "always"

/**
 * One field of an elicitation form, as the requested schema describes it (only the primitive types of
 * MCP's `PrimitiveSchemaDefinition`).
 *
 * @since 0.2.0
 * @category models
 */
export interface ElicitationField {
  readonly name: string
  readonly type: "string" | "number" | "integer" | "boolean" | "enum" | "multi_enum"
  readonly required: boolean
  readonly title?: string | undefined
  readonly description?: string | undefined
  /** For `enum` / `multi_enum`: the values allowed, with their labels. */
  readonly options?: ReadonlyArray<{ readonly value: string; readonly label: string }> | undefined
  readonly minLength?: number | undefined
  readonly maxLength?: number | undefined
  readonly minimum?: number | undefined
  readonly maximum?: number | undefined
  readonly format?: string | undefined
}

/**
 * An elicitation as Deputy reads it: a form with its fields, a URL (shown, never opened), an MCP tool-call
 * approval (Codex's `codex_approval_kind: "mcp_tool_call"`, with the `persist` choices it offers), or
 * `Refused` with why (an unknown mode, a schema too large or not flat, a `__proto__` field...): a refused
 * elicitation is declined without asking anyone.
 *
 * @since 0.2.0
 * @category models
 */
export type ElicitationView =
  | {
    readonly _tag: "Form"
    readonly serverName: string
    readonly message: string
    readonly fields: ReadonlyArray<ElicitationField>
  }
  | { readonly _tag: "Url"; readonly serverName: string; readonly message: string; readonly url: string }
  | {
    readonly _tag: "ToolCall"
    readonly serverName: string
    readonly message: string
    readonly toolName?: string | undefined
    readonly persist: ReadonlyArray<ElicitationPersist>
  }
  | { readonly _tag: "Refused"; readonly serverName: string; readonly problem: string }

/**
 * The parent's answer to an elicitation: `accept` (with `content` for a form: only the fields its schema
 * has, checked against it; with `persist` for a tool-call approval: only a choice it offers), `decline`,
 * or `cancel`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ElicitationResponse {
  readonly action: "accept" | "decline" | "cancel"
  readonly content?: Readonly<Record<string, unknown>> | undefined
  readonly persist?: ElicitationPersist | undefined
}

type Json = Readonly<Record<string, unknown>>

const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const cut = (text: unknown): string | undefined =>
  typeof text !== "string"
    ? undefined
    : text.length > elicitationLimits.textChars
    ? `${text.slice(0, elicitationLimits.textChars)}…`
    : text

const finite = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined

/** Names that would turn into something other than data on a plain object. */
const unsafeNames: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"])

const fieldOf = (name: string, schema: unknown, required: boolean): ElicitationField | string => {
  const what = `field ${JSON.stringify(name.slice(0, elicitationLimits.nameChars))}`
  if (unsafeNames.has(name)) return `${what} has a name Deputy refuses (it is not plain data in JavaScript)`
  if (name.length === 0 || name.length > elicitationLimits.nameChars) return `${what}: a name of 1 to 128 characters`
  if (!isRecord(schema)) return `${what} is not described by an object`
  const base = { name, required, title: cut(schema.title), description: cut(schema.description) }
  const options = (values: unknown, labels?: unknown): ElicitationField["options"] | string => {
    if (!Array.isArray(values) || values.length === 0) return `${what}: an enum without values`
    if (values.length > elicitationLimits.options) return `${what}: more than ${elicitationLimits.options} options`
    const out: Array<{ value: string; label: string }> = []
    for (const [index, value] of values.entries()) {
      const entry = isRecord(value) ? value : { const: value, title: Array.isArray(labels) ? labels[index] : value }
      if (typeof entry.const !== "string") return `${what}: an option that is not a string`
      out.push({ value: entry.const, label: cut(entry.title) ?? entry.const })
    }
    return out
  }
  switch (schema.type) {
    case "string": {
      const values = schema.enum ?? schema.oneOf
      if (values !== undefined) {
        const listed = options(values, schema.enumNames)
        return typeof listed === "string" ? listed : { ...base, type: "enum", options: listed }
      }
      return {
        ...base,
        type: "string",
        minLength: finite(schema.minLength),
        maxLength: finite(schema.maxLength),
        format: typeof schema.format === "string" ? schema.format : undefined
      }
    }
    case "number":
    case "integer":
      return { ...base, type: schema.type, minimum: finite(schema.minimum), maximum: finite(schema.maximum) }
    case "boolean":
      return { ...base, type: "boolean" }
    case "array": {
      const items = isRecord(schema.items) ? schema.items : {}
      const listed = options(items.enum ?? items.anyOf)
      return typeof listed === "string" ? listed : { ...base, type: "multi_enum", options: listed }
    }
    default:
      return `${what} has a type Deputy does not fill (${JSON.stringify(String(schema.type)).slice(0, 40)})`
  }
}

const formOf = (serverName: string, message: string, schema: unknown): ElicitationView => {
  const refused = (problem: string): ElicitationView => ({ _tag: "Refused", serverName, problem })
  let text: string
  try {
    text = JSON.stringify(schema ?? null)
  } catch {
    return refused("the requested schema cannot be read as JSON")
  }
  if (text.length > elicitationLimits.schemaChars) {
    return refused(`the requested schema is ${text.length} characters (at most ${elicitationLimits.schemaChars})`)
  }
  if (!isRecord(schema) || schema.type !== "object" || !isRecord(schema.properties)) {
    return refused("the requested schema is not a flat object schema ({\"type\": \"object\", \"properties\": ...})")
  }
  const names = Object.keys(schema.properties)
  if (names.length > elicitationLimits.fields) {
    return refused(`the form has more than ${elicitationLimits.fields} fields`)
  }
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((n) => typeof n === "string") : [])
  const fields: Array<ElicitationField> = []
  for (const name of names) {
    const field = fieldOf(name, schema.properties[name], required.has(name))
    if (typeof field === "string") return refused(field)
    fields.push(field)
  }
  for (const name of required) {
    if (!names.includes(name)) {
      return refused(`the form requires ${JSON.stringify(name.slice(0, 128))}, which it does not describe`)
    }
  }
  return { _tag: "Form", serverName, message, fields }
}

/**
 * What an elicitation asks, checked and bounded (see `ElicitationView`).
 *
 * @since 0.2.0
 * @category accessors
 */
export const elicitation = (request: ElicitationRequest): ElicitationView => {
  const { request: body, server_name } = request.event
  const serverName = server_name.length > elicitationLimits.nameChars
    ? `${server_name.slice(0, elicitationLimits.nameChars)}…`
    : server_name
  const message = cut(body.message) ?? ""
  const meta = isRecord(body._meta) ? body._meta : {}
  switch (body.mode) {
    case "form":
    case "openai/form":
    case "openaiForm": {
      if (meta.codex_approval_kind === "mcp_tool_call") {
        const persist = (Array.isArray(meta.persist) ? meta.persist : [meta.persist]).filter(
          (choice): choice is ElicitationPersist => choice === "session" || choice === "always"
        )
        const toolName = typeof meta.tool_name === "string" && meta.tool_name.length <= elicitationLimits.nameChars
          ? meta.tool_name
          : undefined
        const form = formOf(serverName, message, body.requested_schema ?? { type: "object", properties: {} })
        if (form._tag !== "Form") return form
        if (form.fields.length > 0) {
          return { _tag: "Refused", serverName, problem: "a tool-call approval with form fields" }
        }
        return { _tag: "ToolCall", serverName, message, toolName, persist: [...new Set(persist)] }
      }
      return formOf(serverName, message, body.requested_schema)
    }
    case "url":
      return typeof body.url === "string"
        ? { _tag: "Url", serverName, message, url: cut(body.url)! }
        : { _tag: "Refused", serverName, problem: "a URL elicitation without a URL" }
    default:
      return {
        _tag: "Refused",
        serverName,
        problem: `an elicitation mode Deputy does not know (${JSON.stringify(body.mode.slice(0, 40))})`
      }
  }
}

const describeElicitation = (request: ElicitationRequest): string => {
  const view = elicitation(request)
  const server = JSON.stringify(view.serverName)
  switch (view._tag) {
    case "Form":
      return `answer MCP server ${server}: ${JSON.stringify(view.message)} (${view.fields.length} field${
        view.fields.length === 1 ? "" : "s"
      })`
    case "Url":
      return `open a URL for MCP server ${server}: ${JSON.stringify(view.url)}`
    case "ToolCall":
      return `allow MCP server ${server} to run ${view.toolName === undefined ? "a tool" : `\`${view.toolName}\``}: ${
        JSON.stringify(view.message)
      }`
    case "Refused":
      return `answer MCP server ${server} (declined: ${view.problem})`
  }
}

const valueProblem = (field: ElicitationField, value: unknown): string | undefined => {
  const what = `field ${JSON.stringify(field.name)}`
  switch (field.type) {
    case "string": {
      if (typeof value !== "string") return `${what} takes a string`
      if (field.minLength !== undefined && value.length < field.minLength) return `${what} is too short`
      if (field.maxLength !== undefined && value.length > field.maxLength) return `${what} is too long`
      if (value.length > elicitationLimits.textChars) return `${what} is too long`
      return undefined
    }
    case "number":
    case "integer": {
      if (typeof value !== "number" || !Number.isFinite(value)) return `${what} takes a number`
      if (field.type === "integer" && !Number.isInteger(value)) return `${what} takes an integer`
      if (field.minimum !== undefined && value < field.minimum) return `${what} is below ${field.minimum}`
      if (field.maximum !== undefined && value > field.maximum) return `${what} is above ${field.maximum}`
      return undefined
    }
    case "boolean":
      return typeof value === "boolean" ? undefined : `${what} takes true or false`
    case "enum":
      return typeof value === "string" && field.options!.some((option) => option.value === value)
        ? undefined
        : `${what} takes one of its options`
    case "multi_enum":
      return Array.isArray(value) &&
          value.every((item) => typeof item === "string" && field.options!.some((option) => option.value === item))
        ? undefined
        : `${what} takes a list of its options`
  }
}

const runsNothing = (decision: ReviewDecision.ReviewDecision): boolean =>
  ReviewDecision.isDenial(decision) || decision === "abort" || decision === "timed_out"

/** Two decisions as Codex reads them: the same value, objects compared by their JSON with sorted keys. */
const sameDecision = (a: ReviewDecision.ReviewDecision, b: ReviewDecision.ReviewDecision): boolean =>
  a === b || (typeof a === "object" && typeof b === "object" && canonical(a) === canonical(b))

const canonical = (value: unknown): string =>
  Array.isArray(value)
    ? `[${value.map(canonical).join(",")}]`
    : typeof value === "object" && value !== null
    ? `{${
      Object.keys(value).sort().map((key) =>
        `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`
      )
        .join(",")
    }}`
    : JSON.stringify(value) ?? "null"

/**
 * Why a command or patch request cannot be answered with `decision`, or `undefined` when it can. A decision
 * that runs nothing (a denial in either form, `abort`, `timed_out`) always fits. Otherwise, when the child
 * lists the decisions it accepts (`available_decisions`), only one of those, a rule to remember compared
 * whole (never broader: another host, a shorter prefix); when it lists none, a plain approval, or
 * remembering exactly the command prefix it proposed (`proposed_execpolicy_amendment`). A patch takes
 * plain decisions only. Every answer a delegate sends goes through this (fail closed: the default instead).
 * For the delegate's own check (`plain: "any"`) a plain decision always fits.
 *
 * @since 0.2.0
 * @category validation
 */
export const decisionProblem = (
  request: CommandApproval | PatchApproval,
  decision: ReviewDecision.ReviewDecision,
  options: {
    /**
     * `"any"`: a plain decision (`approved`, `approved_for_session`) fits even when not listed; only rules
     * to remember are checked. Codex honours an `approved_for_session` it does not list (both pinned
     * versions), so the delegate checks this way; the ledger checks a person's answer strictly (default).
     */
    readonly plain?: "offered" | "any" | undefined
  } = {}
): string | undefined => {
  if (runsNothing(decision)) return undefined
  if (options.plain === "any" && typeof decision === "string") return undefined
  const offered: ReadonlyArray<ReviewDecision.ReviewDecision> = request.kind === "patch"
    ? ["approved", "approved_for_session"]
    : request.event.available_decisions ?? [
      "approved",
      "approved_for_session",
      ...(request.event.proposed_execpolicy_amendment?.length
        ? [{
          approved_execpolicy_amendment: { proposed_execpolicy_amendment: request.event.proposed_execpolicy_amendment }
        }]
        : [])
    ]
  if (offered.some((accepted) => sameDecision(accepted, decision))) return undefined
  const name = (value: ReviewDecision.ReviewDecision) =>
    typeof value === "string" ? value : Object.keys(value)[0] ?? "?"
  return `the ${request.kind} request does not offer ${JSON.stringify(decision)} (it offers ${
    offered.map(name).join(", ") || "nothing"
  })`
}

/**
 * Checks an answer against what the elicitation asks, or says why it cannot go to the MCP server: an
 * accepted form carries only the fields of its schema, each of its type and within its bounds, every
 * required one given; a tool-call approval persists only a choice it offers; a URL or a tool call takes no
 * content; a refused elicitation can only be declined or cancelled. Returns the answer as it goes out.
 *
 * @since 0.2.0
 * @category validation
 */
export const checkElicitationResponse = (
  view: ElicitationView,
  response: ElicitationResponse
): { readonly _tag: "Valid"; readonly response: ElicitationResponse } | {
  readonly _tag: "Invalid"
  readonly problem: string
} => {
  const invalid = (problem: string) => ({ _tag: "Invalid", problem }) as const
  if (response.action !== "accept") return { _tag: "Valid", response: { action: response.action } }
  switch (view._tag) {
    case "Refused":
      return invalid(`the elicitation cannot be accepted: ${view.problem}`)
    case "Url":
    case "ToolCall": {
      if (response.content !== undefined && Object.keys(response.content).length > 0) {
        return invalid(
          view._tag === "Url" ? "a URL elicitation takes no content" : "a tool-call approval takes no content"
        )
      }
      if (response.persist !== undefined && (view._tag === "Url" || !view.persist.includes(response.persist))) {
        return invalid(`the elicitation does not offer to remember (${response.persist})`)
      }
      return {
        _tag: "Valid",
        response: { action: "accept", ...(response.persist === undefined ? {} : { persist: response.persist }) }
      }
    }
    case "Form": {
      if (response.persist !== undefined) return invalid("a form does not offer to remember")
      const given = response.content ?? {}
      const content: Record<string, unknown> = {}
      for (const name of Object.keys(given)) {
        if (!view.fields.some((field) => field.name === name)) {
          return invalid(`the form has no field ${JSON.stringify(name)}`)
        }
      }
      for (const field of view.fields) {
        if (!Object.hasOwn(given, field.name)) {
          if (field.required) return invalid(`field ${JSON.stringify(field.name)} is required`)
          continue
        }
        const problem = valueProblem(field, given[field.name])
        if (problem !== undefined) return invalid(problem)
        Object.defineProperty(content, field.name, {
          value: given[field.name],
          enumerable: true,
          writable: true,
          configurable: true
        })
      }
      return { _tag: "Valid", response: { action: "accept", content } }
    }
  }
}

/**
 * The op that carries an elicitation answer to the child: `resolve_elicitation` with the request's server
 * and id, `content` and `meta: {persist}` when the answer has them.
 *
 * @since 0.2.0
 * @category answers
 */
export const elicitationAnswerOp = (request: ElicitationRequest, response: ElicitationResponse): Op.Op => ({
  type: "resolve_elicitation",
  server_name: request.event.server_name,
  request_id: request.event.id,
  decision: response.action,
  ...(response.content === undefined ? {} : { content: response.content }),
  ...(response.persist === undefined ? {} : { meta: { persist: response.persist } })
})

/**
 * The outcome an elicitation answer stands for: accept `approved` (`approved_for_session` when it
 * remembers), decline `denied`, cancel `aborted`.
 *
 * @since 0.2.0
 * @category outcomes
 */
export const outcomeOfElicitation = (response: ElicitationResponse): ApprovalOutcome =>
  response.action === "accept"
    ? response.persist === undefined ? "approved" : "approved_for_session"
    : response.action === "decline"
    ? "denied"
    : "aborted"

/**
 * Whether a policy or a fixed setting may accept an elicitation without a person: only an MCP tool-call
 * approval or a form without fields (nothing to fill). A form with fields or a URL needs a person.
 *
 * @since 0.2.0
 * @category policy
 */
export const acceptableUnattended = (request: ElicitationRequest): boolean => {
  const view = elicitation(request)
  return view._tag === "ToolCall" || (view._tag === "Form" && view.fields.length === 0)
}

/**
 * The answer of a policy action to an elicitation: approve accepts (only what `acceptableUnattended`
 * allows, else declines), approve_for_session also remembers for the session when the request offers it,
 * deny declines, abort cancels.
 *
 * @since 0.2.0
 * @category policy
 */
export const elicitationAnswerOf = (
  action: Exclude<PolicyAction, "defer">,
  request: ElicitationRequest
): ElicitationResponse => {
  if (action === "deny") return { action: "decline" }
  if (action === "abort") return { action: "cancel" }
  if (!acceptableUnattended(request)) return { action: "decline" }
  const view = elicitation(request)
  return action === "approve_for_session" && view._tag === "ToolCall" && view.persist.includes("session")
    ? { action: "accept", persist: "session" }
    : { action: "accept" }
}

/**
 * Who declined an elicitation when the `Approvals` asked has no `elicitation` method.
 *
 * @since 0.2.0
 * @category constants
 */
export const noElicitation: DecidedBy = {
  _tag: "Default",
  why: "the approvals service does not answer MCP elicitations"
}
