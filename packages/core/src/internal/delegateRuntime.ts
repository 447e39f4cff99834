/**
 * The delegate's lifecycle: one state value (`Running → Draining{cause} → Ended{result}`), the reader of
 * the child's events, the shutdown sequence and the caller's handle. Routing lives in `requests.ts`, the
 * end-of-turn rule in `turnTracker.ts`, the consumer's buffer in `eventBuffer.ts`.
 *
 * Fibers and scopes, in the caller's scope (closed in reverse order):
 * - `tasks`: the reader, the request handlers (in a `requests` scope of their own) and the shutdown
 *   sequence; it closes after the shutdown finalizer has waited for the end, so the sequence is never cut.
 * - `agentScope`: the child; closed by `finish` before `ended` resolves, whatever happens to the caller.
 * - the shutdown finalizer, added last, so it runs first.
 */
import type { AgentStatus, Event, EventMsg, Op, Submission, W3cTraceContext } from "@deputy/protocol"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Agent from "../Agent.js"
import * as AgentDiagnostic from "../AgentDiagnostic.js"
import { AgentSpawner } from "../AgentSpawner.js"
import { type ApprovalSettlement, type RequestWithdrawn, withdrawnType } from "../ApprovalRequest.js"
import { Approvals, type ApprovalsService } from "../Approvals.js"
import type * as DecidedBy from "../DecidedBy.js"
import type { DelegateEnded, DelegateHandle, DelegateOptions, EndReason, OneShotOptions } from "../Delegate.js"
import { AgentExited, DelegateClosed, type SpawnError } from "../Errors.js"
import * as TraceContext from "../TraceContext.js"
import { type EventBatch, EventBuffer } from "./eventBuffer.js"
import { RequestLedger, requestTypes, type Resolution, route, type RoutedRequest } from "./requests.js"
import { type TurnEnd, TurnTracker } from "./turnTracker.js"
import { uuidv7 } from "./uuid.js"

/** Defaults of `DelegateOptions` (documented there). */
export const defaults = {
  drainTimeout: Duration.millis(500),
  eventCapacity: 512,
  eventBytes: 64 * 1024 * 1024,
  maxPendingRequests: 256
} as const

/** Extra room in the consumer's buffer while the child is drained: its acknowledgement is never held up. */
const drainAllowance = { events: 1024, bytes: 16 * 1024 * 1024 } as const

/** Event types the delegate drops (Codex's list, legacy and current); `token_count` is rolled up instead. */
export const droppedTypes: ReadonlySet<string> = new Set([
  "session_configured",
  "agent_message_delta",
  "agent_reasoning_delta",
  "agent_reasoning_raw_content_delta",
  "thread_name_updated",
  "mcp_startup_update",
  "mcp_startup_complete"
])

/** Event types the delegate does not simply forward, by what it does with them. */
const EventKind = { Dropped: 0, TokenCount: 1, Request: 2, ShutdownComplete: 3, Withdrawn: 4 } as const
type EventKind = typeof EventKind[keyof typeof EventKind]

/** One map lookup per event (most types are not in it): cheaper than a set test per rule. */
const eventKinds: ReadonlyMap<string, EventKind> = new Map([
  ...[...droppedTypes].map((type) => [type, EventKind.Dropped] as const),
  ...[...requestTypes].map((type) => [type, EventKind.Request] as const),
  ["token_count", EventKind.TokenCount],
  [withdrawnType, EventKind.Withdrawn],
  ["shutdown_complete", EventKind.ShutdownComplete]
])

type ShutdownCause = Exclude<EndReason, "drain_timed_out">

/** The delegate's life, in one value. */
type State =
  | { readonly _tag: "Running" }
  | { readonly _tag: "Draining"; readonly cause: ShutdownCause }
  | { readonly _tag: "Ended"; readonly result: DelegateEnded }

const running: State = { _tag: "Running" }

/** What one pass over a batch of the child's events found. */
interface Pass {
  /** Allocated for the whole batch (cheaper than growing it): its first `count` slots are used. */
  readonly forward: Array<Event.Event>
  count: number
  toAsk: Array<RoutedRequest> | undefined
  toCancel: Array<RoutedRequest> | undefined
  /** Requests the child withdrew (`ApprovalRequest.withdrawnType`). */
  toWithdraw: Array<RequestWithdrawn> | undefined
  ends: ShutdownCause | undefined
}

/** A one-shot's end as it is reported: the turn's, or the deadline's. */
type Terminal = { readonly reason: ShutdownCause; readonly message?: string; readonly lastAgentMessage?: string | null }

const zeroUsage: EventMsg.TokenUsage = { input_tokens: 0, output_tokens: 0, total_tokens: 0 }

const terminalOf = (end: TurnEnd): Terminal =>
  end.reason === "completed" ? { reason: "completed", lastAgentMessage: end.lastAgentMessage } : end

const crashOf = (exit: Exit.Exit<void, AgentExited> | undefined): Option.Option<AgentExited> =>
  exit !== undefined && Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()

const agentExited = (crash: Option.Option<AgentExited>): DelegateEnded => ({
  reason: "agent_exited",
  drainTimedOut: false,
  ...(Option.isSome(crash)
    ? { code: crash.value.code, signal: crash.value.signal, message: crash.value.message }
    : { message: "the sub-agent's events ended" })
})

