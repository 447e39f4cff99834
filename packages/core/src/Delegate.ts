/**
 * The delegate: runs a sub-agent for a caller, forwards its events and the caller's ops, routes the
 * child's requests to the parent's `Approvals`, and shuts the child down with a timed drain when its
 * scope closes, its caller is interrupted, its consumer goes away or (one-shot) its turn ends.
 *
 * @since 0.1.0
 */
import type { AgentStatus, Event, EventMsg, Op, Submission, UserInput } from "@deputy/protocol"
import * as Chunk from "effect/Chunk"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { AgentSpawner, SpawnOptions } from "./AgentSpawner.js"
import type { ApprovalKind, ApprovalRequest, ApprovalSettlement } from "./ApprovalRequest.js"
import type { Approvals } from "./Approvals.js"
import { type DelegateClosed, DelegateStopped, type SpawnError } from "./Errors.js"
import * as runtime from "./internal/delegateRuntime.js"
import type { EventBatch as Batch } from "./internal/eventBuffer.js"
import { answeredMemory } from "./internal/requests.js"
import { type TurnEnd as End, TurnTracker } from "./internal/turnTracker.js"

/**
 * Options of every delegate. Defaults: drain timeout 500 ms, an event buffer of 512 events and 64 MiB,
 * 256 requests asked at once, no approval deadline.
 *
 * @since 0.1.0
 * @category models
 */
export interface DelegateOptions extends SpawnOptions {
  /** Names the delegate in request ids, spans and messages (default: a UUID v7). */
  readonly id?: string | undefined
  /** How long shutdown waits for the child to acknowledge (`shutdown_complete` or the end of its events). */
  readonly drainTimeout?: Duration.DurationInput | undefined
  /**
   * Events buffered for the consumer before the delegate stops reading the child (backpressure; default
   * 512). The buffer is checked after each batch the child delivers, so it may go over by one batch.
   */
  readonly eventCapacity?: number | undefined
  /**
   * Bytes buffered for the consumer before the delegate stops reading the child (default 64 MiB; sizes
   * from `Agent.recordBytes`, estimated where none was recorded). An event larger than this is held
   * alone and delivered, never dropped: what a child sends is shown, and the transport's line limit
   * already bounds one event (since 0.2.0).
   */
  readonly eventBytes?: number | undefined
  /**
   * @deprecated since 0.2.0: ignored. Submissions go straight to the child and wait for it to accept
   * them; there is no queue in between.
   */
  readonly opCapacity?: number | undefined
  /**
   * Requests asked of the parent at once (default 256). A child that sends more without waiting for their
   * answers has the rest wait their turn, in its order, and is not read meanwhile: the parent holds a
   * bounded number of requests whatever the child floods (since 0.2.0). A request's `approvalTimeout`
   * starts when it is asked.
   */
  readonly maxPendingRequests?: number | undefined
  /** How long a request may wait for the parent; then it settles `timed_out` (default: no limit). */
  readonly approvalTimeout?: Duration.DurationInput | undefined
  /** Per-kind limits, overriding `approvalTimeout` for those kinds. */
  readonly approvalTimeouts?: Partial<Record<ApprovalKind, Duration.DurationInput>> | undefined
  /** Called once per routed request when it settles (after the child received the answer). */
  readonly onSettled?: ((settlement: ApprovalSettlement) => Effect.Effect<void>) | undefined
  /**
   * Called synchronously when a request is admitted, before any event the child wrote after it can be read
   * (since 0.2.0). A display that shows events and prompts in the child's order records the request's
   * `sequence` here and, on reaching that position, waits until `onSettled` reports it: the events after a
   * request then never come before its prompt or its decision, even from a child that does not wait.
   */
  readonly onRequest?: ((request: ApprovalRequest) => void) | undefined
}

/**
 * Options of a one-shot delegate: the input of its single turn, an optional output schema and an
 * optional overall deadline (the delegate then ends `timed_out`).
 *
 * @since 0.1.0
 * @category models
 */
export interface OneShotOptions extends DelegateOptions {
  readonly input: string | ReadonlyArray<UserInput.UserInput>
  readonly finalOutputJsonSchema?: unknown
  readonly deadline?: Duration.DurationInput | undefined
}

/**
 * Why a delegate ended:
 * - `completed` / `aborted`: (one-shot) the turn completed / the child aborted it;
 * - `errored`: (one-shot) the turn failed (`task_complete` with an `error`), or the child reported an error
 *   before its turn started;
 * - `timed_out`: (one-shot) the deadline passed;
 * - `interrupted`: the caller stopped it (scope closed, fiber interrupted, consumer gone) and the child acknowledged;
 * - `agent_exited`: the child's events ended without being asked (exit, crash);
 * - `drain_timed_out`: the caller stopped it and the child did not acknowledge within the drain timeout.
 *
 * @since 0.1.0
 * @category models
 */
