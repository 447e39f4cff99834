/**
 * `--json`: one JSON object per line on stdout, and nothing else there:
 * - each forwarded protocol event, as the protocol encodes it, with exactly two top-level keys:
 *   `{"id", "msg"}` (unknown fields the child put next to them are left out; unknown fields inside `msg`
 *   stay there), so a child can never write a line that looks like one of Deputy's records;
 * - one `{"deputy": "approval", ...}` record per request the sub-agent made, once it is settled;
 * - a `{"deputy": "diagnostic", ...}` record for anything that cannot be encoded (a nesting too deep for
 *   JSON, a cycle, a BigInt), in place of it;
 * - last, one `{"deputy": "ended", ...}` record.
 *
 * With several tasks (`--task`, `--tasks`), every line carries the node it is about, `"node":
 * "root/review"` (events: `{"id", "msg", "node"}`); a `{"deputy": "queued", ...}` record first for each
 * task that waits for a slot; each node's `ended` record comes when it ends, and last comes one
 * `{"deputy": "receipt", ...}` record listing every node.
 *
 * Only Deputy writes top-level keys other than `id` and `msg`.
 *
 * @since 0.1.0
 */
import { ApprovalRequest, DecidedBy } from "@deputy/core"
import { Event, EventMsg, type Op, Permissions } from "@deputy/protocol"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Decider } from "./ApprovalSetup.js"
import * as PolicyFile from "./PolicyFile.js"
import * as Render from "./Render.js"
import type * as TerminalApprovals from "./TerminalApprovals.js"

/**
 * One file of a patch request: path, change type, lines added and removed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PatchFile = Schema.Struct({
  path: Schema.String,
  type: Schema.Literal("add", "delete", "update"),
  move_path: Schema.optionalWith(Schema.String, { exact: true }),
  added: Schema.Number,
  removed: Schema.Number
})

/**
 * A settled request. `id` is unique per run (`<delegate>/<kind>/<call_id>`); `turn_id` is the turn it
 * came from; then what was asked (per kind: `command` + `cwd` (+ `network` since 0.2.0), `files`,
 * `permissions`, `questions` (+ `blocking: false`), and `thread` for a nested sub-agent's request) and
 * the sub-agent's `reason`; then the `outcome`, who decided (`decided_by`: core's `DecidedBy` as its
 * schema encodes it, e.g. `{"_tag":"Person","channel":"terminal","key":"a"}`,
 * `{"_tag":"PolicyRule","index":0,...}`, `{"_tag":"Fixed","setting":"--approval approve"}`,
 * `{"_tag":"Deadline","afterMs":30000}` — passed on from the settlement unchanged), `policy_rule`
 * (1-based, when a policy rule decided), why it was aborted (`outcome_reason`), and how long it waited
 * (`waited_ms`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ApprovalRecord = Schema.Struct({
  deputy: Schema.Literal("approval"),
  kind: Schema.Literal("command", "patch", "permissions", "user_input", "elicitation"),
  id: Schema.String,
  call_id: Schema.String,
  turn_id: Schema.String,
  command: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
  cwd: Schema.optionalWith(Schema.String, { exact: true }),
  files: Schema.optionalWith(Schema.Array(PatchFile), { exact: true }),
  permissions: Schema.optionalWith(Permissions.RequestPermissionProfile, { exact: true }),
  questions: Schema.optionalWith(Schema.Array(Schema.Struct({ id: Schema.String, question: Schema.String })), {
    exact: true
  }),
  reason: Schema.optionalWith(Schema.String, { exact: true }),
  /** `false` for questions the sub-agent does not wait for (Codex's `isBlocking`). @since 0.2.0 */
  blocking: Schema.optionalWith(Schema.Boolean, { exact: true }),
  /** A command's network access (`host`, `protocol`), when it asks to reach the network. @since 0.2.0 */
  network: Schema.optionalWith(Schema.Struct({ host: Schema.String, protocol: Schema.String }), { exact: true }),
  /**
   * An MCP elicitation (since 0.2.0): the server, what it asked (`mode`: `form`, `url`, `tool_call`, or
   * `refused` with `problem`), its message (bounded), a form's field names, a URL (never opened), a
   * tool-call approval's tool, and the answer's `action` (`accept`, `decline`, `cancel`) and `persist`.
   * The content of an accepted form is not recorded.
   */
  elicitation: Schema.optionalWith(
    Schema.Struct({
      server: Schema.String,
      mode: Schema.Literal("form", "url", "tool_call", "refused"),
      message: Schema.optionalWith(Schema.String, { exact: true }),
      fields: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
      url: Schema.optionalWith(Schema.String, { exact: true }),
      tool: Schema.optionalWith(Schema.String, { exact: true }),
      problem: Schema.optionalWith(Schema.String, { exact: true }),
      action: Schema.optionalWith(Schema.Literal("accept", "decline", "cancel"), { exact: true }),
      persist: Schema.optionalWith(Schema.Literal("session", "always"), { exact: true })
    }),
    { exact: true }
  ),
  outcome: Schema.Literal("approved", "approved_for_session", "denied", "aborted", "timed_out"),
  decided_by: DecidedBy.DecidedBy,
  policy_rule: Schema.optionalWith(Schema.Number, { exact: true }),
  outcome_reason: Schema.optionalWith(Schema.String, { exact: true }),
  waited_ms: Schema.Number,
  /** The asking node's path in a tree of tasks (`root/review`). @since 0.2.0 */
  node: Schema.optionalWith(Schema.String, { exact: true }),
  /** The nodes from the root to the asker (`["root", "root/review"]`). @since 0.2.0 */
  chain: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
  /** The thread the sub-agent spawned itself that asked (a Codex sub-agent). @since 0.2.0 */
  thread: Schema.optionalWith(
    Schema.Struct({
      id: Schema.String,
      parent_id: Schema.optionalWith(Schema.String, { exact: true }),
      nickname: Schema.optionalWith(Schema.String, { exact: true }),
      role: Schema.optionalWith(Schema.String, { exact: true })
    }),
    { exact: true }
  )
}).annotations({ identifier: "ApprovalRecord" })

