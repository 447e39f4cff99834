import type {
  AgentStatus,
  Event,
  Op,
  RequestPermissionsResponse,
  RequestUserInputResponse,
  ReviewDecision,
  Submission,
  TokenUsage,
  W3cTraceContext
} from "@deputy/protocol"
import { isEventMsg, noAnswers, noPermissionsGranted, turnError } from "@deputy/protocol"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Agent } from "../Agent.js"
import { AgentSpawner } from "../AgentSpawner.js"
import type { ApprovalKind, ApprovalOutcome, ApprovalRequest, ApprovalSettlement } from "../ApprovalRequest.js"
import { outcomeOfDecision } from "../ApprovalRequest.js"
import { Approvals, type ApprovalsService } from "../Approvals.js"
import * as DecidedBy from "../DecidedBy.js"
import type { DelegateEnded, DelegateHandle, DelegateOptions, EndReason, OneShotOptions } from "../Delegate.js"
import { AgentExited, DelegateClosed, type SpawnError } from "../Errors.js"
import * as TraceContext from "../TraceContext.js"
import { uuidv7 } from "./uuid.js"

const defaults = { drainTimeout: Duration.millis(500), eventCapacity: 512, opCapacity: 512 } as const

/** Extra events the consumer's queue may hold while the child is drained (see `waitForRoom`). */
const drainAllowance = 1024

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

/** What the parent's answer resolved to: the op for the child and the outcome to report. */
interface Resolution {
  readonly answer: Op
  readonly outcome: ApprovalOutcome
  readonly decidedBy: DecidedBy.DecidedBy
  readonly reason?: string | undefined
}

/** A routed request from arrival to settlement. */
interface RoutedRequest {
  readonly request: ApprovalRequest
  /** Asks the parent; `None` when the per-kind deadline passed. */
  readonly ask: (approvals: ApprovalsService) => Effect.Effect<Resolution>
  readonly timedOut: Resolution
  readonly aborted: Resolution
}

/** A caller submission waiting for the op forwarder, with the caller waiting for its delivery. */
interface QueuedSubmission {
  readonly submission: Submission
  readonly delivered: Deferred.Deferred<void, DelegateClosed>
}

type ShutdownCause = Extract<EndReason, "completed" | "aborted" | "errored" | "timed_out" | "interrupted">

/** Placeholder on the default resolutions; every path that settles with one replaces it. */
const unknownDecider: DecidedBy.DecidedBy = { _tag: "Cancelled", reason: "the delegate stopped" }

const zeroUsage: TokenUsage = { input_tokens: 0, output_tokens: 0, total_tokens: 0 }

const approvalTimeoutFor = (options: DelegateOptions, kind: ApprovalKind): Duration.DurationInput | undefined =>
  options.approvalTimeouts?.[kind] ?? options.approvalTimeout

/**
 * Builds a delegate. `oneShot` present = one-shot mode. Everything it forks lives in the caller's scope;
 * its shutdown is that scope's first finalizer, so the reader still runs while the child is drained.
 */
