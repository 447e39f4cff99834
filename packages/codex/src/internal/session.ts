/**
 * A running `codex app-server` process wired for Deputy: a writer fiber feeds stdin from a mailbox of
 * JSON-RPC lines, a reader fiber turns stdout into events (through the `Translator`, one batch per chunk),
 * a fiber keeps the stderr tail, another waits for the exit; a finalizer stops it all.
 */
import { ChildProcess } from "@deputy/agent-process"
import { AgentExited } from "@deputy/core"
import type { Event, W3cTraceContext } from "@deputy/protocol"
import { JsonLines } from "@deputy/protocol"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as JsonRpc from "./jsonRpc.js"
import * as ProcessTree from "./processTree.js"
import { Translator } from "./translate.js"

/** Settings of a session. */
export interface SessionSettings {
  readonly maxLineLength: number
  readonly stderrTailBytes: number
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

/** Events read but not yet taken by the consumer; beyond this, reading stdout waits (backpressure). */
const eventCapacity = 1024

/** The process as the agent uses it. */
export interface Session {
  readonly pid: number
  readonly translator: Translator
  readonly events: Mailbox.ReadonlyMailbox<Event, AgentExited>
  /** Sends a request and waits for its response. */
  readonly request: (
    method: string,
    params: unknown,
    trace?: W3cTraceContext | undefined
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
 * Wires a started `codex app-server` process. Everything is forked into the current scope; the scope's close
 * stops the process (stdin closed, SIGTERM, SIGKILL) and kills helpers it left behind.
 */
export const start = (
  process: CommandExecutor.Process,
  settings: SessionSettings
): Effect.Effect<Session, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pid = process.pid
    const tail = new ChildProcess.StderrTail(settings.stderrTailBytes)
    const exited = yield* Deferred.make<ChildProcess.ExitStatus>()
    const stderrDone = yield* Deferred.make<void>()
    const events = yield* Mailbox.make<Event, AgentExited>(eventCapacity)
    const outbox = yield* Mailbox.make<string>()
    const pending = new Map<number, Deferred.Deferred<unknown, RequestFailed>>()
    const pendingMethods = new Map<number, string>()
    let nextId = 0
    let closedReason: string | undefined
    let shutdownId: string | undefined
    let stopping = false
    let ended = false

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
      outbox.unsafeOffer(line)
    }
    const flush = Effect.suspend(() => {
      const replies = translator.takeReplies()
      if (replies.length > 0) outbox.unsafeOfferAll(replies)
      const batch = translator.takeEvents()
      return batch.length === 0 ? Effect.void : Effect.asVoid(events.offerAll(batch))
    })

    const request = (method: string, params: unknown, trace?: W3cTraceContext | undefined) =>
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

    const stderrTail = () => tail.text()
    const withTail = () => {
      const text = tail.text()
      return text === undefined ? {} : { stderrTail: text }
    }
    const stop = ProcessTree.stop(pid, Deferred.await(exited), settings.exitGrace, settings.killGrace)

    yield* ChildProcess.exitStatus(process).pipe(
      Effect.flatMap((status) => Deferred.succeed(exited, status)),
      ChildProcess.forkInterruptible
    )

    yield* process.stderr.pipe(
      Stream.runForEachChunk((chunk) => Effect.sync(() => Chunk.forEach(chunk, (bytes) => tail.push(bytes)))),
      Effect.ignore,
      Effect.ensuring(Deferred.complete(stderrDone, Effect.void)),
      ChildProcess.forkInterruptible
    )

    const encoder = new TextEncoder()
    const writer = yield* Mailbox.toStream(outbox).pipe(
      Stream.mapChunks((lines) => Chunk.of(encoder.encode(`${Chunk.join(lines, "\n")}\n`))),
      Stream.run(process.stdin),
      Effect.ignore,
      ChildProcess.forkInterruptible
    )

    const describe = (status: ChildProcess.ExitStatus): string =>
      status.signal !== null ?
        `codex app-server was killed by ${status.signal}` :
        status.code === 0
        ? "codex app-server exited (code 0) without being asked to"
        : `codex app-server exited with code ${status.code}`

    const reader = yield* Effect.gen(function*() {
      const read = yield* process.stdout.pipe(
        Stream.decodeText(),
        JsonLines.splitLines({ maxLineLength: settings.maxLineLength }),
        Stream.runForEachChunk((lines) => {
          Chunk.forEach(lines, (line) => translator.line(line))
          return flush
        }),
        Effect.either
      )
      // stdout is closed: the process is exiting (or closed it and must be stopped).
      const status = yield* Deferred.await(exited).pipe(Effect.timeoutOption(settings.exitGrace))
      if (status._tag === "None") yield* stop
      const final = yield* Deferred.await(exited)
      ended = true
      closedReason ??= describe(final)
      failPending(`codex app-server has exited (${describe(final)})`)
      yield* Deferred.await(stderrDone).pipe(Effect.timeoutOption(settings.killGrace))
      if (stopping) return
      if (shutdownId !== undefined) {
        translator.emit(shutdownId, { type: "shutdown_complete" })
        yield* flush
        return yield* events.end
      }
      yield* flush
      const reason = read._tag === "Left" ? `reading its stdout failed: ${read.left.message}` : describe(final)
      yield* events.fail(new AgentExited({ code: final.code, signal: final.signal, reason, ...withTail() }))
    }).pipe(ChildProcess.forkInterruptible)

    // Runs first when the scope closes: stdin closed, the consumer's stream ended (a reader blocked on a full
    // mailbox is released and goes on draining stdout), Codex given time to exit, then SIGTERM / SIGKILL, and
    // the helpers it started (sandboxes, PTYs: own sessions, not in its group) killed if they outlived it.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        stopping = true
        closedReason ??= "the agent was stopped: its scope closed"
        // Only while Codex runs: once it has exited its pid may belong to another process.
        const helpers = (yield* Deferred.isDone(exited)) ? [] : ProcessTree.descendants(pid)
        yield* outbox.end
        yield* events.fail(new AgentExited({ reason: "the agent's scope closed", ...withTail() }))
        yield* events.shutdown
        yield* stop
        ProcessTree.killAll(helpers)
        yield* ProcessTree.awaitGone(helpers, settings.killGrace)
        yield* Fiber.await(reader).pipe(Effect.interruptible, Effect.timeoutOption(settings.killGrace))
        yield* Fiber.await(writer).pipe(Effect.interruptible, Effect.timeoutOption(settings.killGrace))
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
      stop,
      exit: Deferred.await(exited),
      stderrTail
    }
  })
