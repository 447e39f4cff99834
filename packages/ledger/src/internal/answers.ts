/**
 * How an answer turns into the op a child receives and the outcome it stands for: the same rules as the
 * delegate's request routing (SPEC §2.1 answer ids), kept beside the ledger so its records name the
 * exact op.
 */
import { type ApprovalInbox, ApprovalRequest } from "@deputy/core"
import { type Op, Permissions, RequestUserInput, ReviewDecision } from "@deputy/protocol"
import * as Option from "effect/Option"

type InboxAnswer = ApprovalInbox.InboxAnswer
type Outcome = ApprovalRequest.ApprovalOutcome

const outcomeOfDecision = (decision: ReviewDecision.ReviewDecision): Outcome => {
  if (decision === "approved_for_session") return "approved_for_session"
  if (decision === "abort") return "aborted"
  if (decision === "timed_out") return "timed_out"
  return ReviewDecision.isApproval(decision) ? "approved" : "denied"
}

/** The op that carries `decision` to the child for a command or patch request. */
export const decisionOp = (
  request: ApprovalRequest.CommandApproval | ApprovalRequest.PatchApproval,
  decision: ReviewDecision.ReviewDecision
): Op.Op =>
  request.kind === "command"
    ? {
      type: "exec_approval",
      id: request.event.approval_id ?? request.event.call_id,
      turn_id: request.turnId,
      decision
    }
    : { type: "patch_approval", id: request.event.call_id, decision }

/** The op and outcome an answer resolves to for a request (`undefined` if the kinds do not match). */
export const resolve = (
  request: ApprovalRequest.ApprovalRequest,
  answer: InboxAnswer
): { readonly op: Op.Op; readonly outcome: Outcome } | undefined => {
  switch (request.kind) {
    case "command":
    case "patch":
      return answer._tag === "Decision"
        ? { op: decisionOp(request, answer.decision), outcome: outcomeOfDecision(answer.decision) }
        : undefined
    case "permissions": {
      if (answer._tag !== "Permissions") return undefined
      const response: Permissions.RequestPermissionsResponse = Option.getOrElse(
        answer.response,
        () => Permissions.noPermissionsGranted
      )
      return {
        op: { type: "request_permissions_response", id: request.event.call_id, response },
        outcome: Option.isNone(answer.response)
          ? "denied"
          : answer.response.value.scope === "session"
          ? "approved_for_session"
          : "approved"
      }
    }
    case "user_input": {
      if (answer._tag !== "UserInput") return undefined
      const response: RequestUserInput.RequestUserInputResponse = Option.getOrElse(
        answer.response,
        () => RequestUserInput.noAnswers
      )
      return {
        op: { type: "user_input_answer", id: request.turnId, response },
        outcome: Option.isNone(answer.response) ? "denied" : "approved"
      }
    }
    case "elicitation": {
      if (answer._tag !== "Elicitation") return undefined
      // as the delegate does: an answer that does not fit the request goes out declined
      const checked = ApprovalRequest.checkElicitationResponse(ApprovalRequest.elicitation(request), answer.response)
      const response: ApprovalRequest.ElicitationResponse = checked._tag === "Valid"
        ? checked.response
        : { action: "decline" }
      return {
        op: ApprovalRequest.elicitationAnswerOp(request, response),
        outcome: ApprovalRequest.outcomeOfElicitation(response)
      }
    }
  }
}

/** What `check` found: the answer as it is recorded and sent, or why it does not fit. */
export type Checked =
  | { readonly _tag: "Valid"; readonly answer: InboxAnswer }
  | { readonly _tag: "Invalid"; readonly problem: string }

const invalid = (problem: string): Checked => ({ _tag: "Invalid", problem })

const quoted = (text: string) => JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text)