export type EndReason =
  | "completed"
  | "aborted"
  | "errored"
  | "timed_out"
  | "interrupted"
  | "agent_exited"
  | "drain_timed_out"

/**
 * How a delegate ended, with details: the child's exit code or signal (`agent_exited`), a message, the
 * last agent message (`completed`), and whether the drain ran out of time.
 *
 * @since 0.1.0
 * @category models
 */
export interface DelegateEnded {
  readonly reason: EndReason
  readonly code?: number | null | undefined
  readonly signal?: string | null | undefined
  readonly message?: string | undefined
  readonly lastAgentMessage?: string | null | undefined
  readonly drainTimedOut: boolean
}

/**
 * Forwarded events read at once: `from` is the position of `events[0]` (see `DelegateHandle.read`).
 *
 * @since 0.2.0
 * @category reading
 */
export type EventBatch = Batch

/**
 * The caller's side of a delegate.
 *
 * Every forwarded event has a position: the number of events forwarded before it. Each routed request
 * carries the position it arrived at (`request.sequence`): a UI that has shown the events before that
 * position can ask about the request in the child's order. Reading goes through positions too (`read`,
 * `release`, `stream`): events stay buffered until released, so an interrupted reader reads them again
 * (at least once, never lost). A delegate has one consumer: two readers release each other's events.
 *
 * @since 0.1.0
 * @category models
 */
export interface DelegateHandle {
  readonly id: string
  /** Submits an op (fresh UUID v7 id, the current span's trace); waits until the child accepted it. */
  readonly submit: (op: Op.Op) => Effect.Effect<string, DelegateClosed>
  /** Submits as given: the child receives this id and trace. */
  readonly submitWithId: (submission: Submission.Submission) => Effect.Effect<void, DelegateClosed>
  /**
   * The child's events minus the filtered and routed ones, in order, ending when the delegate ends. It is
   * the consumer's end (0.1 behaviour, kept): stopping a run of it before the end shuts the child down.
   * Use `stream` to read without that.
   */
  readonly events: Stream.Stream<Event.Event>
  /**
   * The same events, from the first not released; stopping a run does not stop the child. A chunk is
   * released when the next one is pulled, so a run interrupted mid-chunk loses nothing: the next run
   * starts with that chunk again.
   *
   * @since 0.2.0
   */
  readonly stream: Stream.Stream<Event.Event>
  /**
   * The events from position `from` on (from the first not released, if `from` is before it), waiting
   * for at least one; none once the delegate has ended and all were read. Reading never releases.
   *
   * @since 0.2.0
   */
  readonly read: (from: number) => Effect.Effect<Option.Option<EventBatch>>
  /**
   * Releases the events before position `upTo`: they were handled. Released events make room for the
   * child (backpressure) and are never read again.
   *
   * @since 0.2.0
   */
  readonly release: (upTo: number) => Effect.Effect<void>
  /**
   * The position of the first event not released: where a new reader starts.
   *
   * @since 0.2.0
   */
  readonly position: Effect.Effect<number>
  /** The next event, released as it is taken; none once the delegate has ended and every event was read. */
  readonly nextEvent: Effect.Effect<Option.Option<Event.Event>>
  /** Waits for the end and tells why. */
  readonly ended: Effect.Effect<DelegateEnded>
  /** Shuts the child down now (as closing the scope would) and waits for the end. */
  readonly shutdown: Effect.Effect<DelegateEnded>
  /** The child's latest status. */
  readonly status: Effect.Effect<AgentStatus.AgentStatus>
  /** Token usage of the child's session so far, from the `token_count` events the delegate filters out. */
  readonly usage: Effect.Effect<EventMsg.TokenUsage>
}

/**
 * Event types a delegate never forwards (SPEC §2.1): session configuration, streaming deltas, thread
 * names, MCP start-up. `token_count` is not forwarded either: it is rolled up into `usage`.
 *
 * @since 0.1.0
 * @category constants
 */
export const droppedEventTypes: ReadonlySet<string> = runtime.droppedTypes