const cancelled = (reason: string): DecidedBy.DecidedBy => ({ _tag: "Cancelled", reason })

/** The live clock's class (`Clock.make()`): its `sleep` is a `setTimeout`, which `awaitDrained` uses directly. */
const liveClockClass = Object.getPrototypeOf(Clock.make()) as object

const isLiveClock = (clock: Clock.Clock): boolean => Object.getPrototypeOf(clock) === liveClockClass

/** The largest delay `setTimeout` takes (as in `Clock`). */
const maxTimerMillis = 2 ** 31 - 1

/** Binds `method` to `self` and keeps it as `self[name]` (shadowing the prototype's getter of that name). */
const bindOnce = <F extends (...args: ReadonlyArray<never>) => unknown>(self: object, name: string, method: F): F => {
  const bound = method.bind(self) as F
  Object.defineProperty(self, name, { value: bound, enumerable: true })
  return bound
}

/** Everything one delegate holds; the handle the caller gets. */
class DelegateRuntime implements DelegateHandle {
  private state: State = running
  private currentUsage: EventMsg.TokenUsage = zeroUsage
  /** How the child's events ended, once they did. */
  private agentEnd: Exit.Exit<void, AgentExited> | undefined
  private acknowledged = false
  /**
   * While draining: `undefined` until the child acknowledged shutdown or its events ended (`true`), or the
   * drain timeout passed (`false`); `null` before the drain. Plain fields, no `Deferred` (see `awaitDrained`).
   */
  private drainOutcome: boolean | undefined | null = null
  /** The shutdown sequence, waiting for `drainOutcome`. */
  private onDrained: ((acknowledged: boolean) => void) | undefined
  private callerAskedShutdown = false
  private readonly buffer: EventBuffer
  private readonly ledger = new RequestLedger()
  /**
   * The end, once known, and who waits for it: a one-shot signal of plain fields (a `Deferred` per delegate
   * costs ~0.4 KiB, its per-instance method giving it hidden classes of its own); waiters only exist while
   * someone waits.
   */
  private endResult: DelegateEnded | undefined
  private endWaiters: Set<(result: DelegateEnded) => void> | undefined
  private requests: Scope.CloseableScope | undefined
  /** The fiber asking the parent, by request id, while it asks. */
  private readonly asking = new Map<string, Fiber.RuntimeFiber<void>>()
  /** Requests asked now (`asking` may not hold a fiber yet), at most `maxAsking`; those waiting their turn. */
  private inFlight = 0
  private queued: Array<RoutedRequest> | undefined
  private readonly maxAsking: number
  /** The reader, waiting while requests are queued. */
  private askRoom: (() => void) | undefined
  /** One-shot: the turn of the input, and how the delegate's single turn ended. */
  turn: TurnTracker | undefined
  private terminal: Terminal | undefined
  /** The fiber reading the child's events; on demand (`wake`), only while there is something to read. */
  reader: Fiber.RuntimeFiber<void> | undefined
  /** On demand: what the reader runs with, whether the child woke it since its last take, and its end. */
  onDemand: Runtime.Runtime<never> | undefined
  unlisten: (() => void) | undefined
  private woken = false
  private readingStopped = false
  /** One-shot: the fiber submitting the input, until the child has accepted it. */
  inputSubmission: Fiber.RuntimeFiber<void> | undefined

  constructor(
    readonly id: string,
    private readonly options: DelegateOptions,
    private readonly agent: Agent.Agent,
    private readonly approvals: ApprovalsService,
    private readonly span: Tracer.Span,
    private readonly trace: W3cTraceContext.W3cTraceContext,
    private readonly tasks: Scope.CloseableScope,
    private readonly agentScope: Scope.CloseableScope,
    private readonly drainTimeout: Duration.Duration
  ) {
    this.maxAsking = Math.max(1, options.maxPendingRequests ?? defaults.maxPendingRequests)
    this.buffer = new EventBuffer(
      Math.max(1, options.eventCapacity ?? defaults.eventCapacity),
      Math.max(1, options.eventBytes ?? defaults.eventBytes)
    )
  }

  // The handle's functions may be taken off it (`const { read } = handle`): each is bound on first use and
  // kept as an own property then, so an idle delegate holds no bound functions.
  get submitWithId(): (submission: Submission.Submission) => Effect.Effect<void, DelegateClosed> {
    return bindOnce(this, "submitWithId", this.submitSubmission)
  }

  get submit(): (op: Op.Op) => Effect.Effect<string, DelegateClosed> {
    return bindOnce(this, "submit", this.submitOp)
  }

  get read(): (from: number) => Effect.Effect<Option.Option<EventBatch>> {
    return bindOnce(this, "read", this.readFrom)
  }

  get release(): (upTo: number) => Effect.Effect<void> {
    return bindOnce(this, "release", this.releaseUpTo)
  }

  // --- the caller's side ---

  /** Waits for the end (interruptible: an interrupted waiter is removed). */
  private get awaitEnd(): Effect.Effect<DelegateEnded> {
    return Effect.suspend(() => {
      if (this.endResult !== undefined) return Effect.succeed(this.endResult)
      return Effect.async<DelegateEnded>((resume) => {
        const wake = (result: DelegateEnded) => resume(Effect.succeed(result))
        ;(this.endWaiters ??= new Set()).add(wake)
        return Effect.sync(() => void this.endWaiters?.delete(wake))
      })
    })
  }