export const make = (
  options: DelegateOptions,
  oneShot: OneShotOptions | undefined
): Effect.Effect<DelegateHandle, SpawnError, Scope.Scope | AgentSpawner | Approvals> =>
  Effect.gen(function*() {
    const spawner = yield* AgentSpawner
    const approvals = yield* Approvals
    const scope = yield* Effect.scope
    const id = options.id ?? uuidv7()
    const drainTimeout = Duration.decode(options.drainTimeout ?? defaults.drainTimeout)
    const capacity = Math.max(1, options.eventCapacity ?? defaults.eventCapacity)

    const span = yield* Effect.makeSpan("deputy.delegate", {
      attributes: {
        "deputy.delegate_id": id,
        "deputy.mode": oneShot ? "one_shot" : "interactive",
        "deputy.source": JSON.stringify(options.source)
      }
    })
    const endSpan = (exit: Exit.Exit<unknown, unknown>, reason?: string) =>
      Effect.flatMap(Clock.currentTimeNanos, (now) =>
        Effect.sync(() => {
          if (reason) span.attribute("deputy.end_reason", reason)
          span.end(now, exit)
        }))
    const delegateTrace: W3cTraceContext = TraceContext.fromSpan(span)

    // The child lives in its own scope, closed as soon as the delegate ends (not when the caller's scope does).
    const agentScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const agent: Agent = yield* spawner.spawn({
      source: options.source,
      initialHistory: options.initialHistory,
      cwd: options.cwd,
      config: options.config
    }).pipe(
      Scope.extend(agentScope),
      Effect.withParentSpan(span),
      Effect.onExit((exit) =>
        Exit.isSuccess(exit)
          ? Effect.void
          : Effect.zipRight(Scope.close(agentScope, exit), endSpan(exit, "spawn_failed"))
      )
    )

    const background = yield* FiberSet.make<unknown, unknown>()
    const requestFibers = yield* FiberSet.make<void, never>()

    // --- state (single JS thread: plain variables, updated synchronously) ---
    const events = yield* Mailbox.make<Event>()
    const spaceAvailable = yield* Effect.makeLatch(true)
    const ops = yield* Mailbox.make<QueuedSubmission>(Math.max(1, options.opCapacity ?? defaults.opCapacity))
    const ended = yield* Deferred.make<DelegateEnded>()
    const drained = yield* Deferred.make<void>()
    const pending = new Map<string, RoutedRequest>()
    /** The event and op forwarders, interrupted by `finish` (never from inside themselves: it is forked). */
    const forwarders: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
    let usage: TokenUsage = zeroUsage
    let draining = false
    let finished = false
    let shutdownCause: ShutdownCause | undefined
    let submitClosed: string | undefined = undefined
    let callerAskedShutdown = false
    let agentEnd: Exit.Exit<void, AgentExited> | undefined
    let acknowledged = false
    // one-shot turn tracking
    let turnSubmissionId: string | undefined
    let turnIds = new Set<string>()
    let turnStarted = false
    let terminal:
      | { readonly reason: ShutdownCause; readonly lastAgentMessage?: string | null; message?: string }
      | undefined

    const submitOwn = (op: Op) => Effect.ignore(agent.submitWithId({ id: uuidv7(), op, trace: delegateTrace }))

    // --- consumer side: backpressure without ever blocking inside the mailbox ---
    // The mailbox is unbounded; the reader offers a whole chunk (one call, no effect per event), then waits
    // while the mailbox holds `limit` or more. While draining, the limit rises by `drainAllowance`, so a
    // consumer that stopped reading cannot hold up the child's acknowledgement, yet nothing is dropped and
    // memory stays bounded: past that, the drain simply waits (until its timeout) like any backpressure.
    const limit = () => draining ? capacity + drainAllowance : capacity
    const offerForwarded = (batch: Array<Event>): Effect.Effect<void> => {
      if (batch.length === 0) return Effect.void
      events.unsafeOfferAll(batch)
      return waitForRoom
    }
    const mailboxSize = () => Option.getOrElse(events.unsafeSize(), () => 0)
    const waitForRoom: Effect.Effect<void> = Effect.suspend(() => {
      if (mailboxSize() < limit()) return Effect.void
      spaceAvailable.unsafeClose()
      if (mailboxSize() < limit()) return Effect.void
      return Effect.zipRight(spaceAvailable.await, waitForRoom)
    })
    const roomMade = () => spaceAvailable.unsafeOpen()

    // --- routed requests: each in its own fiber; settles exactly once (whoever deletes it from `pending`) ---
    const settle = (routed: RoutedRequest, resolution: Resolution, waitedMs: number, deliver: boolean) =>
      Effect.gen(function*() {
        if (deliver) yield* submitOwn(resolution.answer)
        const settlement: ApprovalSettlement = {
          request: routed.request,
          outcome: resolution.outcome,
          decidedBy: resolution.decidedBy,
          reason: resolution.reason,
          waitedMs,
          answer: resolution.answer
        }
        if (options.onSettled) yield* Effect.catchAllCause(options.onSettled(settlement), Effect.logWarning)
      })

    const handleRequest = (routed: RoutedRequest) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const timeout = approvalTimeoutFor(options, routed.request.kind)
        const asked = routed.ask(approvals)
        const exit = yield* Effect.exit(
          timeout === undefined ? Effect.asSome(asked) : Effect.timeoutOption(asked, timeout)
        )
        const resolution: Resolution = Exit.match(exit, {
          onSuccess: (answer) =>
            Option.getOrElse(answer, () => ({
              ...routed.timedOut,
              decidedBy: {
                _tag: "Deadline" as const,
                afterMs: timeout === undefined ? 0 : Duration.toMillis(Duration.decode(timeout))
              }
            })),
          onFailure: (cause) => {
            const error = Cause.pretty(cause).split("\n")[0] ?? "unknown failure"
            return {
              ...routed.aborted,
              decidedBy: { _tag: "ServiceFailed" as const, error },
              reason: `the approval service failed: ${error}`
            }
          }
        })
        if (Exit.isFailure(exit)) yield* Effect.logWarning("approval service failed; answering abort", exit.cause)
        const waited = (yield* Clock.currentTimeMillis) - started
        yield* Effect.annotateCurrentSpan({ "deputy.outcome": resolution.outcome, "deputy.wait_ms": waited })
        yield* Effect.uninterruptible(
          Effect.suspend(() =>
            pending.delete(routed.request.id) ? settle(routed, resolution, waited, true) : Effect.void
          )
        )
      }).pipe(
        Effect.onInterrupt(() => Effect.annotateCurrentSpan("deputy.outcome", "aborted")),
        Effect.withSpan("deputy.approval", {
          parent: span,
          attributes: {
            "deputy.kind": routed.request.kind,
            "deputy.request_id": routed.request.id,
            "deputy.call_id": routed.request.callId
          }
        })
      )

    /** Claims every pending request, interrupts the parent's waits, and answers each with its default. */
    const abortPending = (reason: string, deliver: boolean) =>
      Effect.gen(function*() {
        const claimed = [...pending.values()]
        pending.clear()
        yield* FiberSet.clear(requestFibers)
        for (const routed of claimed) {
          yield* settle(routed, { ...routed.aborted, decidedBy: { _tag: "Cancelled", reason }, reason }, 0, deliver)
        }
      })

    const requestKey = (kind: ApprovalKind, callId: string) => {
      const base = `${id}/${kind}/${callId}`
      let key = base
      for (let n = 2; pending.has(key); n++) key = `${base}#${n}`
      return key
    }

    /** A command or patch request: the parent's decision goes back as-is (`abort` by default). */
    const decisionRequest = <R extends ApprovalRequest>(
      request: R,
      ask: (service: ApprovalsService, request: R) => Effect.Effect<DecidedBy.Answer<ReviewDecision>>,
      answer: (decision: ReviewDecision) => Op
    ): RoutedRequest => ({
      request,
      ask: (service) =>
        Effect.map(ask(service, request), (given) => {
          const { decidedBy, value: decision } = DecidedBy.split(given, "Approvals")
          return { answer: answer(decision), outcome: outcomeOfDecision(decision), decidedBy }
        }),
      timedOut: { answer: answer("timed_out"), outcome: "timed_out", decidedBy: unknownDecider },
      aborted: { answer: answer("abort"), outcome: "aborted", decidedBy: unknownDecider }
    })

    /** A permissions or user-input request: no answer from the parent means the empty response. */
    const optionalRequest = <R extends ApprovalRequest, A>(
      request: R,
      ask: (service: ApprovalsService, request: R) => Effect.Effect<DecidedBy.Answer<Option.Option<A>>>,
      answer: (response: A) => Op,
      empty: A,
      outcomeOf: (response: A) => ApprovalOutcome
    ): RoutedRequest => ({
      request,
      ask: (service) =>
        Effect.map(ask(service, request), (given) => {
          const { decidedBy, value: response } = DecidedBy.split(given, "Approvals")
          return Option.isSome(response)
            ? { answer: answer(response.value), outcome: outcomeOf(response.value), decidedBy }
            : { answer: answer(empty), outcome: "denied", decidedBy }
        }),
      timedOut: { answer: answer(empty), outcome: "timed_out", decidedBy: unknownDecider },
      aborted: { answer: answer(empty), outcome: "aborted", decidedBy: unknownDecider }
    })

    /** Turns a request event into a routed request (SPEC §2.1 answer ids), or undefined for any other event. */
    const toRouted = (event: Event): RoutedRequest | undefined => {
      const msg = event.msg
      const provenance = (kind: ApprovalKind, callId: string) => ({
        kind,
        id: requestKey(kind, callId),
        delegateId: id,
        turnId: event.id,
        callId,
        source: options.source
      })
      if (isEventMsg(msg, "exec_approval_request")) {
        return decisionRequest(
          { ...provenance("command", msg.call_id), kind: "command", event: msg },
          (service, request) => service.command(request),
          (decision) => ({ type: "exec_approval", id: msg.approval_id ?? msg.call_id, turn_id: event.id, decision })
        )
      }
      if (isEventMsg(msg, "apply_patch_approval_request")) {
        return decisionRequest(
          { ...provenance("patch", msg.call_id), kind: "patch", event: msg },
          (service, request) => service.patch(request),
          (decision) => ({ type: "patch_approval", id: msg.call_id, decision })
        )
      }
      if (isEventMsg(msg, "request_permissions")) {
        return optionalRequest(
          { ...provenance("permissions", msg.call_id), kind: "permissions", event: msg },
          (service, request) => service.permissions(request),
          (response: RequestPermissionsResponse) => ({
            type: "request_permissions_response",
            id: msg.call_id,
            response
          }),
          noPermissionsGranted,
          (response) => response.scope === "session" ? "approved_for_session" : "approved"
        )
      }
      if (isEventMsg(msg, "request_user_input")) {
        return optionalRequest(
          { ...provenance("user_input", msg.call_id), kind: "user_input", event: msg },
          (service, request) => service.userInput(request),
          (response: RequestUserInputResponse) => ({ type: "user_input_answer", id: event.id, response }),
          noAnswers,
          () => "approved"
        )
      }
      return undefined
    }

    // --- shutdown and end ---
    const finish = (result: DelegateEnded) =>
      Effect.gen(function*() {
        if (finished) return
        finished = true
        yield* Deferred.succeed(ended, result)
        submitClosed ??= `the delegate has ended (${result.reason})`
        yield* abortPending(`the delegate ended (${result.reason})`, false)
        yield* failQueuedSubmissions(`the delegate has ended (${result.reason})`)
        yield* events.end
        roomMade()
        yield* Fiber.interruptAll(forwarders)
        yield* Scope.close(agentScope, Exit.void)
        yield* endSpan(Exit.void, result.reason)
      })

    const failQueuedSubmissions = (reason: string) =>
      Effect.gen(function*() {
        yield* ops.end
        const queued = yield* ops.clear
        for (const item of queued) yield* Deferred.fail(item.delivered, new DelegateClosed({ reason }))
      })

    /** Marks the start of shutdown (synchronously, so the reader sees it at once); false if already started. */
    const beginShutdown = (cause: ShutdownCause): boolean => {
      if (shutdownCause !== undefined || finished) return false
      shutdownCause = cause
      draining = true
      submitClosed ??= "the delegate is shutting down"
      roomMade()
      return true
    }

    const runShutdown = (cause: ShutdownCause): Effect.Effect<DelegateEnded> =>
      Effect.gen(function*() {
        yield* failQueuedSubmissions("the delegate is shutting down")
        const childAlive = agentEnd === undefined
        yield* abortPending("the delegate is shutting down", childAlive)
        if (childAlive) {
          yield* submitOwn({ type: "interrupt" })
          yield* submitOwn({ type: "shutdown" })
        }
        // Finalizers are uninterruptible: the wait must be made interruptible for the timeout to fire.
        const drainedInTime = yield* Deferred.await(drained).pipe(
          Effect.interruptible,
          Effect.timeoutOption(drainTimeout)
        )
        const drainTimedOut = Option.isNone(drainedInTime)
        const crashed = crashOf(agentEnd)
        if (cause === "interrupted" && !acknowledged && Option.isSome(crashed)) {
          // The child died instead of acknowledging: say so rather than "interrupted".
          yield* finish({ ...agentExited(crashed), drainTimedOut: false })
        } else {
          yield* finish({
            reason: cause === "interrupted" && drainTimedOut ? "drain_timed_out" : cause,
            drainTimedOut,
            ...(terminal?.lastAgentMessage !== undefined ? { lastAgentMessage: terminal.lastAgentMessage } : {}),
            ...(terminal?.message !== undefined ? { message: terminal.message } : {}),
            ...(drainTimedOut
              ? { message: `the sub-agent did not acknowledge shutdown within ${Duration.format(drainTimeout)}` }
              : {})
          })
        }
        return yield* Deferred.await(ended)
      })

    const shutdown = (cause: ShutdownCause): Effect.Effect<DelegateEnded> =>
      Effect.suspend(() => beginShutdown(cause) ? runShutdown(cause) : Deferred.await(ended))

    const shutdownInBackground = (cause: ShutdownCause) =>
      beginShutdown(cause) ? FiberSet.run(background, runShutdown(cause)) : Effect.void

    // --- event forwarder: one pass over each chunk, one offer per chunk ---
    const crashOf = (exit: Exit.Exit<void, AgentExited> | undefined): Option.Option<AgentExited> =>
      exit !== undefined && Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()

    const agentExited = (crash: Option.Option<AgentExited>) => ({
      reason: "agent_exited" as const,
      ...(Option.isSome(crash)
        ? { code: crash.value.code, signal: crash.value.signal, message: crash.value.message }
        : { message: "the sub-agent's events ended" })
    })

    const isOneShotTerminal = (event: Event): ShutdownCause | undefined => {
      if (oneShot === undefined || turnSubmissionId === undefined || terminal !== undefined) return undefined
      const msg = event.msg
      const ours = event.id === turnSubmissionId ||
        ("turn_id" in msg && typeof msg.turn_id === "string" && turnIds.has(msg.turn_id))
      if (msg.type === "task_started" && ours) {
        turnStarted = true
        if (typeof msg.turn_id === "string") turnIds.add(msg.turn_id)
        return undefined
      }
      if (msg.type === "task_complete" && ours) {
        const failure = turnError(msg)
        if (failure !== undefined) {
          terminal = { reason: "errored", message: failure }
          return "errored"
        }
        terminal = { reason: "completed", lastAgentMessage: (msg.last_agent_message as string | null) ?? null }
        return "completed"
      }
      if (msg.type === "turn_aborted" && ours) {
        terminal = { reason: "aborted", message: `turn aborted: ${String(msg.reason)}` }
        return "aborted"
      }
      if (msg.type === "error" && !turnStarted) {
        terminal = { reason: "errored", message: String(msg.message) }
        return "errored"
      }
      return undefined
    }

    const onChunk = (chunk: Iterable<Event>): Effect.Effect<void> => {
      const forward: Array<Event> = []
      const routed: Array<RoutedRequest> = []
      let terminalCause: ShutdownCause | undefined
      for (const event of chunk) {
        const type = event.msg.type
        if (type === "token_count") {
          const info = (event.msg as { info?: { total_token_usage?: TokenUsage } | null }).info
          if (info?.total_token_usage) usage = info.total_token_usage
          continue
        }
        if (droppedTypes.has(type)) continue
        const request = toRouted(event)
        if (request !== undefined) {
          pending.set(request.request.id, request)
          routed.push(request)
          continue
        }
        if (type === "shutdown_complete") {
          acknowledged = true
          if (draining) Deferred.unsafeDone(drained, Exit.void)
        }
        if (terminal !== undefined) continue // one-shot: nothing after the terminal event
        const cause = isOneShotTerminal(event)
        forward.push(event)
        if (cause !== undefined) terminalCause = cause
      }
      const startRequests = routed.length === 0 ? Effect.void : Effect.forEach(routed, (request) =>
        draining
          ? Effect.suspend(() =>
            pending.delete(request.request.id)
              ? settle(
                request,
                {
                  ...request.aborted,
                  decidedBy: { _tag: "Cancelled", reason: "the delegate is shutting down" },
                  reason: "the delegate is shutting down"
                },
                0,
                true
              )
              : Effect.void
          )
          : FiberSet.run(requestFibers, handleRequest(request)), { discard: true })
      const afterTerminal = terminalCause === undefined ? Effect.void : shutdownInBackground(terminalCause)
      return Effect.zipRight(Effect.zipRight(offerForwarded(forward), startRequests), afterTerminal)
    }

    const readAll = Effect.gen(function*() {
      while (true) {
        const [batch, done] = yield* agent.nextBatch
        if (batch.length > 0) yield* onChunk(batch)
        if (done) return
      }
    })
    const reader = readAll.pipe(
      Effect.catchAllDefect((defect) =>
        Effect.fail(new AgentExited({ reason: `the sub-agent's event stream failed: ${String(defect)}` }))
      ),
      Effect.exit,
      Effect.flatMap((exit) =>
        Effect.suspend(() => {
          agentEnd = exit
          Deferred.unsafeDone(drained, Exit.void)
          if (shutdownCause !== undefined) return Effect.void
          if (callerAskedShutdown) return shutdownInBackground("interrupted")
          return FiberSet.run(background, finish({ ...agentExited(crashOf(exit)), drainTimedOut: false }))
        })
      )
    )

    // --- op forwarder: caller submissions in order, id and trace kept ---
    const opForwarder = Effect.gen(function*() {
      while (true) {
        const [batch, done] = yield* ops.takeAll
        for (const item of batch) {
          const exit = yield* Effect.exit(agent.submitWithId(item.submission))
          yield* Deferred.done(
            item.delivered,
            Exit.mapError(exit, (error) => new DelegateClosed({ reason: error.message }))
          )
        }
        if (done) return
      }
    })

    forwarders.push(
      yield* FiberSet.run(background, reader.pipe(Effect.withParentSpan(span))),
      yield* FiberSet.run(background, opForwarder.pipe(Effect.withParentSpan(span)))
    )
    // Added last, so it runs first when the scope closes: the forwarders still run during the drain.
    yield* Effect.addFinalizer(() => Effect.asVoid(shutdown("interrupted")))

    const enqueue = (submission: Submission): Effect.Effect<void, DelegateClosed> =>
      Effect.suspend(() => {
        if (submitClosed !== undefined) return Effect.fail(new DelegateClosed({ reason: submitClosed }))
        if (submission.op.type === "shutdown") callerAskedShutdown = true
        return Effect.flatMap(Deferred.make<void, DelegateClosed>(), (delivered) =>
          Effect.flatMap(ops.offer({ submission, delivered }), (accepted) =>
            accepted
              ? Deferred.await(delivered)
              : Effect.fail(new DelegateClosed({ reason: submitClosed ?? "the delegate has ended" }))))
      })

    const submitOp = (op: Op): Effect.Effect<string, DelegateClosed> =>
      Effect.flatMap(TraceContext.current, (trace) => {
        const submissionId = uuidv7()
        return Effect.as(
          enqueue(Option.isSome(trace) ? { id: submissionId, op, trace: trace.value } : { id: submissionId, op }),
          submissionId
        )
      })

    const handle: DelegateHandle = {
      id,
      submit: submitOp,
      submitWithId: enqueue,
      events: Mailbox.toStream(events).pipe(
        Stream.mapChunks((chunk) => {
          roomMade()
          return chunk
        }),
        Stream.ensuring(
          Effect.suspend(() => Deferred.isDone(ended)).pipe(
            Effect.flatMap((isEnded) => isEnded ? Effect.void : shutdownInBackground("interrupted"))
          )
        )
      ),
      nextEvent: events.take.pipe(
        Effect.tap(() => roomMade()),
        Effect.asSome,
        Effect.catchTag("NoSuchElementException", () => Effect.succeedNone)
      ),
      ended: Deferred.await(ended),
      shutdown: shutdown("interrupted"),
      status: agent.status as Effect.Effect<AgentStatus>,
      usage: Effect.sync(() => usage)
    }

    if (oneShot !== undefined) {
      const items = typeof oneShot.input === "string"
        ? [{ type: "text" as const, text: oneShot.input, text_elements: [] }]
        : oneShot.input
      turnSubmissionId = uuidv7()
      turnIds = new Set([turnSubmissionId])
      const trace = yield* TraceContext.current
      yield* enqueue({
        id: turnSubmissionId,
        op: {
          type: "user_input",
          items,
          ...(oneShot.finalOutputJsonSchema === undefined
            ? {}
            : { final_output_json_schema: oneShot.finalOutputJsonSchema })
        },
        ...(Option.isSome(trace) ? { trace: trace.value } : {})
      }).pipe(Effect.catchAll(() => Effect.void))
      submitClosed ??= "a one-shot delegate takes no submissions after its input"
      if (oneShot.deadline !== undefined) {
        const deadline = oneShot.deadline
        yield* FiberSet.run(
          background,
          Effect.zipRight(
            Effect.sleep(deadline),
            Effect.suspend(() => {
              if (terminal !== undefined || shutdownCause !== undefined) return Effect.void
              terminal = { reason: "timed_out", message: `the turn did not end within ${Duration.format(deadline)}` }
              return shutdown("timed_out")
            })
          )
        )
      }
    }
    return handle
  })
