/**
 * A parent-side broker for sub-agent requests: pending requests are state a UI reads and answers.
 * It is an `Approvals` too, so a delegate routes into it directly.
 *
 * @since 0.1.0
 */
import type { Permissions, RequestUserInput, ReviewDecision } from "@deputy/protocol"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { ApprovalKind, ApprovalOutcome, ApprovalRequest, ElicitationResponse } from "./ApprovalRequest.js"
import { outcomeOfDecision, outcomeOfElicitation } from "./ApprovalRequest.js"
import { Approvals, type ApprovalsService } from "./Approvals.js"
import type { DecidedBy } from "./DecidedBy.js"
import { decided } from "./DecidedBy.js"

/**
 * A request waiting for an answer, with when it arrived and, if it has one, its deadline (epoch ms).
 *
 * @since 0.1.0
 * @category models
 */
export interface PendingApproval {
  readonly request: ApprovalRequest
  readonly receivedAt: number
  readonly deadline?: number | undefined
  /** When it was last put off with `defer` ("not now"), if ever (epoch ms). @since 0.2.0 */
  readonly deferredAt?: number | undefined
}

/**
 * An answer to a pending request: a decision for commands and patches, an optional grant for
 * permissions, optional answers for user input (`Option.none()` = grant nothing / no answers), an
 * elicitation response for an MCP server's question (since 0.2.0; checked against the request by the
 * delegate, which declines what does not fit).
 *
 * @since 0.1.0
 * @category models
 */
export type InboxAnswer =
  | { readonly _tag: "Decision"; readonly decision: ReviewDecision.ReviewDecision }
  | { readonly _tag: "Permissions"; readonly response: Option.Option<Permissions.RequestPermissionsResponse> }
  | { readonly _tag: "UserInput"; readonly response: Option.Option<RequestUserInput.RequestUserInputResponse> }
  | { readonly _tag: "Elicitation"; readonly response: ElicitationResponse }

/**
 * A decision for a command or patch request.
 *
 * @since 0.1.0
 * @category answers
 */
export const decision = (decision: ReviewDecision.ReviewDecision): InboxAnswer => ({ _tag: "Decision", decision })

/**
 * A grant (or, with `Option.none()`, a refusal) for a permissions request.
 *
 * @since 0.1.0
 * @category answers
 */
export const permissions = (response: Option.Option<Permissions.RequestPermissionsResponse>): InboxAnswer => ({
  _tag: "Permissions",
  response
})

/**
 * Answers (or, with `Option.none()`, none) for a user-input request.
 *
 * @since 0.1.0
 * @category answers
 */
export const userInput = (response: Option.Option<RequestUserInput.RequestUserInputResponse>): InboxAnswer => ({
  _tag: "UserInput",
  response
})

/**
 * An answer to an MCP elicitation: `{ action: "accept", content }` for a form, `{ action: "accept",
 * persist: "session" }` to remember a tool-call approval, `{ action: "decline" }`, `{ action: "cancel" }`.
 *
 * @since 0.2.0
 * @category answers
 */
export const elicitation = (response: ElicitationResponse): InboxAnswer => ({ _tag: "Elicitation", response })

/**
 * How a request left the inbox: answered by a client (`decidedBy: InboxClient`), timed out
 * (`Deadline`), or aborted because the waiting delegate stopped (`Cancelled`).
 *
 * @since 0.1.0
 * @category models
 */
export interface InboxSettlement {
  readonly request: ApprovalRequest
  readonly outcome: ApprovalOutcome
  /** Who decided, as the delegate's `ApprovalSettlement` says it too. @since 0.2.0 */
  readonly decidedBy: DecidedBy
  /** @deprecated since 0.2.0: read `decidedBy`. */
  readonly by: "inbox" | "deadline" | "interrupted"
}

/**
 * Who is answering through `respond`: a client name (`"web"`, `"terminal"`, a process), recorded as
 * `DecidedBy.InboxClient`. Defaults to `"inbox"`.
 *
 * @since 0.2.0
 * @category models
 */
export interface RespondOptions {
  readonly client?: string | undefined
}

/**
 * `respond` named a request that is not pending: unknown, or already settled (late answer).
 *
 * @since 0.1.0
 * @category errors
 */
export class ApprovalNotPending extends Schema.TaggedError<ApprovalNotPending>("@deputy/core/ApprovalNotPending")(
  "ApprovalNotPending",
  {
    id: Schema.String,
    settled: Schema.optional(Schema.Literal("approved", "approved_for_session", "denied", "aborted", "timed_out"))
  }
) {
  override get message(): string {
    return this.settled === undefined
      ? `no pending request has id ${this.id}`
      : `request ${this.id} was already settled (${this.settled}); this answer was not delivered`
  }
}

/**
 * `respond` gave an answer of the wrong kind (e.g. a decision to a user-input request).
 *
 * @since 0.1.0
 * @category errors
 */
