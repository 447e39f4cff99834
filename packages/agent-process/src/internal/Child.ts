/**
 * A supervised child process wired as an `Agent`: submissions are encoded onto its stdin, a reader fiber
 * decodes stdout into an `Agent.EventChannel` bounded in count and bytes (read on demand by the delegate); the supervisor (`ChildProcess.start`)
 * keeps the stderr record, watches the exit and stops the whole tree.
 */
import { Agent, Errors } from "@deputy/core"
import { JsonLines, type Submission } from "@deputy/protocol"
import * as Chunk from "effect/Chunk"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ExitStatus } from "../ChildProcess.js"
import * as ChildProcess from "../ChildProcess.js"
import { decodeChunk } from "./Decode.js"
import { Utf8Lines } from "./Utf8Lines.js"

/** Settings of a running child, resolved from the public options. */
export interface ChildSettings {
  readonly name: string
  readonly strict: boolean
  readonly maxLineLength: number
  readonly maxBufferedBytes: number
  readonly killGracePeriod: Duration.Duration
}

/** Encoded submissions not yet written to stdin; beyond this, `submit` waits. */
export const submissionCapacity = 256

const describe = (status: ExitStatus, stopping: boolean): string =>
  status.signal !== null
    ? stopping
      ? `stopped by Deputy (${status.signal}) when the agent's scope closed`
      : `killed by ${status.signal}`
    : `exited with code ${status.code}`

/** The failure's own words from stderr (`Error: Cannot find module …`), added to the reason. */
const explained = (reason: string, stderrTail: string | undefined): string => {
  const lines = ChildProcess.explainStderr(stderrTail, 2)
  return lines.length === 0 ? reason : `${reason}: ${lines.join(" / ")}`
}

/**
 * Wires a supervised child as agent parts. Everything is forked into the current scope; the scope's close
 * stops the child and its whole tree (`Child.stop`).
 */
export const run = (
  child: ChildProcess.Child,
  settings: ChildSettings
): Effect.Effect<Agent.AgentParts, never, Scope.Scope> =>
  Effect.gen(function*() {
    // Read on demand by the delegate (no fiber parked on an idle child); bounded in count and bytes: the
    // reader below waits on `offerAll` while it is full, so stdout is not read and a flooding child blocks.
    const events = Agent.makeChannel(ChildProcess.eventBufferDefaults.maxEvents, {
      maxBytes: settings.maxBufferedBytes
    })
    let closedReason: string | undefined
    const stderrTail = () => {
      const text = child.stderrTail()
      return text === undefined ? {} : { stderrTail: text }
    }

    // If the reader is interrupted before it ends the events (scope closed while it waited on a full
    // buffer), readers still get what was read, then an end. Registered first, so it runs last.
    yield* Effect.addFinalizer(() =>
      events.fail(
        new Errors.AgentExited({ reason: "the agent's scope closed before its events were read", ...stderrTail() })
      )
    )

    // A line longer than the buffer's bytes is skipped by the splitter, never held whole.
    const maxLineLength = Math.min(settings.maxLineLength, settings.maxBufferedBytes)
    // Invalid UTF-8 is found on the bytes: decoded, it would read as U+FFFD, as if the child had written that.
    const utf8 = new Utf8Lines()
    const reader = yield* Effect.gen(function*() {
      const read = yield* child.stdout.pipe(
        Stream.mapChunks((chunk) => {
          Chunk.forEach(chunk, (bytes) => utf8.push(bytes))
          return chunk
        }),
        Stream.concat(Stream.execute(Effect.sync(() => utf8.end()))),
        Stream.decodeText(),
        JsonLines.splitLines({ maxLineLength }),
        Stream.runForEachChunk((lines) => {
          const { events: decoded, fatal } = decodeChunk(lines, settings.strict, utf8)
          // Each event's size was recorded as it was decoded (`Agent.recordBytes`): the channel bounds by it.
          const offer = decoded.length === 0 ? Effect.void : events.offerAll(decoded)
          return fatal === undefined ? offer : Effect.zipRight(offer, Effect.fail(fatal))
        }),
        Effect.either
      )
      if (read._tag === "Left") {
        const reason = read.left._tag === "LineDecodeError" || read.left._tag === "LineTooLong"
          ? `strict mode: ${read.left.message}`
          : `reading its stdout failed: ${read.left.message}`
        closedReason ??= reason
        yield* events.fail(new Errors.AgentExited({ reason, ...stderrTail() }))
        return yield* child.stop
      }
      // The end of stdout is the child's end: if it has not exited within the grace period, it is stopped.
      const status = yield* child.stdoutEnded(settings.killGracePeriod)
      const reason = describe(status, child.stopping())
      closedReason ??= reason
      yield* child.stderrEnded(settings.killGracePeriod)
      yield* status.code === 0
        ? events.end
        : events.fail(
          new Errors.AgentExited({
            code: status.code,
            signal: status.signal,
            reason: child.stopping() ? reason : explained(reason, child.stderrTail()),
            ...stderrTail()
          })
        )
    }).pipe(ChildProcess.forkInterruptible)

    // Runs first when the scope closes: the supervisor's escalation (stdin closed, SIGTERM, SIGKILL, the tree
    // gone), then the reader reports the exit, unless nobody takes its events any more.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closedReason ??= "the agent was stopped: its scope closed"
        yield* child.stop
        // A reader waiting for room in a full buffer has nobody listening: its report would go unread.
        if (events.isFull) return
        yield* Fiber.await(reader).pipe(Effect.interruptible, Effect.timeoutOption(settings.killGracePeriod))
      })
    )

    const submitWithId = (submission: Submission.Submission): Effect.Effect<void, Errors.AgentClosed> =>
      JsonLines.encodeSubmission(submission).pipe(
        Effect.orDie,
        Effect.flatMap((line) => child.input.offer(`${line}\n`)),
        Effect.flatMap((accepted) =>
          accepted ? Effect.void : Effect.fail(
            new Errors.AgentClosed({ reason: closedReason ?? child.inputFailure() ?? "the agent has ended" })
          )
        )
      )

    return { name: settings.name, submitWithId, events, pids: child.members }
  })

/** Makes the agent from a supervised child (status tracking and submit with fresh ids come from core). */
export const agent = (
  child: ChildProcess.Child,
  settings: ChildSettings
): Effect.Effect<Agent.Agent, never, Scope.Scope> => Effect.flatMap(run(child, settings), Agent.make)