/**
 * @since 0.1.0
 * @category models
 */
export type ApprovalRecord = typeof ApprovalRecord.Type

/** How a delegate ends (`Delegate.DelegateEnded["reason"]`), shared by the end record and the receipt. */
const delegateEndReasons = [
  "completed",
  "aborted",
  "errored",
  "timed_out",
  "interrupted",
  "agent_exited",
  "drain_timed_out"
] as const

/**
 * The last record. `reason` is the delegate's end reason, or `spawn_failed` when the sub-agent could
 * not be started; `message` explains ends other than `completed`; `agent_exit_code` / `agent_signal` are
 * the sub-agent process's when it exited; `last_agent_message` is the turn's final answer (one-shot);
 * `turn_ms` the last turn's time, `elapsed_ms` the whole run's; `usage` the session's tokens.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EndedRecord = Schema.Struct({
  deputy: Schema.Literal("ended"),
  reason: Schema.Literal(...delegateEndReasons, "spawn_failed"),
  message: Schema.optionalWith(Schema.String, { exact: true }),
  agent_exit_code: Schema.optionalWith(Schema.NullOr(Schema.Number), { exact: true }),
  agent_signal: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  last_agent_message: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  drain_timed_out: Schema.Boolean,
  turns: Schema.Number,
  turn_ms: Schema.optionalWith(Schema.Number, { exact: true }),
  elapsed_ms: Schema.Number,
  usage: EventMsg.TokenUsage,
  /** The node that ended, in a tree of tasks (`root/review`). @since 0.2.0 */
  node: Schema.optionalWith(Schema.String, { exact: true })
}).annotations({ identifier: "EndedRecord" })

/**
 * How one node of a tree of tasks ended, in the receipt: `reason` is its end reason (the supervisor's:
 * a delegate's, `budget_exhausted` or `spawn_failed`), or `not_started` (it was still waiting for a slot when the tree stopped).
 *
 * @since 0.2.0
 * @category schemas
 */
