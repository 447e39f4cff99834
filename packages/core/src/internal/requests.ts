/**
 * Request routing: which child events are requests, how each is asked and answered, and the ledger
 * that makes every request settle exactly once and refuses duplicates.
 */
import {
  type Event,
  EventMsg,
  type Op,
  Permissions,
  RequestUserInput,
  type ReviewDecision,
  type SessionSource
} from "@deputy/protocol"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ApprovalOutcome, ApprovalRequest, ElicitationRequest, ElicitationResponse } from "../ApprovalRequest.js"
import type { CommandApproval, PatchApproval } from "../ApprovalRequest.js"
import {
  checkElicitationResponse,
  decisionProblem,
  elicitation,
  elicitationAnswerOp,
  elicitationCallId,
  noElicitation,
  outcomeOfDecision,
  outcomeOfElicitation,
  threadOf
} from "../ApprovalRequest.js"
import type { ApprovalsService } from "../Approvals.js"
import * as DecidedBy from "../DecidedBy.js"

/** What an answer resolved to: the op for the child and the outcome to report. */
export interface Resolution {
  readonly answer: Op.Op
  readonly outcome: ApprovalOutcome
  readonly decidedBy: DecidedBy.DecidedBy
  readonly reason?: string | undefined
}

/** A request event turned into something to ask, with its default answers. */
export interface RoutedRequest {
  readonly request: ApprovalRequest
  /** The op type and id the child's answer goes out with. */
  readonly answerKey: string
  readonly ask: (approvals: ApprovalsService) => Effect.Effect<Resolution>
  /** The answer when the deadline passes. */
  readonly timedOut: (decidedBy: DecidedBy.DecidedBy) => Resolution
  /** The answer when nobody can answer any more (shutdown, a failed service). */
  readonly aborted: (decidedBy: DecidedBy.DecidedBy, reason: string) => Resolution
}

/** Where a request came from, as the delegate knows it. */
export interface Origin {
  readonly delegateId: string
  readonly source: SessionSource.SubAgentSource
  /** Events forwarded to the consumer before this request. */
  readonly sequence: number
}

/**
 * A command or patch request: the parent's decision goes back as-is (`abort` by default), if the child offers
 * it; one it does not (a rule for another host, a broader prefix) goes back as a denial, by the default, saying why.
 */
const decisionRequest = <R extends CommandApproval | PatchApproval>(
  request: R,
  answerId: string,
  ask: (service: ApprovalsService, request: R) => Effect.Effect<DecidedBy.Answer<ReviewDecision.ReviewDecision>>,
  answer: (decision: ReviewDecision.ReviewDecision) => Op.Op
): RoutedRequest => ({
  request,
  answerKey: `${answer("abort").type}/${answerId}`,
  ask: (service) =>
    Effect.map(ask(service, request), (given) => {
      const { decidedBy, value: decision } = DecidedBy.split(given, "Approvals")
      // a rule to remember only as offered; a plain decision Codex checks itself (see `decisionProblem`)
      const problem = decisionProblem(request, decision, { plain: "any" })
      if (problem !== undefined) {
        const why = `the answer was refused: ${problem}`
        return { answer: answer("denied"), outcome: "denied", decidedBy: { _tag: "Default", why }, reason: why }
      }
      return { answer: answer(decision), outcome: outcomeOfDecision(decision), decidedBy }
    }),
  timedOut: (decidedBy) => ({ answer: answer("timed_out"), outcome: "timed_out", decidedBy }),
  aborted: (decidedBy, reason) => ({ answer: answer("abort"), outcome: "aborted", decidedBy, reason })
})