  /** Records the end and wakes every waiter (once). */
  private endWith(result: DelegateEnded): void {
    if (this.endResult !== undefined) return
    this.endResult = result
    const waiters = this.endWaiters
    this.endWaiters = undefined
    if (waiters !== undefined) { for (const wake of waiters) wake(result) }
  }

  private closedReason(): string | undefined {
    switch (this.state._tag) {
      case "Ended":
        return `the delegate has ended (${this.state.result.reason})`
      case "Draining":
        return "the delegate is shutting down"
      case "Running":
        return this.turn !== undefined ? "a one-shot delegate takes no submissions after its input" : undefined
    }
  }

  private submitSubmission(submission: Submission.Submission): Effect.Effect<void, DelegateClosed> {
    return Effect.suspend(() => {
      const closed = this.closedReason()
      if (closed !== undefined) return Effect.fail(new DelegateClosed({ reason: closed }))
      if (submission.op.type === "shutdown") this.callerAskedShutdown = true
      return Effect.mapError(
        this.agent.submitWithId(submission),
        (error) => new DelegateClosed({ reason: error.message })
      )
    })
  }

  private submitOp(op: Op.Op): Effect.Effect<string, DelegateClosed> {
    return Effect.flatMap(TraceContext.current, (trace) => {
      const id = uuidv7()
      return Effect.as(this.submitSubmission(Option.isSome(trace) ? { id, op, trace: trace.value } : { id, op }), id)
    })
  }

  private readFrom(from: number): Effect.Effect<Option.Option<EventBatch>> {
    return this.buffer.read(from)
  }

  private releaseUpTo(upTo: number): Effect.Effect<void> {
    return Effect.sync(() => this.buffer.release(upTo))
  }

  get position(): Effect.Effect<number> {
    return Effect.sync(() => this.buffer.released)
  }

  get stream(): Stream.Stream<Event.Event> {
    const buffer = this.buffer
    return Stream.suspend(() =>
      Stream.unfoldChunkEffect(buffer.released, (position) => {
        // Asking for the next batch means the previous one was handled: release it only now.
        buffer.release(position)
        return Effect.map(
          buffer.read(position),
          Option.map((batch) => [Chunk.unsafeFromArray(batch.events), batch.from + batch.events.length] as const)
        )
      })
    )
  }

  get events(): Stream.Stream<Event.Event> {
    return Stream.ensuring(this.stream, this.stop("interrupted"))
  }

  get nextEvent(): Effect.Effect<Option.Option<Event.Event>> {
    return Effect.map(this.buffer.read(this.buffer.released), (batch) => {
      if (Option.isNone(batch)) return Option.none()
      this.buffer.release(batch.value.from + 1)
      return Option.some(batch.value.events[0]!)
    })
  }

  get ended(): Effect.Effect<DelegateEnded> {
    return this.awaitEnd
  }

  get shutdown(): Effect.Effect<DelegateEnded> {
    return Effect.zipRight(this.stop("interrupted"), this.awaitEnd)
  }

  get status(): Effect.Effect<AgentStatus.AgentStatus> {
    return this.agent.status
  }

  get usage(): Effect.Effect<EventMsg.TokenUsage> {
    return Effect.sync(() => this.currentUsage)
  }

  // --- the child's side ---

  private submitOwn(op: Op.Op): Effect.Effect<void> {
    return Effect.ignore(this.agent.submitWithId({ id: uuidv7(), op, trace: this.trace }))
  }

  /**
   * The child has events or its end: starts a reader unless one runs (it takes them before it stops). Called
   * synchronously by the child's channel; the reader starts on the scheduler, never inside the child's call.
   * It is the `tasks` scope's: `finish` stops it, and `tasks` interrupts one left when it closes (see `make`).
   */
  wake(): void {
    this.woken = true
    if (this.reader !== undefined || this.readingStopped || this.onDemand === undefined) return
    this.reader = Runtime.runFork(this.onDemand, this.readOnDemand, { immediate: false })
  }