export const ReceiptNode = Schema.Struct({
  node: Schema.String,
  reason: Schema.Literal(...delegateEndReasons, "budget_exhausted", "spawn_failed", "not_started"),
  message: Schema.optionalWith(Schema.String, { exact: true }),
  last_agent_message: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  turns: Schema.Number,
  elapsed_ms: Schema.Number,
  usage: EventMsg.TokenUsage,
  /** The node's agent processes, stopped and gone when the receipt was written (when its agent reports a pid). */
  pids_killed: Schema.optionalWith(Schema.Array(Schema.Number), { exact: true }),
  /** The node's agent processes still running when the receipt was written: should never appear. */
  pids_surviving: Schema.optionalWith(Schema.Array(Schema.Number), { exact: true })
}).annotations({ identifier: "ReceiptNode" })

/**
 * @since 0.2.0
 * @category models
 */
export type ReceiptNode = typeof ReceiptNode.Type

/**
 * The last record of a run with several tasks: why the tree stopped (`completed`: every node ran to its
 * end; `interrupted`: Ctrl-C or a signal; `failed_fast`: `--fail-fast` stopped the others after a
 * failure), every node, and the tokens of all of them.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ReceiptRecord = Schema.Struct({
  deputy: Schema.Literal("receipt"),
  stopped: Schema.Literal("completed", "interrupted", "failed_fast"),
  nodes: Schema.Array(ReceiptNode),
  usage: EventMsg.TokenUsage
}).annotations({ identifier: "ReceiptRecord" })

/**
 * @since 0.2.0
 * @category models
 */
export type ReceiptRecord = typeof ReceiptRecord.Type

/**
 * @since 0.1.0
 * @category models
 */
export type EndedRecord = typeof EndedRecord.Type

/**
 * In place of something that could not be written as JSON: `about` says what (`event`, `approval`), `id`
 * is the event's id or the request's, `message` why (e.g. `Maximum call stack size exceeded`).
 *
 * @since 0.2.0
 * @category schemas
 */
export const DiagnosticRecord = Schema.Struct({
  deputy: Schema.Literal("diagnostic"),
  about: Schema.Literal("event", "approval"),
  id: Schema.optionalWith(Schema.String, { exact: true }),
  message: Schema.String
}).annotations({ identifier: "DiagnosticRecord" })

/**
 * @since 0.2.0
 * @category models
 */
export type DiagnosticRecord = typeof DiagnosticRecord.Type

type Loose<A> = { readonly [K in keyof A]: A[K] | undefined | null }

/** Drops the fields that are `undefined` or `null` (optional fields are absent, never null). */
const definedOnly = <A>(record: Loose<A>): A =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined && value !== null)) as A

const elicitationRecord = (
  request: ApprovalRequest.ElicitationRequest,
  answer: Op.Op
): NonNullable<ApprovalRecord["elicitation"]> => {
  const view = ApprovalRequest.elicitation(request)
  const sent = answer as { readonly decision?: unknown; readonly meta?: { readonly persist?: unknown } }
  const action = (["accept", "decline", "cancel"] as const).find((known) => known === sent.decision)
  const persist = (["session", "always"] as const).find((known) => known === sent.meta?.persist)
  type Out = NonNullable<ApprovalRecord["elicitation"]>
  const base = { server: view.serverName, action, persist }
  switch (view._tag) {
    case "Form":
      return definedOnly<Out>({
        ...base,
        mode: "form",
        message: view.message,
        fields: view.fields.map((field) => field.name)
      })
    case "Url":
      return definedOnly<Out>({ ...base, mode: "url", message: view.message, url: view.url })
    case "ToolCall":
      return definedOnly<Out>({ ...base, mode: "tool_call", message: view.message, tool: view.toolName })
    case "Refused":
      return definedOnly<Out>({ ...base, mode: "refused", problem: view.problem })
  }
}

/**
 * The record of a settled request. Who decided is the settlement's `decidedBy`, as it is.
 *
 * @since 0.1.0
 * @category constructors
 */