/** A permissions or user-input request: no answer from the parent means the empty response. */
const optionalRequest = <R extends ApprovalRequest, A>(
  request: R,
  answerId: string,
  ask: (service: ApprovalsService, request: R) => Effect.Effect<DecidedBy.Answer<Option.Option<A>>>,
  answer: (response: A) => Op.Op,
  empty: A,
  outcomeOf: (response: A) => ApprovalOutcome
): RoutedRequest => ({
  request,
  answerKey: `${answer(empty).type}/${answerId}`,
  ask: (service) =>
    Effect.map(ask(service, request), (given) => {
      const { decidedBy, value: response } = DecidedBy.split(given, "Approvals")
      return Option.isSome(response)
        ? { answer: answer(response.value), outcome: outcomeOf(response.value), decidedBy }
        : { answer: answer(empty), outcome: "denied", decidedBy }
    }),
  timedOut: (decidedBy) => ({ answer: answer(empty), outcome: "timed_out", decidedBy }),
  aborted: (decidedBy, reason) => ({ answer: answer(empty), outcome: "aborted", decidedBy, reason })
})

/**
 * An MCP elicitation: asked only when it is readable (`ApprovalRequest.elicitation`) and the service has
 * an `elicitation` method, else declined at once; an answer that does not fit the request is declined.
 * Timed out: decline; aborted: cancel.
 */
const elicitationRequest = (request: ElicitationRequest): RoutedRequest => {
  const answer = (response: ElicitationResponse): Op.Op => elicitationAnswerOp(request, response)
  const declined = (decidedBy: DecidedBy.DecidedBy, reason?: string): Resolution => ({
    answer: answer({ action: "decline" }),
    outcome: "denied",
    decidedBy,
    reason
  })
  return {
    request,
    answerKey: `resolve_elicitation/${request.callId}`,
    ask: (service) => {
      const view = elicitation(request)
      if (view._tag === "Refused") {
        return Effect.succeed(declined({ _tag: "Default", why: `Deputy declines it: ${view.problem}` }, view.problem))
      }
      if (service.elicitation === undefined) return Effect.succeed(declined(noElicitation))
      return Effect.map(service.elicitation(request), (given) => {
        const { decidedBy, value } = DecidedBy.split(given, "Approvals")
        const checked = checkElicitationResponse(view, value)
        if (checked._tag === "Invalid") return declined(decidedBy, `the answer was declined: ${checked.problem}`)
        return { answer: answer(checked.response), outcome: outcomeOfElicitation(checked.response), decidedBy }
      })
    },
    timedOut: (decidedBy) => ({ answer: answer({ action: "decline" }), outcome: "timed_out", decidedBy }),
    aborted: (decidedBy, reason) => ({ answer: answer({ action: "cancel" }), outcome: "aborted", decidedBy, reason })
  }
}

/** The nested thread a request comes through (kinds helper: one field, absent when none). */
const threadProvenance = (msg: unknown): { readonly thread?: ReturnType<typeof threadOf> } => {
  const thread = threadOf(msg)
  return thread === undefined ? {} : { thread }
}

/** The event types `route` turns into requests: a cheap test before routing. */
export const requestTypes: ReadonlySet<string> = new Set([
  "exec_approval_request",
  "apply_patch_approval_request",
  "request_permissions",
  "request_user_input",
  "elicitation_request"
])

