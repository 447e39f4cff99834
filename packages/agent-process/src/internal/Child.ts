/**
 * A started child process wired as an `Agent`: a writer fiber feeds stdin from a queue of encoded
 * submissions, a reader fiber decodes stdout into a mailbox of events, a fiber keeps the stderr tail,
 * another waits for the exit and then reaps what is left of the process group; a finalizer stops it all.
 */
import { Agent, AgentClosed, AgentExited } from "@deputy/core"
import type { Event, Submission } from "@deputy/protocol"
import { JsonLines } from "@deputy/protocol"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type ExitStatus, exitStatus, forkInterruptible, StderrTail } from "../ChildProcess.js"
import { decodeChunk } from "./Decode.js"
import * as ProcessGroup from "./ProcessGroup.js"

/** Settings of a running child, resolved from the public options. */
export interface ChildSettings {
  readonly name: string
  readonly strict: boolean
  readonly maxLineLength: number
  readonly stderrTailBytes: number
  readonly killGracePeriod: Duration.Duration
}

/** Events read but not yet taken by the consumer; beyond this, reading stdout waits (backpressure). */
const eventCapacity = 1024

/** Encoded submissions not yet written to stdin; beyond this, `submit` waits. */
const submissionCapacity = 256

const describe = (status: ExitStatus, stopping: boolean): string =>
  status.signal !== null
    ? stopping
      ? `stopped by Deputy (${status.signal}) when the agent's scope closed`
      : `killed by ${status.signal}`
    : `exited with code ${status.code}`

/**
 * Wires a started process as agent parts. Everything is forked into the current scope; the scope's close
 * stops the child: stdin closed, SIGTERM to the group, SIGKILL after the grace period.
 */
export const run = (
  process: CommandExecutor.Process,
  settings: ChildSettings
): Effect.Effect<Agent.AgentParts, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pid = process.pid
    const tail = new StderrTail(settings.stderrTailBytes)
    const exited = yield* Deferred.make<ExitStatus>()
    const stderrDone = yield* Deferred.make<void>()
    const events = yield* Mailbox.make<Event, AgentExited>(eventCapacity)
    const inbox = yield* Mailbox.make<string>(submissionCapacity)
    let closedReason: string | undefined
    let stopping = false
    let reaped = false

    const closeSubmissions = (reason: string) =>
      Effect.suspend(() => {
        closedReason ??= reason
        return inbox.end
      })
    const stderrTail = () => {
      const text = tail.text()
      return text === undefined ? {} : { stderrTail: text }
    }

    // If the reader is interrupted before it ends the events (scope closed while it waited on a full
    // mailbox), readers still get what was read, then an end. Registered first, so it runs last.
    yield* Effect.addFinalizer(() =>
      events.fail(new AgentExited({ reason: "the agent's scope closed before its events were read", ...stderrTail() }))
    )

    // Exit: record it, then end what the child left behind in its group (its tools, their children),
    // which may otherwise hold stdout open and keep the events from ending.
    yield* exitStatus(process).pipe(
      Effect.tap((status) => Deferred.succeed(exited, status)),
      Effect.zipRight(ProcessGroup.terminate(pid, settings.killGracePeriod)),
      Effect.ensuring(Effect.sync(() => reaped = true)),
      forkInterruptible
    )

    yield* process.stderr.pipe(
      Stream.runForEachChunk((chunk) => Effect.sync(() => Chunk.forEach(chunk, (bytes) => tail.push(bytes)))),
      Effect.ignore,
      Effect.ensuring(Deferred.complete(stderrDone, Effect.void)),
      forkInterruptible
    )

    const encoder = new TextEncoder()
    const writer = yield* Mailbox.toStream(inbox).pipe(
      Stream.mapChunks((lines) => Chunk.of(encoder.encode(Chunk.join(lines, "")))),
      Stream.run(process.stdin),
      Effect.catchAll((error) => closeSubmissions(`writing to its stdin failed: ${error.message}`)),
      // Nobody takes from the queue any more: release submitters waiting for room.
      Effect.ensuring(inbox.shutdown),
      forkInterruptible
    )

    const reader = yield* Effect.gen(function*() {
      const read = yield* process.stdout.pipe(
        Stream.decodeText(),
        JsonLines.splitLines({ maxLineLength: settings.maxLineLength }),
        Stream.runForEachChunk((lines) => {
          const { events: decoded, fatal } = decodeChunk(lines, settings.strict)
          const offer = decoded.length === 0 ? Effect.void : events.offerAll(decoded)
          return fatal === undefined ? offer : Effect.zipRight(offer, Effect.fail(fatal))
        }),
        Effect.either
      )
      if (read._tag === "Left") {
        const reason = read.left._tag === "LineDecodeError" || read.left._tag === "LineTooLong"
          ? `strict mode: ${read.left.message}`
          : `reading its stdout failed: ${read.left.message}`
        yield* closeSubmissions(reason)
        yield* events.fail(new AgentExited({ reason, ...stderrTail() }))
        return yield* ProcessGroup.terminate(pid, settings.killGracePeriod)
      }
      const status = yield* Deferred.await(exited)
      const reason = describe(status, stopping)
      yield* closeSubmissions(reason)
      yield* Deferred.await(stderrDone).pipe(Effect.timeoutOption(settings.killGracePeriod))
      yield* status.code === 0
        ? events.end
        : events.fail(new AgentExited({ code: status.code, signal: status.signal, reason, ...stderrTail() }))
    }).pipe(forkInterruptible)

    // Runs first when the scope closes: close stdin, SIGTERM the group, SIGKILL after the grace period;
    // then let the reader report the exit and the writer see its pipe close (a write pending on a dead
    // child's stdin must fail while the writer still listens for the error).
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        stopping = true
        yield* closeSubmissions("the agent was stopped: its scope closed")
        if (!reaped) yield* ProcessGroup.terminate(pid, settings.killGracePeriod)
        // A reader waiting on a full mailbox has nobody listening: its report of the exit would go unread.
        const unread = Option.getOrElse(events.unsafeSize(), () => 0)
        if (unread < eventCapacity) {
          yield* Fiber.await(reader).pipe(Effect.interruptible, Effect.timeoutOption(settings.killGracePeriod))
        }
        yield* Fiber.await(writer).pipe(Effect.interruptible, Effect.timeoutOption(settings.killGracePeriod))
      })
    )

    const submitWithId = (submission: Submission): Effect.Effect<void, AgentClosed> =>
      JsonLines.encodeSubmission(submission).pipe(
        Effect.orDie,
        Effect.flatMap((line) => inbox.offer(`${line}\n`)),
        Effect.flatMap((accepted) =>
          accepted ? Effect.void : Effect.fail(new AgentClosed({ reason: closedReason ?? "the agent has ended" }))
        )
      )

    return { name: settings.name, submitWithId, events }
  })

/** Makes the agent from a started process (status tracking and submit with fresh ids come from core). */
export const agent = (
  process: CommandExecutor.Process,
  settings: ChildSettings
): Effect.Effect<Agent.Agent, never, Scope.Scope> => Effect.flatMap(run(process, settings), Agent.make)