  /** The reader, interrupted (none on demand between reads). */
  get stopReading(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.readingStopped = true
      // The child's channel may outlive the delegate (a test child is kept by its layer): let go of it.
      this.unlisten?.()
      this.unlisten = undefined
      this.onDemand = undefined
      const reader = this.reader
      return reader === undefined ? Effect.void : Fiber.interrupt(reader)
    })
  }

  /** Reads while the child wakes it; stops (no fiber left) when a take brought nothing new. */
  private get readOnDemand(): Effect.Effect<void> {
    // The channel's batches as appended (no copy into one array); `nextBatch` for other channels.
    const nextSegments = Agent.nextSegments(this.agent) ??
      Effect.map(this.agent.nextBatch, ([batch, done]): Agent.Segments => ({
        segments: [batch],
        count: batch.length,
        done
      }))
    const next: Effect.Effect<boolean, AgentExited> = Effect.suspend(() => {
      if (!this.woken) {
        this.reader = undefined
        return Effect.succeed(false)
      }
      this.woken = false
      return Effect.flatMap(nextSegments, ({ count, done, segments }) => {
        if (count === 0) return done ? Effect.succeed(true) : next
        const handled = this.onChunk(segments, count)
        return done ? Effect.as(handled, true) : Effect.zipRight(handled, next)
      })
    })
    return Effect.interruptible(this.endWhenDone(next))
  }

  /**
   * Reads the child's events until they end (a reader parked on a child without a channel). A plain
   * `flatMap` loop (no generator, no extra combinators): an idle delegate's reader is parked on the child's
   * mailbox with as few frames on its stack as possible (each one is heap held per delegate).
   */
  get readLoop(): Effect.Effect<void> {
    const nextBatch = this.agent.nextBatch
    const loop: Effect.Effect<boolean, AgentExited> = Effect.flatMap(nextBatch, ([batch, done]) => {
      if (batch.length === 0) return done ? Effect.succeed(true) : loop
      const handled = this.onChunk([batch], batch.length)
      return done ? Effect.as(handled, true) : Effect.zipRight(handled, loop)
    })
    return this.endWhenDone(loop)
  }

  /** Runs a read loop (`true` once the child's events ended) under one `matchCauseEffect`; records the end. */
  private endWhenDone(loop: Effect.Effect<boolean, AgentExited>): Effect.Effect<void> {
    return Effect.matchCauseEffect(loop, {
      onFailure: (cause) => {
        // A defect in the child's stream is reported as the child's failure (interruption never gets here).
        const defect = Cause.dieOption(cause)
        const exit: Exit.Exit<void, AgentExited> = Option.isSome(defect)
          ? Exit.fail(new AgentExited({ reason: `the sub-agent's event stream failed: ${String(defect.value)}` }))
          : Exit.failCause(cause)
        return this.endOfEvents(exit)
      },
      onSuccess: (ended) => ended ? this.endOfEvents(Exit.void) : Effect.void
    })
  }

  private endOfEvents(exit: Exit.Exit<void, AgentExited>): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.agentEnd = exit
      this.drainedWith(true)
      // Draining already (the usual end): the sequence that runs goes on, nothing to start.
      if (this.state._tag !== "Running") return Effect.void
      return this.underSpan(this.stop(this.callerAskedShutdown ? "interrupted" : "agent_exited"))
    })
  }

  /** One pass over a batch of the child's events; one append to the consumer's buffer. */
  private onChunk(segments: ReadonlyArray<ReadonlyArray<Event.Event>>, count: number): Effect.Effect<void> {
    const pass: Pass = {
      forward: new Array(count),
      count: 0,
      toAsk: undefined,
      toCancel: undefined,
      toWithdraw: undefined,
      ends: undefined
    }
    for (let i = 0; i < segments.length; i++) this.classify(segments[i]!, pass)
    pass.forward.length = pass.count
    this.buffer.append(pass.forward)
    if (
      pass.ends === undefined && pass.toCancel === undefined && pass.toAsk === undefined &&
      pass.toWithdraw === undefined
    ) {
      return this.buffer.waitForRoom
    }
    let effect: Effect.Effect<void> = Effect.void
    if (pass.ends !== undefined) effect = this.stop(pass.ends)
    if (pass.toCancel !== undefined) effect = Effect.zipRight(this.cancelNow(pass.toCancel), effect)
    if (pass.toWithdraw !== undefined) effect = Effect.zipRight(this.withdraw(pass.toWithdraw), effect)
    if (pass.toAsk !== undefined) effect = Effect.zipRight(this.ask(pass.toAsk), effect)
    return Effect.zipRight(this.underSpan(effect), Effect.zipRight(this.waitForAskRoom, this.buffer.waitForRoom))
  }

  /**
   * Runs `effect` under the delegate's span. The reader does not run under it (a context of its own would be
   * held by every idle delegate): what it starts that may log, trace or call the caller's `onSettled` does.
   */
  private underSpan<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.withParentSpan(effect, this.span)
  }

  /**
   * The per-event loop of `onChunk`, alone in its method: batches are long, so V8 compiles this loop
   * while it runs (on-stack replacement), and code after the loop that never ran would then deoptimize
   * the compiled loop on every batch.
   */
  private classify(chunk: ReadonlyArray<Event.Event>, pass: Pass): void {
    const forward = pass.forward
    const turn = this.turn
    let count = pass.count
    for (let i = 0; i < chunk.length; i++) {
      const event = chunk[i]!
      const kind = eventKinds.get(event.msg.type)
      if (kind !== undefined) {
        if (kind === EventKind.Dropped) continue
        if (kind === EventKind.Withdrawn) {
          ;(pass.toWithdraw ??= []).push(event.msg as unknown as RequestWithdrawn)
          continue
        }
        if (kind === EventKind.TokenCount) {
          const info = (event.msg as { info?: { total_token_usage?: EventMsg.TokenUsage } | null }).info
          if (info?.total_token_usage) this.currentUsage = info.total_token_usage
          continue
        }
        if (kind === EventKind.Request) {
          pass.count = count
          const routed = this.routeRequest(event, pass)
          count = pass.count
          if (routed) continue
        }
        if (kind === EventKind.ShutdownComplete) {
          this.acknowledged = true
          if (this.state._tag === "Draining") this.drainedWith(true)
        }
      }
      if (this.terminal !== undefined) continue // one-shot: nothing after the terminal event
      forward[count++] = event
      if (turn !== undefined) {
        const end = turn.observe(event)
        if (end !== undefined && this.state._tag === "Running") {
          this.terminal = terminalOf(end)
          pass.ends = this.terminal.reason
        }
      }
    }
    pass.count = count
  }

  /** A request event: asked, cancelled or refused as a duplicate; `false` when it is not a request after all. */
  private routeRequest(event: Event.Event, pass: Pass): boolean {
    const routed = route(event, {
      delegateId: this.id,
      source: this.options.source,
      sequence: this.buffer.total + pass.count
    })
    if (routed === undefined) return false
    const refused = this.ledger.admit(routed)
    if (refused !== undefined) {
      if (this.terminal === undefined) {
        pass.forward[pass.count++] = AgentDiagnostic.toEvent({
          type: "deputy_diagnostic",
          kind: "duplicate_request",
          message: refused
        })
      }
    } else {
      // Before the events after it are in the consumer's buffer (they are appended after this pass).
      this.options.onRequest?.(routed.request)
      if (this.state._tag === "Running" && this.terminal === undefined && pass.ends === undefined) {
        ;(pass.toAsk ??= []).push(routed)
      } else {
        ;(pass.toCancel ??= []).push(routed)
      }
    }
    return true
  }

  // --- requests ---

  /**
   * Asks the parent, each request in a fiber of the `requests` scope, at most `maxAsking` at once: the rest
   * wait their turn in `queued`, in the child's order (asked as earlier ones settle).
   */
  private ask(routed: ReadonlyArray<RoutedRequest>): Effect.Effect<void> {
    return Effect.suspend(() => {
      for (const request of routed) (this.queued ??= []).push(request)
      if (this.requests !== undefined) return this.askQueued(this.requests)
      return Effect.flatMap(Scope.fork(this.tasks, ExecutionStrategy.sequential), (requests) => {
        this.requests = requests
        return this.askQueued(requests)
      })
    })
  }

  /** Starts the queued requests there is room for (those withdrawn or settled meanwhile are skipped). */
  private askQueued(requests: Scope.CloseableScope): Effect.Effect<void> {
    return Effect.suspend(() => {
      const queued = this.queued
      const start: Array<RoutedRequest> = []
      while (queued !== undefined && queued.length > 0 && this.inFlight + start.length < this.maxAsking) {
        const request = queued.shift()!
        if (this.ledger.isPending(request.request.id)) start.push(request)
      }
      if (queued !== undefined && queued.length === 0) {
        this.queued = undefined
        this.wakeAskRoom()
      }
      if (start.length === 0) return Effect.void
      this.inFlight += start.length
      return Effect.forEach(start, (request) => this.askOne(request, requests), { discard: true })
    })
  }

  private askOne(request: RoutedRequest, requests: Scope.CloseableScope): Effect.Effect<void> {
    const id = request.request.id
    const done = Effect.suspend(() => {
      this.asking.delete(id)
      this.inFlight -= 1
      // The next one in line, while the delegate still asks (a shutdown settles the queue itself).
      return this.requests === requests && this.state._tag === "Running" ? this.askQueued(requests) : Effect.void
    })
    return Effect.tap(
      Effect.forkIn(Effect.ensuring(Effect.interruptible(this.handleRequest(request)), done), requests),
      (fiber) =>
        Effect.sync(() => {
          if (fiber.unsafePoll() === null) this.asking.set(id, fiber)
        })
    )
  }

  /** The reader waits here while requests wait their turn: the child is not read meanwhile. */
  private get waitForAskRoom(): Effect.Effect<void> {
    return Effect.suspend(() =>
      this.queued === undefined || this.state._tag !== "Running"
        ? Effect.void
        : Effect.zipRight(
          Effect.async<void>((resume) => {
            this.askRoom = () => resume(Effect.void)
            return Effect.sync(() => void (this.askRoom = undefined))
          }),
          this.waitForAskRoom
        )
    )
  }

  private wakeAskRoom(): void {
    const wake = this.askRoom
    this.askRoom = undefined
    wake?.()
  }

  /** Requests that arrived once the delegate stopped asking: the default answer, at once. */
  private cancelNow(routed: ReadonlyArray<RoutedRequest>): Effect.Effect<void> {
    const reason = "the delegate is shutting down"
    // The claim and the settlement in one uninterruptible step (the delivery alone may be cut).
    return Effect.forEach(
      routed,
      (request) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.suspend(() =>
            this.ledger.claim(request.request.id) === undefined
              ? Effect.void
              : this.settle(request, request.aborted(cancelled(reason), reason), 0, false).pipe(
                Effect.zipLeft(
                  this.agentEnd === undefined
                    ? restore(this.submitOwn(request.aborted(cancelled(reason), reason).answer))
                    : Effect.void
                )
              )
          )
        ),
      { discard: true }
    )
  }

  /**
   * Requests the child withdrew: each one still pending is claimed, its wait on the parent interrupted, and
   * it settles `aborted` with the child's reason; the child gets no answer (it no longer waits for one).
   */
  private withdraw(withdrawn: ReadonlyArray<RequestWithdrawn>): Effect.Effect<void> {
    return Effect.forEach(withdrawn, (event) =>
      Effect.suspend(() => {
        const id = `${this.id}/${event.kind}/${event.call_id}`
        const routed = this.ledger.claim(id)
        if (routed === undefined) return Effect.void
        const fiber = this.asking.get(id)
        this.asking.delete(id)
        const reason = typeof event.reason === "string" ? event.reason : "the sub-agent withdrew the request"
        return Effect.zipRight(
          fiber === undefined ? Effect.void : Fiber.interrupt(fiber),
          this.settle(routed, routed.aborted(cancelled(reason), reason), 0, false)
        )
      }), { discard: true })
  }

  private settle(
    routed: RoutedRequest,
    resolution: Resolution,
    waitedMs: number,
    deliver: boolean,
    restore: <A>(effect: Effect.Effect<A>) => Effect.Effect<A> = identity
  ) {
    const settlement: ApprovalSettlement = {
      request: routed.request,
      outcome: resolution.outcome,
      decidedBy: resolution.decidedBy,
      reason: resolution.reason,
      waitedMs,
      answer: resolution.answer
    }
    const report = this.options.onSettled === undefined
      ? Effect.void
      : Effect.catchAllCause(this.options.onSettled(settlement), Effect.logWarning)
    // A claimed request settles once whatever happens to its delivery: a reader interrupted while a child
    // that stopped reading its stdin holds the answer (the end of a drain) still reports it.
    return deliver ? Effect.ensuring(restore(this.submitOwn(resolution.answer)), report) : report
  }

  private handleRequest(routed: RoutedRequest): Effect.Effect<void> {
    const kind = routed.request.kind
    const timeout = this.options.approvalTimeouts?.[kind] ?? this.options.approvalTimeout
    return Effect.gen(this, function*() {
      const started = yield* Clock.currentTimeMillis
      const asked = routed.ask(this.approvals)
      const exit = yield* Effect.exit(
        timeout === undefined ? Effect.asSome(asked) : Effect.timeoutOption(asked, timeout)
      )
      const resolution: Resolution = Exit.match(exit, {
        onSuccess: (answer) =>
          Option.getOrElse(answer, () =>
            routed.timedOut({
              _tag: "Deadline",
              afterMs: timeout === undefined ? 0 : Duration.toMillis(Duration.decode(timeout))
            })),
        onFailure: (cause) => {
          const error = Cause.pretty(cause).split("\n")[0] ?? "unknown failure"
          return routed.aborted({ _tag: "ServiceFailed", error }, `the approval service failed: ${error}`)
        }
      })
      if (Exit.isFailure(exit)) yield* Effect.logWarning("approval service failed; answering abort", exit.cause)
      const waited = (yield* Clock.currentTimeMillis) - started
      yield* Effect.annotateCurrentSpan({ "deputy.outcome": resolution.outcome, "deputy.wait_ms": waited })
      // The claim and the settlement cannot be cut; the delivery can (a child that stopped reading its stdin
      // holds the write until it is killed, which comes after the reader is stopped)
      yield* Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() =>
          this.ledger.claim(routed.request.id) === undefined
            ? Effect.void
            : this.settle(routed, resolution, waited, true, restore)
        )
      )
    }).pipe(
      Effect.onInterrupt(() => Effect.annotateCurrentSpan("deputy.outcome", "aborted")),
      Effect.withSpan("deputy.approval", {
        parent: this.span,
        attributes: {
          "deputy.kind": kind,
          "deputy.request_id": routed.request.id,
          "deputy.call_id": routed.request.callId
        }
      })
    )
  }

  /**
   * Claims every pending request, stops the parent's waits (a handler already settling finishes first:
   * closing the scope waits for it), and answers each claimed one with its default.
   */
  private abortPending(reason: string, deliver: boolean): Effect.Effect<void> {
    return Effect.suspend(() => {
      const claimed = this.ledger.claimAll()
      const requests = this.requests
      this.queued = undefined
      this.wakeAskRoom()
      if (requests === undefined && claimed.length === 0) return Effect.void
      this.requests = undefined
      const stopWaits = requests === undefined ? Effect.void : Scope.close(requests, Exit.void)
      return Effect.zipRight(
        stopWaits,
        Effect.forEach(
          claimed,
          (routed) => this.settle(routed, routed.aborted(cancelled(reason), reason), 0, deliver),
          { discard: true }
        )
      )
    })
  }

  // --- shutdown and end ---

  /** Starts the shutdown sequence once (in the `tasks` scope: nothing the caller does can cut it). */
  stop(cause: ShutdownCause): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (!this.beginShutdown(cause)) return Effect.void
      // A fiber forked from a finalizer starts uninterruptible: the sequence says itself where it may be cut.
      return Effect.asVoid(Effect.forkIn(Effect.uninterruptible(this.runShutdown(cause)), this.tasks))
    })
  }

  /**
   * The scope's finalizer: the shutdown sequence run by the finalizer itself when nothing started it yet (a
   * finalizer is uninterruptible already, so nothing can cut it: no fiber to fork), then waits for the end.
   */
  get closeWithScope(): Effect.Effect<void> {
    return Effect.suspend(() =>
      this.beginShutdown("interrupted")
        ? Effect.uninterruptible(this.runShutdown("interrupted"))
        : Effect.asVoid(this.awaitEnd)
    )
  }

  /** Moves `Running` to `Draining`; `false` when the delegate was not running any more. */
  private beginShutdown(cause: ShutdownCause): boolean {
    if (this.state._tag !== "Running") return false
    this.state = { _tag: "Draining", cause }
    this.buffer.raiseLimits(drainAllowance.events, drainAllowance.bytes)
    this.wakeAskRoom()
    return true
  }

  private runShutdown(cause: ShutdownCause): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      let drainTimedOut = false
      if (cause !== "agent_exited") {
        const childAlive = this.agentEnd === undefined
        yield* this.abortPending("the delegate is shutting down", childAlive)
        if (childAlive) {
          this.drainOutcome = undefined
          // The input goes first or not at all: `interrupt` and `shutdown` never overtake it.
          if (this.inputSubmission !== undefined) yield* Fiber.interrupt(this.inputSubmission)
          yield* this.submitOwn({ type: "interrupt" })
          yield* this.submitOwn({ type: "shutdown" })
          // Events that ended before the drain began end it at once.
          if (this.agentEnd !== undefined) this.drainedWith(true)
          drainTimedOut = !(yield* this.awaitDrained)
        }
      }
      yield* this.finish(this.result(cause, drainTimedOut))
    })
  }

  /** The drain's outcome, once (see `drainOutcome`); wakes the shutdown sequence if it waits. */
  private drainedWith(acknowledged: boolean): void {
    if (this.drainOutcome !== undefined) return
    this.drainOutcome = acknowledged
    const resume = this.onDrained
    this.onDrained = undefined
    resume?.(acknowledged)
  }

  /**
   * Waits for the drain's outcome. With the live clock the timeout is a plain timer inside the wait (no
   * fiber, no `Deferred`: each cost a share of closing many delegates at once; measured in the bench's
   * `close all`); with any other clock (`TestClock`) a timer fiber in `tasks` sleeps on that clock.
   */
  private get awaitDrained(): Effect.Effect<boolean> {
    return Effect.clockWith((clock) => {
      if (typeof this.drainOutcome === "boolean") return Effect.succeed(this.drainOutcome)
      const wait = Effect.async<boolean>((resume) => {
        if (typeof this.drainOutcome === "boolean") return resume(Effect.succeed(this.drainOutcome))
        this.onDrained = (acknowledged) => resume(Effect.succeed(acknowledged))
        return Effect.sync(() => void (this.onDrained = undefined))
      })
      const millis = Duration.toMillis(this.drainTimeout)
      if (isLiveClock(clock)) {
        // Beyond the largest timer delay, as `Clock.sleep`: no timeout.
        if (!(millis <= maxTimerMillis)) return wait
        return Effect.suspend(() => {
          const timer = setTimeout(() => this.drainedWith(false), millis)
          return Effect.ensuring(wait, Effect.sync(() => clearTimeout(timer)))
        })
      }
      return Effect.flatMap(
        Effect.forkIn(
          Effect.interruptible(
            Effect.zipRight(clock.sleep(this.drainTimeout), Effect.sync(() => this.drainedWith(false)))
          ),
          this.tasks
        ),
        (timer) => Effect.zipLeft(wait, Fiber.interrupt(timer))
      )
    })
  }

  private result(cause: ShutdownCause, drainTimedOut: boolean): DelegateEnded {
    const crashed = crashOf(this.agentEnd)
    // The child died instead of acknowledging: say so rather than "interrupted".
    if (cause === "agent_exited" || (cause === "interrupted" && !this.acknowledged && Option.isSome(crashed))) {
      return agentExited(crashed)
    }
    const terminal = this.terminal
    return {
      reason: cause === "interrupted" && drainTimedOut ? "drain_timed_out" : cause,
      drainTimedOut,
      ...(terminal?.lastAgentMessage !== undefined ? { lastAgentMessage: terminal.lastAgentMessage } : {}),
      ...(terminal?.message !== undefined ? { message: terminal.message } : {}),
      ...(drainTimedOut
        ? { message: `the sub-agent did not acknowledge shutdown within ${Duration.format(this.drainTimeout)}` }
        : {})
    }
  }

  /** Settles what is left, ends the consumer's events, closes the child's scope; only then `ended`. */
  private finish(result: DelegateEnded): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      yield* this.abortPending(`the delegate ended (${result.reason})`, false)
      this.buffer.end()
      yield* this.stopReading
      yield* Scope.close(this.agentScope, Exit.void)
      this.state = { _tag: "Ended", result }
      yield* endSpan(this.span, Exit.void, result.reason)
      this.endWith(result)
    })
  }

  /** One-shot: submits the input of the single turn. */
  startTurn(oneShot: OneShotOptions, turnId: string): Effect.Effect<void> {
    const items = typeof oneShot.input === "string"
      ? [{ type: "text" as const, text: oneShot.input, text_elements: [] }]
      : oneShot.input
    const op: Op.Op = {
      type: "user_input",
      items,
      ...(oneShot.finalOutputJsonSchema === undefined
        ? {}
        : { final_output_json_schema: oneShot.finalOutputJsonSchema })
    }
    return Effect.flatMap(TraceContext.current, (trace) =>
      Effect.ignore(
        this.agent.submitWithId(Option.isSome(trace) ? { id: turnId, op, trace: trace.value } : { id: turnId, op })
      ))
  }

  /** One-shot: ends the delegate `timed_out` when the turn has not ended by the deadline. */
  deadline(deadline: Duration.DurationInput): Effect.Effect<void> {
    return Effect.zipRight(
      Effect.sleep(deadline),
      Effect.suspend(() => {
        if (this.terminal !== undefined || this.state._tag !== "Running") return Effect.void
        this.terminal = { reason: "timed_out", message: `the turn did not end within ${Duration.format(deadline)}` }
        return this.stop("timed_out")
      })
    )
  }
}