/** Turns a request event into a routed request (SPEC §2.1 answer ids), or undefined for any other event. */
export const route = (event: Event.Event, origin: Origin): RoutedRequest | undefined => {
  const msg = event.msg
  const provenance = <K extends ApprovalRequest["kind"]>(kind: K, callId: string) => ({
    kind,
    id: `${origin.delegateId}/${kind}/${callId}`,
    delegateId: origin.delegateId,
    turnId: event.id,
    callId,
    source: origin.source,
    sequence: origin.sequence,
    ...threadProvenance(msg)
  })
  if (EventMsg.isEventMsg(msg, "exec_approval_request")) {
    const answerId = msg.approval_id ?? msg.call_id
    return decisionRequest(
      { ...provenance("command", msg.call_id), event: msg },
      answerId,
      (service, request) => service.command(request),
      (decision) => ({ type: "exec_approval", id: answerId, turn_id: event.id, decision })
    )
  }
  if (EventMsg.isEventMsg(msg, "apply_patch_approval_request")) {
    return decisionRequest(
      { ...provenance("patch", msg.call_id), event: msg },
      msg.call_id,
      (service, request) => service.patch(request),
      (decision) => ({ type: "patch_approval", id: msg.call_id, decision })
    )
  }
  if (EventMsg.isEventMsg(msg, "request_permissions")) {
    return optionalRequest(
      { ...provenance("permissions", msg.call_id), event: msg },
      msg.call_id,
      (service, request) => service.permissions(request),
      (response: Permissions.RequestPermissionsResponse) => ({
        type: "request_permissions_response",
        id: msg.call_id,
        response
      }),
      Permissions.noPermissionsGranted,
      (response) => response.scope === "session" ? "approved_for_session" : "approved"
    )
  }
  if (EventMsg.isEventMsg(msg, "request_user_input")) {
    return optionalRequest(
      { ...provenance("user_input", msg.call_id), event: msg },
      event.id,
      (service, request) => service.userInput(request),
      (response: RequestUserInput.RequestUserInputResponse) => ({ type: "user_input_answer", id: event.id, response }),
      RequestUserInput.noAnswers,
      () => "approved"
    )
  }
  if (EventMsg.isEventMsg(msg, "elicitation_request")) {
    return elicitationRequest({
      ...provenance("elicitation", elicitationCallId(msg.server_name, msg.id)),
      event: msg
    })
  }
  return undefined
}

/**
 * Entries (answered request ids and answer keys) a delegate remembers, the oldest forgotten first: a child repeating a request
 * id answered longer ago than that is no longer recognised as a duplicate.
 */
export const answeredMemory = 10_000

/**
 * Every routed request of one delegate from admission to settlement. Admission refuses a duplicate: a
 * request whose id is pending or was answered, or whose answer would go out under the op id of a pending
 * or answered one (user input excepted once answered: Codex answers it by turn id, and a turn may ask
 * twice). The record of answered ids and answer keys keeps the last `answeredMemory` entries. `claim`
 * hands a request to exactly one settler.
 */
export class RequestLedger {
  private pending: Map<string, RoutedRequest> | undefined
  private pendingAnswers: Set<string> | undefined
  private answered: Set<string> | undefined

  get size(): number {
    return this.pending?.size ?? 0
  }

  /** Why the request is refused (a duplicate), or undefined once it is admitted as pending. */
  admit(routed: RoutedRequest): string | undefined {
    const id = routed.request.id
    const what = `${routed.request.kind} request with call id ${JSON.stringify(routed.request.callId)}`
    if (this.pending?.has(id)) return `refused a second ${what}: a request with this id is still pending`
    if (this.answered?.has(id)) return `refused a second ${what}: a request with this id was already answered`
    if (this.pendingAnswers?.has(routed.answerKey)) {
      return `refused a ${what}: its answer would go out under the id of a pending request (${routed.answerKey})`
    }
    if (this.answered?.has(routed.answerKey)) {
      return `refused a ${what}: its answer would go out under the id of an answered request (${routed.answerKey})`
    }
    ;(this.pending ??= new Map()).set(id, routed)
    ;(this.pendingAnswers ??= new Set()).add(routed.answerKey)
    return undefined
  }

  /** Whether a request is admitted and not yet claimed. */
  isPending(id: string): boolean {
    return this.pending?.has(id) ?? false
  }

  /** Takes a pending request to settle it; undefined if someone else already did. */
  claim(id: string): RoutedRequest | undefined {
    const routed = this.pending?.get(id)
    if (routed === undefined) return undefined
    this.pending!.delete(id)
    this.pendingAnswers!.delete(routed.answerKey)
    const answered = (this.answered ??= new Set())
    answered.add(id)
    // User input is answered by turn id: a second question in the same turn, once the first is answered, is legitimate.
    if (routed.request.kind !== "user_input") answered.add(routed.answerKey)
    while (answered.size > answeredMemory) answered.delete(answered.values().next().value!)
    return routed
  }

  /** Takes every pending request. */
  claimAll(): ReadonlyArray<RoutedRequest> {
    if (this.pending === undefined || this.pending.size === 0) return []
    return [...this.pending.keys()].map((id) => this.claim(id)!)
  }
}