export const approvalRecord = (
  settlement: ApprovalRequest.ApprovalSettlement,
  /** @deprecated Ignored since 0.2.0: the record carries `settlement.decidedBy`. */
  _decider?: Decider | undefined
): ApprovalRecord => {
  const request = settlement.request
  const details: Partial<Loose<ApprovalRecord>> = (() => {
    switch (request.kind) {
      case "command":
        return {
          command: request.event.command,
          cwd: request.event.cwd,
          reason: request.event.reason ?? undefined,
          network: ApprovalRequest.networkAccess(request)
        }
      case "patch":
        return {
          files: Object.entries(request.event.changes).map(([path, change]) =>
            definedOnly<typeof PatchFile.Type>({
              path,
              type: change.type,
              move_path: change.type === "update" ? change.move_path ?? undefined : undefined,
              ...Render.changeCounts(change)
            })
          ),
          reason: request.event.reason ?? undefined
        }
      case "permissions":
        return { permissions: request.event.permissions, reason: request.event.reason ?? undefined }
      case "user_input":
        return {
          questions: request.event.questions.map((question) => ({ id: question.id, question: question.question })),
          blocking: ApprovalRequest.isBlocking(request) ? undefined : false
        }
      case "elicitation":
        return { elicitation: elicitationRecord(request, settlement.answer) }
    }
  })()
  return definedOnly<ApprovalRecord>({
    deputy: "approval",
    kind: request.kind,
    id: request.id,
    call_id: request.callId,
    turn_id: request.turnId,
    ...details,
    outcome: settlement.outcome,
    decided_by: settlement.decidedBy,
    policy_rule: settlement.decidedBy._tag === "PolicyRule" ? settlement.decidedBy.index + 1 : undefined,
    outcome_reason: settlement.reason,
    waited_ms: Math.round(settlement.waitedMs),
    node: request.path,
    chain: request.chain?.map((link) => link.path),
    thread: request.thread === undefined ? undefined : definedOnly({
      id: request.thread.id,
      parent_id: request.thread.parentId,
      nickname: request.thread.nickname,
      role: request.thread.role
    })
  })
}

const encodeApproval = Schema.encodeSync(ApprovalRecord)
const encodeEnded = Schema.encodeSync(EndedRecord)
const encodeDiagnostic = Schema.encodeSync(DiagnosticRecord)
const encodeEvent = Schema.encodeSync(Event.Event)
const encodeReceipt = Schema.encodeSync(ReceiptRecord)

const messageOf = (error: unknown): string =>
  Cause.isCause(error)
    ? messageOf(Cause.squash(error))
    : error instanceof Error
    ? error.message
    : "it cannot be encoded"

/**
 * A line for a diagnostic record.
 *
 * @since 0.2.0
 * @category encoding
 */
export const diagnosticLine = (record: DiagnosticRecord): string =>
  JSON.stringify(encodeDiagnostic({ ...record, message: record.message.slice(0, 1000) }))

/**
 * Runs `encode`; whatever it throws (a nesting deeper than the stack, a cycle, a BigInt) gives a
 * diagnostic line instead.
 */
const encodedOr = (encode: () => string, about: DiagnosticRecord["about"], id: unknown): string => {
  try {
    return encode()
  } catch (error) {
    return diagnosticLine({
      deputy: "diagnostic",
      about,
      ...(typeof id === "string" ? { id } : {}),
      message: `this ${about} could not be written as JSON: ${messageOf(error)}`
    })
  }
}

/**
 * A line for a forwarded event: exactly `{"id","msg"}` encoded by the protocol's schema (unknown fields
 * of `msg` kept), with `"node"` in a tree of tasks (since 0.2.0), or a diagnostic line when it cannot be
 * encoded.
 *
 * @since 0.1.0
 * @category encoding
 */
export const eventLine = (event: Event.Event, node?: string | undefined): Effect.Effect<string> =>
  Effect.sync(() => {
    const only: Event.Event = { id: event.id, msg: event.msg }
    return encodedOr(
      () => {
        const encoded = encodeEvent(only)
        return JSON.stringify(node === undefined ? encoded : { id: encoded.id, msg: encoded.msg, node })
      },
      "event",
      event.id
    )
  })