/** Answers to the questions of a user-input request: only questions it asks, only options it lists. */
const checkUserInput = (
  request: ApprovalRequest.UserInputRequest,
  response: RequestUserInput.RequestUserInputResponse
): string | undefined => {
  const answers: unknown = (response as { readonly answers?: unknown }).answers
  if (typeof answers !== "object" || answers === null || Array.isArray(answers)) {
    return "the answers are not an object of question ids"
  }
  for (const [id, given] of Object.entries(answers)) {
    const question = request.event.questions.find((question) => question.id === id)
    if (question === undefined) {
      return `it asks no question ${quoted(id)} (it asks ${
        request.event.questions.map((question) => quoted(question.id)).join(", ") || "nothing"
      })`
    }
    const list: unknown = (given as { readonly answers?: unknown } | null)?.answers
    if (!Array.isArray(list) || list.length === 0 || !list.every((item) => typeof item === "string")) {
      return `question ${quoted(id)} takes one or more answers, each a text`
    }
    const options = question.options ?? []
    if (options.length > 0 && question.isOther !== true) {
      const wrong = list.find((item) => !options.some((option) => option.label === item))
      if (wrong !== undefined) {
        return `question ${quoted(id)} takes one of its options (${
          options.map((option) => quoted(option.label)).join(", ")
        }), not ${quoted(wrong)}`
      }
    }
  }
  return undefined
}

/**
 * Checks an answer given from elsewhere against what the request asks (see `ApprovalLedger.checkAnswer`):
 * an elicitation against its form or `persist` choices (`ApprovalRequest.checkElicitationResponse`, whose
 * output is the answer recorded), user-input answers against its questions, a decision on a command or
 * patch against what it offers (`ApprovalRequest.decisionProblem`; a denial always passes).
 * Grants pass.
 */
export const check = (request: ApprovalRequest.ApprovalRequest, answer: InboxAnswer): Checked => {
  if (request.kind === "elicitation" && answer._tag === "Elicitation") {
    const checked = ApprovalRequest.checkElicitationResponse(ApprovalRequest.elicitation(request), answer.response)
    return checked._tag === "Valid"
      ? { _tag: "Valid", answer: { _tag: "Elicitation", response: checked.response } }
      : invalid(checked.problem)
  }
  if ((request.kind === "command" || request.kind === "patch") && answer._tag === "Decision") {
    // a denial always goes (fail closed); an approval or a rule only as the child offers it
    const problem = ApprovalRequest.decisionProblem(request, answer.decision)
    return problem === undefined ? { _tag: "Valid", answer } : invalid(problem)
  }
  if (request.kind === "user_input" && answer._tag === "UserInput" && Option.isSome(answer.response)) {
    const problem = checkUserInput(request, answer.response.value)
    return problem === undefined ? { _tag: "Valid", answer } : invalid(problem)
  }
  return { _tag: "Valid", answer }
}

/** The answer a request gets when nobody could decide it (fail closed): deny, grant nothing, no answers. */
export const defaultAnswer = (request: ApprovalRequest.ApprovalRequest): InboxAnswer =>
  request.kind === "command" || request.kind === "patch"
    ? { _tag: "Decision", decision: "denied" }
    : request.kind === "permissions"
    ? { _tag: "Permissions", response: Option.none() }
    : request.kind === "elicitation"
    ? { _tag: "Elicitation", response: { action: "decline" } }
    : { _tag: "UserInput", response: Option.none() }

/** The answer when a request's deadline passed: `timed_out` for decisions, nothing granted otherwise. */
export const timedOutAnswer = (request: ApprovalRequest.ApprovalRequest): InboxAnswer =>
  request.kind === "command" || request.kind === "patch"
    ? { _tag: "Decision", decision: "timed_out" }
    : defaultAnswer(request)

/** The JSON form of an answer (an `Option` as its value or `null`). */
export const encodeAnswer = (answer: InboxAnswer): unknown =>
  answer._tag === "Decision"
    ? { _tag: "Decision", decision: answer.decision }
    : answer._tag === "Elicitation"
    ? { _tag: "Elicitation", response: answer.response }
    : { _tag: answer._tag, response: Option.getOrNull(answer.response as Option.Option<unknown>) }

/** Reads an answer back from its JSON form. */
export const decodeAnswer = (json: unknown): InboxAnswer => {
  const value = json as {
    readonly _tag: string
    readonly decision?: ReviewDecision.ReviewDecision
    readonly response?: unknown
  }
  if (value._tag === "Decision") return { _tag: "Decision", decision: value.decision! }
  if (value._tag === "Elicitation") {
    return { _tag: "Elicitation", response: value.response as ApprovalRequest.ElicitationResponse }
  }
  if (value._tag === "Permissions") {
    return {
      _tag: "Permissions",
      response: Option.fromNullable(value.response as Permissions.RequestPermissionsResponse | null)
    }
  }
  return {
    _tag: "UserInput",
    response: Option.fromNullable(value.response as RequestUserInput.RequestUserInputResponse | null)
  }
}
