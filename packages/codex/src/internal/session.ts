/**
 * A running `codex app-server` process wired for Deputy, on the shared supervisor (`ChildProcess.start`:
 * containment, stdin, stderr, exit, the stop escalation): a reader fiber turns stdout into events (through
 * the `Translator`, one batch per chunk) into an `Agent.EventChannel` bounded in count and bytes.
 */
import { ChildProcess } from "@deputy/agent-process"
import { Agent, Errors } from "@deputy/core"
import { JsonLines, type W3cTraceContext } from "@deputy/protocol"
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as JsonRpc from "./jsonRpc.js"
import { Translator } from "./translate.js"

/** Settings of a session. */
export interface SessionSettings {
  readonly maxLineLength: number
  readonly maxBufferedBytes: number
  /** After stdin is closed, how long Codex may take to exit before it gets SIGTERM. */
  readonly exitGrace: Duration.Duration
  /** After SIGTERM, how long before SIGKILL. */
  readonly killGrace: Duration.Duration
}

/** A request of the client failed: an error response, or the app-server is gone. */
export class RequestFailed extends Data.TaggedError("RequestFailed")<{
  readonly method: string
  readonly code?: number | undefined
  readonly message: string
}> {}

/** The process as the agent uses it. */
export interface Session {
  readonly pid: number
  readonly translator: Translator
  readonly events: Agent.EventChannel
  /** Sends a request and waits for its response. */
  readonly request: (
    method: string,
    params: unknown,
    trace?: W3cTraceContext.W3cTraceContext | undefined
  ) => Effect.Effect<unknown, RequestFailed>
  /** Writes a line (a notification or a reply). */
  readonly send: (line: string) => void
  /** Moves the translator's pending events and replies out (after work outside the reader). */
  readonly flush: Effect.Effect<void>
  /** Why submissions are refused, once they are. */
  readonly closedReason: () => string | undefined
  /** Refuses further submissions. */
  readonly close: (reason: string) => void
  /** Closes stdin (Codex exits) and reports `shutdown_complete` under `submissionId` once it has. */
  readonly shutdown: (submissionId: string) => Effect.Effect<void>
  /** Waits for the exit, escalating to SIGTERM / SIGKILL after the grace periods. */
  readonly stop: Effect.Effect<void>
  readonly exit: Effect.Effect<ChildProcess.ExitStatus>
  readonly stderrTail: () => string | undefined
}

/**
 * Wires a supervised `codex app-server` process. Everything is forked into the current scope; the scope's
 * close stops the process and everything it started (stdin closed, SIGTERM, SIGKILL: `ChildProcess.Child.stop`).
 */