/**
 * The same string, flattened: ids and trace ids are built by concatenation, and V8 keeps such a string as a
 * rope (one node per piece, ~680 bytes for a 32-digit trace id) until something reads a character of it.
 */
const flat = (text: string): string => {
  text.charCodeAt(0)
  return text
}

/** The W3C context of the delegate's span, its ids and the result flattened (each is held per delegate). */
const flatTrace = (span: Tracer.Span): W3cTraceContext.W3cTraceContext => {
  flat(span.traceId)
  flat(span.spanId)
  const trace = TraceContext.fromSpan(span)
  if (typeof trace.traceparent === "string") flat(trace.traceparent)
  return trace
}

const endSpan = (span: Tracer.Span, exit: Exit.Exit<unknown, unknown>, reason?: string) =>
  Effect.flatMap(Clock.currentTimeNanos, (now) =>
    Effect.sync(() => {
      if (reason) span.attribute("deputy.end_reason", reason)
      span.end(now, exit)
    }))

/**
 * Builds a delegate. `oneShot` present = one-shot mode. Everything it forks lives in the caller's scope
 * (see the module's comment for the order of release).
 */
export const make = (
  options: DelegateOptions,
  oneShot: OneShotOptions | undefined
): Effect.Effect<DelegateHandle, SpawnError, Scope.Scope | AgentSpawner | Approvals> =>
  Effect.gen(function*() {
    // One read of the context (not a step per service).
    const context = yield* Effect.context<Scope.Scope | AgentSpawner | Approvals>()
    const spawner = Context.get(context, AgentSpawner)
    const approvals = Context.get(context, Approvals)
    const scope = Context.get(context, Scope.Scope)
    const id = flat(options.id ?? uuidv7())
    const span = yield* Effect.makeSpan("deputy.delegate", {
      // The call site's stack trace would be held (an `Error`) as long as the span: ~1 KiB per delegate.
      captureStackTrace: false,
      attributes: {
        "deputy.delegate_id": id,
        "deputy.mode": oneShot ? "one_shot" : "interactive",
        "deputy.source": JSON.stringify(options.source)
      }
    })
    const tasks = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const agentScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const agent: Agent.Agent = yield* spawner.spawn({
      source: options.source,
      initialHistory: options.initialHistory,
      cwd: options.cwd,
      config: options.config
    }).pipe(
      // The child's scope and the delegate's span in one change of context (each change is a save-and-restore).
      Effect.mapInputContext((outer: Context.Context<never>) =>
        Context.add(Context.add(outer, Scope.Scope, agentScope), Tracer.ParentSpan, span)
      ),
      Effect.onExit((exit) =>
        Exit.isSuccess(exit)
          ? Effect.void
          : Effect.zipRight(Scope.close(agentScope, exit), endSpan(span, exit, "spawn_failed"))
      )
    )
    const runtime = new DelegateRuntime(
      id,
      options,
      agent,
      approvals,
      span,
      flatTrace(span),
      tasks,
      agentScope,
      Duration.decode(options.drainTimeout ?? defaults.drainTimeout)
    )
    const turnId = oneShot === undefined ? undefined : uuidv7()
    if (turnId !== undefined) runtime.turn = new TurnTracker(turnId)
    // Not under the delegate's span (see `underSpan`): a reader holds no context of its own. A child with a
    // channel wakes the reader when it has events (an idle delegate holds no fiber); others get one parked.
    const onEvents = agent.onEvents
    if (onEvents !== undefined) {
      runtime.onDemand = yield* Effect.runtime<never>()
      yield* Scope.addFinalizer(tasks, runtime.stopReading)
      runtime.unlisten = onEvents(() => runtime.wake())
    } else {
      runtime.reader = yield* Effect.forkIn(Effect.interruptible(runtime.readLoop), tasks)
    }
    // Added last, so it runs first when the scope closes: the reader still runs during the drain. Added to
    // the scope itself, not with `Effect.addFinalizer` (which saves the fiber refs of now and diffs and
    // patches them around the finalizer: a fifth of closing many delegates at once). It runs with the closing
    // fiber's context (its logger, current span, clock) instead of the creating fiber's; the delegate holds
    // what it needs itself (the `Approvals` service, its span and trace).
    yield* Scope.addFinalizer(scope, runtime.closeWithScope)
    if (oneShot !== undefined && turnId !== undefined) {
      // Forked, so the caller holds the handle as soon as the child runs: a caller interrupted while the
      // child is still accepting its input (a busy machine) still finishes the delegate and shows what
      // the drain brings, instead of losing the handle and the child's last events with it.
      runtime.inputSubmission = yield* Effect.forkIn(Effect.interruptible(runtime.startTurn(oneShot, turnId)), tasks)
      if (oneShot.deadline !== undefined) {
        yield* Effect.forkIn(Effect.interruptible(runtime.deadline(oneShot.deadline)), tasks)
      }
    }
    return runtime
  })