/**
 * A line for an approval record, or a diagnostic line when it cannot be encoded.
 *
 * @since 0.1.0
 * @category encoding
 */
export const approvalLine = (record: ApprovalRecord): string =>
  encodedOr(() => JSON.stringify(encodeApproval(record)), "approval", record.id)

/**
 * A rule remembered at a prompt ("approve and remember") or revoked (`m` at a prompt): `change`, the rule
 * in the policy file's format, and the file it was written to (`persisted_to`, `--remember-to`) or why it
 * could not be (`persist_error`).
 *
 * @since 0.2.0
 * @category schemas
 */
export const RuleRecord = Schema.Struct({
  deputy: Schema.Literal("rule"),
  change: Schema.Literal("added", "revoked"),
  rule: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  persisted_to: Schema.optionalWith(Schema.String, { exact: true }),
  persist_error: Schema.optionalWith(Schema.String, { exact: true })
}).annotations({ identifier: "RuleRecord" })

/**
 * @since 0.2.0
 * @category models
 */
export type RuleRecord = typeof RuleRecord.Type

/**
 * The record of a rule change at the terminal.
 *
 * @since 0.2.0
 * @category constructors
 */
export const ruleRecord = (change: TerminalApprovals.RuleChange): RuleRecord =>
  definedOnly<RuleRecord>({
    deputy: "rule",
    change: change.change,
    rule: PolicyFile.ruleJson(change.rule),
    persisted_to: change.persistedTo,
    persist_error: change.persistError
  })

/**
 * A line for a rule record.
 *
 * @since 0.2.0
 * @category encoding
 */
export const ruleLine = (record: RuleRecord): string => JSON.stringify(Schema.encodeSync(RuleRecord)(record))

/**
 * A decision that never reached its child (its `deputy` died first) sent to the very request it was given
 * for, asked again (`LedgerSetup.sameRequest`): `id` the new request (its `approval` record follows when
 * it settles), `from` the old one, who decided it and when (`decided_at`, ISO 8601), and why it is the
 * same request (`why`). Nobody was asked.
 *
 * @since 0.2.0
 * @category schemas
 */
export const ResentRecord = Schema.Struct({
  deputy: Schema.Literal("resent"),
  id: Schema.String,
  from: Schema.String,
  decided_by: DecidedBy.DecidedBy,
  decided_at: Schema.String,
  why: Schema.String
}).annotations({ identifier: "ResentRecord" })

/**
 * @since 0.2.0
 * @category models
 */
export type ResentRecord = typeof ResentRecord.Type

/**
 * A line for a resent record.
 *
 * @since 0.2.0
 * @category encoding
 */
export const resentLine = (record: ResentRecord): string => JSON.stringify(Schema.encodeSync(ResentRecord)(record))

/**
 * A line for the ended record.
 *
 * @since 0.1.0
 * @category encoding
 */
export const endedLine = (record: EndedRecord): string => JSON.stringify(encodeEnded(record))

/**
 * A task that waits for a slot (`--max-concurrent`): its place in line (1: next) when the run starts.
 *
 * @since 0.2.0
 * @category schemas
 */
export const QueuedRecord = Schema.Struct({
  deputy: Schema.Literal("queued"),
  node: Schema.String,
  position: Schema.Number,
  max_concurrent: Schema.Number
}).annotations({ identifier: "QueuedRecord" })

/**
 * @since 0.2.0
 * @category models
 */
export type QueuedRecord = typeof QueuedRecord.Type

const encodeQueued = Schema.encodeSync(QueuedRecord)

/**
 * A line for a queued record.
 *
 * @since 0.2.0
 * @category encoding
 */
export const queuedLine = (record: QueuedRecord): string => JSON.stringify(encodeQueued(record))

/**
 * A line for the receipt record.
 *
 * @since 0.2.0
 * @category encoding
 */
export const receiptLine = (record: ReceiptRecord): string => JSON.stringify(encodeReceipt(record))