export const start = (
  child: ChildProcess.Child,
  settings: SessionSettings
): Effect.Effect<Session, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pid = child.pid
    // Read on demand by the delegate; bounded in count and bytes: the reader waits on `offerAll` while it is
    // full, so stdout is not read and Codex blocks on its own writes.
    const events = Agent.makeChannel(ChildProcess.eventBufferDefaults.maxEvents, {
      maxBytes: settings.maxBufferedBytes
    })
    const outbox = child.input
    const pending = new Map<number, Deferred.Deferred<unknown, RequestFailed>>()
    const pendingMethods = new Map<number, string>()
    let nextId = 0
    let closedReason: string | undefined
    let shutdownId: string | undefined
    let stopping = false
    let ended = false
    /** Bytes read from stdout since the last flush: the size of the events the flush moves. */
    let unflushedBytes = 0

    const translator = new Translator((id, outcome) => {
      if (typeof id !== "number") return
      const deferred = pending.get(id)
      if (deferred === undefined) return
      const method = pendingMethods.get(id) ?? "request"
      pending.delete(id)
      pendingMethods.delete(id)
      Deferred.unsafeDone(
        deferred,
        outcome._tag === "Success"
          ? Exit.succeed(outcome.result)
          : Exit.fail(new RequestFailed({ method, code: outcome.error.code, message: outcome.error.message }))
      )
    })

    const send = (line: string) => {
      outbox.unsafeOffer(`${line}\n`)
    }
    const flush = Effect.suspend(() => {
      const replies = translator.takeReplies()
      if (replies.length > 0) outbox.unsafeOfferAll(replies.map((line) => `${line}\n`))
      const batch = translator.takeEvents()
      if (batch.length === 0) return Effect.void
      // The batch's bytes, spread over its events (a line may make several events, or none).
      const each = Math.max(1, Math.ceil(unflushedBytes / batch.length))
      unflushedBytes = 0
      for (const event of batch) Agent.recordBytes(event, each)
      return events.offerAll(batch)
    })

    const request = (method: string, params: unknown, trace?: W3cTraceContext.W3cTraceContext | undefined) =>
      Effect.suspend(() => {
        if (ended) {
          return Effect.fail(new RequestFailed({ method, message: "codex app-server has exited" }))
        }
        const id = nextId++
        const deferred = Deferred.unsafeMake<unknown, RequestFailed>(FiberId.none)
        pending.set(id, deferred)
        pendingMethods.set(id, method)
        send(JsonRpc.request(id, method, params, trace))
        return Deferred.await(deferred).pipe(
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              pending.delete(id)
              pendingMethods.delete(id)
            })
          )
        )
      })

    const failPending = (message: string) => {
      for (const [id, deferred] of pending) {
        Deferred.unsafeDone(
          deferred,
          Exit.fail(new RequestFailed({ method: pendingMethods.get(id) ?? "request", message }))
        )
      }
      pending.clear()
      pendingMethods.clear()
    }

    const withTail = () => {
      const text = child.stderrTail()
      return text === undefined ? {} : { stderrTail: text }
    }

    const describe = (status: ChildProcess.ExitStatus): string =>
      status.code === null && status.signal === null
        ? "codex app-server ended (its exit status is its own parent's to know)"
        : status.signal !== null ?
        `codex app-server was killed by ${status.signal}` :
        status.code === 0
        ? "codex app-server exited (code 0) without being asked to"
        : `codex app-server exited with code ${status.code}`

    const maxLineLength = Math.min(settings.maxLineLength, settings.maxBufferedBytes)
    const reader = yield* Effect.gen(function*() {
      const read = yield* child.stdout.pipe(
        Stream.decodeText(),
        JsonLines.splitLines({ maxLineLength }),
        Stream.runForEachChunk((lines) => {
          Chunk.forEach(lines, (line) => {
            if (line._tag === "Right") unflushedBytes += line.right.text.length + 1
            translator.line(line)
          })
          return flush
        }),
        Effect.either
      )
      // stdout is closed: the process is exiting (or closed it, and is stopped after the grace period).
      const final = yield* child.stdoutEnded(settings.exitGrace)
      ended = true
      closedReason ??= describe(final)
      failPending(`codex app-server has exited (${describe(final)})`)
      yield* child.stderrEnded(settings.killGrace)
      if (stopping) return
      if (shutdownId !== undefined) {
        translator.emit(shutdownId, { type: "shutdown_complete" })
        yield* flush
        return yield* events.end
      }
      yield* flush
      const explained = ChildProcess.explainStderr(child.stderrTail(), 2)
      const reason = read._tag === "Left"
        ? `reading its stdout failed: ${read.left.message}`
        : explained.length === 0
        ? describe(final)
        : `${describe(final)}: ${explained.join(" / ")}`
      yield* events.fail(new Errors.AgentExited({ code: final.code, signal: final.signal, reason, ...withTail() }))
    }).pipe(ChildProcess.forkInterruptible)

    // Runs first when the scope closes: the consumer's stream ended (a reader blocked on a full buffer is
    // released and goes on draining stdout), then the supervisor's escalation: stdin closed, Codex given
    // time to exit, SIGTERM / SIGKILL to every process of its tree (sandboxes, PTYs), until all are gone.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        stopping = true
        closedReason ??= "the agent was stopped: its scope closed"
        // Ending the channel releases a reader waiting for room (its later offers are dropped).
        yield* events.fail(new Errors.AgentExited({ reason: "the agent's scope closed", ...withTail() }))
        yield* child.stop
        yield* Fiber.await(reader).pipe(Effect.interruptible, Effect.timeoutOption(settings.killGrace))
      })
    )

    return {
      pid,
      translator,
      events,
      request,
      send,
      flush,
      closedReason: () => closedReason,
      close: (reason) => {
        closedReason ??= reason
      },
      shutdown: (submissionId) =>
        Effect.suspend(() => {
          shutdownId = submissionId
          closedReason ??= "the agent was shut down"
          return outbox.end
        }),
      stop: child.stop,
      exit: child.exit,
      stderrTail: child.stderrTail
    }
  })
