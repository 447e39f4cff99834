/**
 * `--json`: one JSON object per line on stdout, and nothing else there:
 * - each forwarded protocol event, as the protocol encodes it: `{"id", "msg"}`;
 * - one `{"deputy": "approval", ...}` record per request the sub-agent made, once it is settled;
 * - last, one `{"deputy": "ended", ...}` record.
 *
 * @since 0.1.0
 */
import type { ApprovalRequest } from "@deputy/core"
import type { Event } from "@deputy/protocol"
import { JsonLines, RequestPermissionProfile, TokenUsage } from "@deputy/protocol"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Decider } from "./ApprovalSetup.js"
import * as Render from "./Render.js"

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
 * came from; then what was asked (per kind: `command` + `cwd`, `files`, `permissions`, `questions`) and
 * the sub-agent's `reason`; then the `outcome`, who decided (`decided_by`: `user` | `policy` (with
 * `policy_rule`, 1-based) | `approval_mode`; absent when it timed out or was aborted), why it was aborted
 * (`outcome_reason`), and how long it waited (`waited_ms`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ApprovalRecord = Schema.Struct({
  deputy: Schema.Literal("approval"),
  kind: Schema.Literal("command", "patch", "permissions", "user_input"),
  id: Schema.String,
  call_id: Schema.String,
  turn_id: Schema.String,
  command: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
  cwd: Schema.optionalWith(Schema.String, { exact: true }),
  files: Schema.optionalWith(Schema.Array(PatchFile), { exact: true }),
  permissions: Schema.optionalWith(RequestPermissionProfile, { exact: true }),
  questions: Schema.optionalWith(Schema.Array(Schema.Struct({ id: Schema.String, question: Schema.String })), {
    exact: true
  }),
  reason: Schema.optionalWith(Schema.String, { exact: true }),
  outcome: Schema.Literal("approved", "approved_for_session", "denied", "aborted", "timed_out"),
  decided_by: Schema.optionalWith(Schema.Literal("user", "policy", "approval_mode"), { exact: true }),
  policy_rule: Schema.optionalWith(Schema.Number, { exact: true }),
  outcome_reason: Schema.optionalWith(Schema.String, { exact: true }),
  waited_ms: Schema.Number
}).annotations({ identifier: "ApprovalRecord" })

/**
 * @since 0.1.0
 * @category models
 */
export type ApprovalRecord = typeof ApprovalRecord.Type

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
  reason: Schema.Literal(
    "completed",
    "aborted",
    "errored",
    "timed_out",
    "interrupted",
    "agent_exited",
    "drain_timed_out",
    "spawn_failed"
  ),
  message: Schema.optionalWith(Schema.String, { exact: true }),
  agent_exit_code: Schema.optionalWith(Schema.NullOr(Schema.Number), { exact: true }),
  agent_signal: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  last_agent_message: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  drain_timed_out: Schema.Boolean,
  turns: Schema.Number,
  turn_ms: Schema.optionalWith(Schema.Number, { exact: true }),
  elapsed_ms: Schema.Number,
  usage: TokenUsage
}).annotations({ identifier: "EndedRecord" })

/**
 * @since 0.1.0
 * @category models
 */
export type EndedRecord = typeof EndedRecord.Type

type Loose<A> = { readonly [K in keyof A]: A[K] | undefined | null }

/** Drops the fields that are `undefined` or `null` (optional fields are absent, never null). */
const definedOnly = <A>(record: Loose<A>): A =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined && value !== null)) as A

/**
 * The record of a settled request.
 *
 * @since 0.1.0
 * @category constructors
 */
export const approvalRecord = (
  settlement: ApprovalRequest.ApprovalSettlement,
  decider: Decider | undefined
): ApprovalRecord => {
  const request = settlement.request
  const details: Partial<Loose<ApprovalRecord>> = (() => {
    switch (request.kind) {
      case "command":
        return { command: request.event.command, cwd: request.event.cwd, reason: request.event.reason ?? undefined }
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
          questions: request.event.questions.map((question) => ({ id: question.id, question: question.question }))
        }
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
    decided_by: decider === undefined
      ? undefined
      : decider._tag === "User"
      ? "user"
      : decider._tag === "Policy"
      ? "policy"
      : "approval_mode",
    policy_rule: decider?._tag === "Policy" ? decider.rule + 1 : undefined,
    outcome_reason: settlement.reason,
    waited_ms: Math.round(settlement.waitedMs)
  })
}

const encodeApproval = Schema.encodeSync(ApprovalRecord)
const encodeEnded = Schema.encodeSync(EndedRecord)

/**
 * A line for a forwarded event, encoded by the protocol's schema (unknown fields kept).
 *
 * @since 0.1.0
 * @category encoding
 */
export const eventLine = (event: Event): Effect.Effect<string> =>
  JsonLines.encodeEvent(event).pipe(Effect.orElseSucceed(() => JSON.stringify(event)))

/**
 * A line for an approval record.
 *
 * @since 0.1.0
 * @category encoding
 */
export const approvalLine = (record: ApprovalRecord): string => JSON.stringify(encodeApproval(record))

/**
 * A line for the ended record.
 *
 * @since 0.1.0
 * @category encoding
 */
export const endedLine = (record: EndedRecord): string => JSON.stringify(encodeEnded(record))