export class ApprovalAnswerMismatch
  extends Schema.TaggedError<ApprovalAnswerMismatch>("@deputy/core/ApprovalAnswerMismatch")("ApprovalAnswerMismatch", {
    id: Schema.String,
    kind: Schema.String,
    answer: Schema.String
  })
{
  override get message(): string {
    return `request ${this.id} is a ${this.kind} request and cannot take a ${this.answer} answer`
  }
}

/**
 * The broker's operations. `pending` is the current list; `changes` streams it (current value first);
 * `settlements` streams every settlement, so a UI sees a request that vanished because its delegate
 * stopped as aborted.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApprovalInboxService {
  readonly pending: Effect.Effect<ReadonlyArray<PendingApproval>>
  readonly changes: Stream.Stream<ReadonlyArray<PendingApproval>>
  readonly settlements: Stream.Stream<InboxSettlement>
  /** Waits until a request matching `predicate` is pending and returns it. */
  readonly awaitPending: (predicate?: (pending: PendingApproval) => boolean) => Effect.Effect<PendingApproval>
  readonly respond: (
    id: string,
    answer: InboxAnswer,
    options?: RespondOptions
  ) => Effect.Effect<void, ApprovalNotPending | ApprovalAnswerMismatch>
  /**
   * "Not now": leaves the request pending, unanswered, and moves it to the end of the list (behind the
   * requests that arrived after it), marked with `deferredAt`. Fails with `ApprovalNotPending` if it is
   * not pending.
   *
   * @since 0.2.0
   */
  readonly defer: (id: string) => Effect.Effect<void, ApprovalNotPending>
  readonly approvals: ApprovalsService
}

/**
 * Deadlines by request kind; a request still pending at its deadline settles as `timed_out`.
 *
 * @since 0.1.0
 * @category models
 */
export interface InboxOptions {
  readonly deadlines?: Partial<Record<ApprovalKind, Duration.DurationInput>> | undefined
}

const rememberSettled = 4096

interface Answered {
  readonly _tag: "Answered"
  readonly answer: InboxAnswer
  readonly decidedBy: DecidedBy
}

interface TimedOut {
  readonly _tag: "TimedOut"
  readonly decidedBy: DecidedBy
}

const answerKind = (answer: InboxAnswer): string =>
  answer._tag === "Decision"
    ? "decision"
    : answer._tag === "Permissions"
    ? "permissions"
    : answer._tag === "UserInput"
    ? "user input"
    : "elicitation"

const answerTags: Readonly<Record<ApprovalKind, InboxAnswer["_tag"]>> = {
  command: "Decision",
  patch: "Decision",
  permissions: "Permissions",
  user_input: "UserInput",
  elicitation: "Elicitation"
}

const fits = (request: ApprovalRequest, answer: InboxAnswer): boolean => answerTags[request.kind] === answer._tag

const outcomeOfAnswer = (answer: InboxAnswer): ApprovalOutcome => {
  switch (answer._tag) {
    case "Decision":
      return outcomeOfDecision(answer.decision)
    case "Permissions":
      return Option.match(answer.response, {
        onNone: () => "denied",
        onSome: (response) => response.scope === "session" ? "approved_for_session" : "approved"
      })
    case "UserInput":
      return Option.isSome(answer.response) ? "approved" : "denied"
    case "Elicitation":
      return outcomeOfElicitation(answer.response)
  }
}