/**
 * Starts an interactive delegate in the current scope: the caller submits ops and reads events until it
 * releases the scope, which shuts the child down (drain bounded by `drainTimeout`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const interactive: (
  options: DelegateOptions
) => Effect.Effect<DelegateHandle, SpawnError, Scope.Scope | AgentSpawner | Approvals> = (options) =>
  runtime.make(options, undefined)

/**
 * Starts a delegate for one turn: submits `input`, forwards events up to and including the turn's first
 * `task_complete` or `turn_aborted` (or an `error` before the turn started), then shuts the child down.
 * The handle's submit side is closed from the start.
 *
 * @since 0.1.0
 * @category constructors
 */
export const oneShot: (
  options: OneShotOptions
) => Effect.Effect<DelegateHandle, SpawnError, Scope.Scope | AgentSpawner | Approvals> = (options) =>
  runtime.make(options, options)

const stopped = (awaited: string, ended: DelegateEnded) =>
  new DelegateStopped({
    awaited,
    reason: ended.reason,
    ...(ended.message === undefined ? {} : { detail: ended.message })
  })

/**
 * A request refused as a duplicate is not asked again: the delegate remembers the ids of this many
 * answered requests (the oldest are forgotten first).
 *
 * @since 0.2.0
 * @category constants
 */
export const answeredRequestMemory: number = answeredMemory

/**
 * Reads events up to and including the first that matches (e.g. the end of a turn), without stopping the
 * delegate, and releases exactly those: the events after the match stay for the next reader. Fails with
 * `DelegateStopped` if the delegate ends first (the events read are then released too).
 *
 * @since 0.1.0
 * @category reading
 */
export const readUntil = (
  handle: DelegateHandle,
  predicate: (event: Event.Event) => boolean
): Effect.Effect<ReadonlyArray<Event.Event>, DelegateStopped> =>
  Effect.gen(function*() {
    const events: Array<Event.Event> = []
    let position = yield* handle.position
    while (true) {
      const batch = yield* handle.read(position)
      if (Option.isNone(batch)) {
        return yield* Effect.fail(stopped("the awaited event", yield* handle.ended))
      }
      const { events: read, from } = batch.value
      const match = read.findIndex(predicate)
      const taken = match === -1 ? read : read.slice(0, match + 1)
      for (const event of taken) events.push(event)
      position = from + taken.length
      yield* handle.release(position)
      if (match !== -1) return events
    }
  })

/**
 * How a turn ended: `completed` (with the last agent message), `errored` (a failed `task_complete`, or
 * an `error` before the turn started), or `aborted` (`turn_aborted`).
 *
 * @since 0.2.0
 * @category turns
 */
export type TurnEnd = End

/**
 * The end-of-turn rule (the one the one-shot delegate and `turn` use): feed it the events in order; it
 * returns the turn's end at the event that ends the turn `submissionId` started — the turn's first
 * `task_complete` or `turn_aborted` (by event id or by a turn id its `task_started` announced), or an
 * `error` before the turn started.
 *
 * @since 0.2.0
 * @category turns
 */
export const turnEnd = (submissionId: string): { readonly observe: (event: Event.Event) => TurnEnd | undefined } =>
  new TurnTracker(submissionId)

/**
 * Submits one user input and streams the events up to and including the end of the turn it started,
 * then ends (the events after it stay for the next reader); events forwarded before the submission and
 * not yet released come first. Reading is lossless as with `handle.stream`. Fails with `DelegateClosed`
 * if the delegate takes no submissions, with `DelegateStopped` if it ends before the turn does.
 *
 * @since 0.2.0
 * @category reading
 */
export const turn = (
  handle: DelegateHandle,
  input: string | ReadonlyArray<UserInput.UserInput>
): Stream.Stream<Event.Event, DelegateClosed | DelegateStopped> =>
  Stream.unwrap(Effect.gen(function*() {
    const items = typeof input === "string" ? [{ type: "text" as const, text: input, text_elements: [] }] : input
    const rule = new TurnTracker(yield* handle.submit({ type: "user_input", items }))
    type Step = { readonly position: number; readonly done: boolean }
    return Stream.unfoldChunkEffect<Step, Event.Event, DelegateStopped, never>(
      { position: yield* handle.position, done: false },
      ({ done, position }) =>
        Effect.gen(function*() {
          // Pulling the next chunk means the previous one was handled: release it only now.
          yield* handle.release(position)
          if (done) return Option.none()
          const batch = yield* handle.read(position)
          if (Option.isNone(batch)) {
            return yield* Effect.fail(stopped("the end of the turn", yield* handle.ended))
          }
          const { events, from } = batch.value
          const end = events.findIndex((event) => rule.observe(event) !== undefined)
          const taken = end === -1 ? events : events.slice(0, end + 1)
          return Option.some([Chunk.unsafeFromArray(taken), { position: from + taken.length, done: end !== -1 }])
        })
    )
  }))
