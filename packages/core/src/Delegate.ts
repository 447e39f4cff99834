/**
 * The delegate: runs a sub-agent for a caller, forwards its events and the caller's ops, routes the
 * child's requests to the parent's `Approvals`, and shuts the child down with a timed drain when its
 * scope closes, its caller is interrupted, its consumer goes away or (one-shot) its turn ends.
 *
 * @since 0.1.0
 */
import type { AgentStatus, Event, Op, Submission, TokenUsage, UserInput } from "@deputy/protocol"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AgentSpawner, SpawnOptions } from "./AgentSpawner.js"
import type { ApprovalKind, ApprovalSettlement } from "./ApprovalRequest.js"
import type { Approvals } from "./Approvals.js"
import { DelegateClosed, type SpawnError } from "./Errors.js"
import * as runtime from "./internal/delegateRuntime.js"

/**
 * Options of every delegate. Defaults: drain timeout 500 ms, queue capacities 512, no approval deadline.
 *
 * @since 0.1.0
 * @category models
 */
export interface DelegateOptions extends SpawnOptions {
  /** Names the delegate in request ids, spans and messages (default: a UUID v7). */
  readonly id?: string | undefined
  /** How long shutdown waits for the child to acknowledge (`shutdown_complete` or the end of its events). */
  readonly drainTimeout?: Duration.DurationInput | undefined
  /** Events buffered for the consumer before the child is slowed down (backpressure). */
  readonly eventCapacity?: number | undefined
  /** Caller submissions queued before `submit` waits. */
  readonly opCapacity?: number | undefined
  /** How long a request may wait for the parent; then it settles `timed_out` (default: no limit). */
  readonly approvalTimeout?: Duration.DurationInput | undefined
  /** Per-kind limits, overriding `approvalTimeout` for those kinds. */
  readonly approvalTimeouts?: Partial<Record<ApprovalKind, Duration.DurationInput>> | undefined
  /** Called once per routed request when it settles (after the child received the answer). */
  readonly onSettled?: ((settlement: ApprovalSettlement) => Effect.Effect<void>) | undefined
}

/**
 * Options of a one-shot delegate: the input of its single turn, an optional output schema and an
 * optional overall deadline (the delegate then ends `timed_out`).
 *
 * @since 0.1.0
 * @category models
 */
export interface OneShotOptions extends DelegateOptions {
  readonly input: string | ReadonlyArray<UserInput>
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
 * The caller's side of a delegate.
 *
 * @since 0.1.0
 * @category models
 */
export interface DelegateHandle {
  readonly id: string
  /** Submits an op (fresh UUID v7 id, the current span's trace); waits until the child accepted it. */
  readonly submit: (op: Op) => Effect.Effect<string, DelegateClosed>
  /** Submits as given: the child receives this id and trace. */
  readonly submitWithId: (submission: Submission) => Effect.Effect<void, DelegateClosed>
  /**
   * The child's events minus the filtered and routed ones, in order; the stream ends when the delegate
   * ends. It is the consumer's end: stopping a run of it before the end shuts the child down. As with any
   * stream over a queue, a run interrupted between taking a chunk and handling it loses that chunk: a
   * consumer that must show every event after Ctrl-C takes with `nextEvent` in an uninterruptible region
   * (see `@deputy/cli`'s `Session`).
   */
  readonly events: Stream.Stream<Event>
  /** The next event, or none once the delegate has ended and every event was read. */
  readonly nextEvent: Effect.Effect<Option.Option<Event>>
  /** Waits for the end and tells why. */
  readonly ended: Effect.Effect<DelegateEnded>
  /** Shuts the child down now (as closing the scope would) and waits for the end. */
  readonly shutdown: Effect.Effect<DelegateEnded>
  /** The child's latest status. */
  readonly status: Effect.Effect<AgentStatus>
  /** Token usage of the child's session so far, from the `token_count` events the delegate filters out. */
  readonly usage: Effect.Effect<TokenUsage>
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

/**
 * Reads events up to and including the first that matches (e.g. the end of a turn), without stopping the
 * delegate: unlike ending a run of `handle.events` early, this is not the consumer going away. Fails with
 * `DelegateClosed` if the delegate ends first.
 *
 * @since 0.1.0
 * @category reading
 */
export const readUntil = (
  handle: DelegateHandle,
  predicate: (event: Event) => boolean
): Effect.Effect<ReadonlyArray<Event>, DelegateClosed> =>
  Effect.gen(function*() {
    const events: Array<Event> = []
    while (true) {
      const next = yield* handle.nextEvent
      if (Option.isNone(next)) {
        return yield* Effect.fail(new DelegateClosed({ reason: "the delegate ended before the awaited event" }))
      }
      events.push(next.value)
      if (predicate(next.value)) return events
    }
  })