/**
 * Builds an inbox. Every request settles exactly once: answered, timed out, or aborted when its waiter
 * is interrupted (the entry is removed at once).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: InboxOptions = {}): Effect.Effect<ApprovalInboxService> =>
  Effect.gen(function*() {
    const list = yield* SubscriptionRef.make<ReadonlyArray<PendingApproval>>([])
    const settlementHub = yield* PubSub.unbounded<InboxSettlement>()
    const waiting = new Map<
      string,
      { readonly pending: PendingApproval; readonly answer: Deferred.Deferred<Answered> }
    >()
    const settled = new Map<string, ApprovalOutcome>()

    /** Removes a pending entry and announces how it settled; false when it had settled already. */
    const settle = (
      id: string,
      outcome: ApprovalOutcome,
      by: InboxSettlement["by"],
      decidedBy: DecidedBy
    ): Effect.Effect<boolean> =>
      Effect.suspend(() => {
        const entry = waiting.get(id)
        if (entry === undefined) return Effect.succeed(false)
        waiting.delete(id)
        settled.set(id, outcome)
        if (settled.size > rememberSettled) settled.delete(settled.keys().next().value!)
        return SubscriptionRef.update(list, (all) => all.filter((pending) => pending.request.id !== id)).pipe(
          Effect.zipRight(PubSub.publish(settlementHub, { request: entry.pending.request, outcome, decidedBy, by })),
          Effect.as(true)
        )
      })

    const wait = (request: ApprovalRequest): Effect.Effect<Answered | TimedOut> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const deadline = options.deadlines?.[request.kind]
          const answer = yield* Deferred.make<Answered>()
          const pending: PendingApproval = {
            request,
            receivedAt: now,
            ...(deadline === undefined ? {} : { deadline: now + Duration.toMillis(deadline) })
          }
          waiting.set(request.id, { pending, answer })
          yield* SubscriptionRef.update(list, (all) => [...all, pending])
          const awaited = deadline === undefined
            ? Effect.asSome(Deferred.await(answer))
            : Effect.timeoutOption(Deferred.await(answer), deadline)
          const result = yield* restore(awaited).pipe(
            Effect.onInterrupt(() =>
              settle(request.id, "aborted", "interrupted", {
                _tag: "Cancelled",
                reason: "the waiting delegate stopped"
              })
            )
          )
          if (Option.isSome(result)) return result.value
          const timedOut: TimedOut = {
            _tag: "TimedOut",
            decidedBy: { _tag: "Deadline", afterMs: deadline === undefined ? 0 : Duration.toMillis(deadline) }
          }
          yield* settle(request.id, "timed_out", "deadline", timedOut.decidedBy)
          return timedOut
        })
      )

    const decisionOf = (result: Answered | TimedOut) =>
      decided<ReviewDecision.ReviewDecision>(
        result._tag === "Answered" && result.answer._tag === "Decision" ? result.answer.decision : "timed_out",
        result.decidedBy
      )
    const approvals: ApprovalsService = {
      command: (request) => Effect.map(wait(request), decisionOf),
      patch: (request) => Effect.map(wait(request), decisionOf),
      permissions: (request) =>
        Effect.map(wait(request), (result) =>
          decided(
            result._tag === "Answered" && result.answer._tag === "Permissions" ? result.answer.response : Option.none(),
            result.decidedBy
          )),
      userInput: (request) =>
        Effect.map(wait(request), (result) =>
          decided(
            result._tag === "Answered" && result.answer._tag === "UserInput" ? result.answer.response : Option.none(),
            result.decidedBy
          )),
      elicitation: (request) =>
        Effect.map(wait(request), (result) =>
          decided<ElicitationResponse>(
            result._tag === "Answered" && result.answer._tag === "Elicitation"
              ? result.answer.response
              : { action: "decline" },
            result.decidedBy
          ))
    }

    return {
      pending: SubscriptionRef.get(list),
      changes: list.changes,
      settlements: Stream.fromPubSub(settlementHub),
      awaitPending: (predicate = () => true) =>
        list.changes.pipe(
          Stream.map((all) => all.find(predicate)),
          Stream.filter((found): found is PendingApproval => found !== undefined),
          Stream.runHead,
          Effect.flatMap(Effect.orDie)
        ),
      respond: (id, answer, respondOptions) =>
        Effect.suspend((): Effect.Effect<void, ApprovalNotPending | ApprovalAnswerMismatch> => {
          const entry = waiting.get(id)
          if (entry === undefined) return Effect.fail(new ApprovalNotPending({ id, settled: settled.get(id) }))
          if (!fits(entry.pending.request, answer)) {
            return Effect.fail(
              new ApprovalAnswerMismatch({ id, kind: entry.pending.request.kind, answer: answerKind(answer) })
            )
          }
          const decidedBy: DecidedBy = { _tag: "InboxClient", client: respondOptions?.client ?? "inbox" }
          return Effect.asVoid(
            Effect.zipRight(
              settle(id, outcomeOfAnswer(answer), "inbox", decidedBy),
              Deferred.succeed(entry.answer, { _tag: "Answered", answer, decidedBy })
            )
          )
        }),
      defer: (id) =>
        Effect.suspend((): Effect.Effect<void, ApprovalNotPending> => {
          const entry = waiting.get(id)
          if (entry === undefined) return Effect.fail(new ApprovalNotPending({ id, settled: settled.get(id) }))
          return Effect.flatMap(Clock.currentTimeMillis, (now) =>
            SubscriptionRef.update(list, (all) => {
              const found = all.find((pending) => pending.request.id === id)
              if (found === undefined) return all
              return [...all.filter((pending) => pending !== found), { ...found, deferredAt: now }]
            }))
        }),
      approvals
    }
  })

/**
 * The parent-side broker for sub-agent requests (`yield* ApprovalInbox.ApprovalInbox`). `layer` provides
 * it as both `ApprovalInbox` (for the UI) and `Approvals` (for delegates); `layerWith({ deadlines })` adds
 * per-kind deadlines. Answers: `ApprovalInbox.decision(d)`, `.permissions(grant)`, `.userInput(answers)`,
 * and (since 0.2.0) the module-level `elicitation(response)`.
 *
 * @since 0.1.0
 * @category tags
 */
export class ApprovalInbox extends Context.Tag("@deputy/core/ApprovalInbox")<ApprovalInbox, ApprovalInboxService>() {}

/**
 * An inbox with options (per-kind deadlines), as `ApprovalInbox` and `Approvals`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: InboxOptions = {}): Layer.Layer<ApprovalInbox | Approvals> =>
  Layer.effectContext(
    Effect.map(
      make(options),
      (inbox) => Context.make(ApprovalInbox, inbox).pipe(Context.add(Approvals, inbox.approvals))
    )
  )

/**
 * An inbox without deadlines, as `ApprovalInbox` and `Approvals`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ApprovalInbox | Approvals> = layerWith()
