/**
 * The child as the delegate sees it: a queue pair with a status.
 *
 * @since 0.1.0
 */
import type { AgentStatus, Event, EventMsg, Op, Submission } from "@deputy/protocol"
import { turnError } from "@deputy/protocol"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { AgentClosed, AgentExited } from "./Errors.js"
import { uuidv7 } from "./internal/uuid.js"
import * as TraceContext from "./TraceContext.js"

/**
 * A running child. `events` has a single consumer (the delegate): it ends when the child's events end,
 * successfully for a clean end and with `AgentExited` for a crash or an unexpected exit.
 *
 * @since 0.1.0
 * @category models
 */
export interface Agent {
  /** A short name for messages and spans, e.g. `codex` or the command of a process. */
  readonly name: string
  /** Submits an op under a fresh UUID v7 id, with the current span's trace context; returns the id. */
  readonly submit: (op: Op) => Effect.Effect<string, AgentClosed>
  /** Submits as given: the id and trace are kept. */
  readonly submitWithId: (submission: Submission) => Effect.Effect<void, AgentClosed>
  /** The child's events, in order; read once (through this stream or `nextBatch`, not both). */
  readonly events: Stream.Stream<Event, AgentExited>
  /**
   * The events available now (waiting for at least one), and whether they are the last: the delegate's
   * reader loops on this, with no stream machinery per delegate.
   */
  readonly nextBatch: Effect.Effect<readonly [events: ReadonlyArray<Event>, done: boolean], AgentExited>
  /** The latest status, derived from every event read from `events` (filtered ones included). */
  readonly status: Effect.Effect<AgentStatus>
  /**
   * The pids of the child's processes running now (a process agent's whole tree; absent for children
   * without processes). A supervisor reads it for its receipts.
   *
   * @since 0.2.0
   */
  readonly pids?: (() => ReadonlyArray<number>) | undefined
  /**
   * Interrupts a thread the child spawned itself and reported (`Supervisor.ThreadEvent`); succeeds with
   * whether the child took the interrupt. Absent when the child cannot do it.
   *
   * @since 0.2.0
   */
  readonly interruptThread?: ((threadId: string) => Effect.Effect<boolean>) | undefined
}

/**
 * The status after an event (SPEC §1): `task_started → running`, `task_complete → completed(last message)`
 * (or `errored` when it carries an `error`, as failed turns do since Codex 0.169),
 * `turn_aborted(interrupted | budget_limited) → interrupted`, other aborts → `errored`,
 * `error → errored(message)`, `shutdown_complete → shutdown`; anything else leaves it unchanged.
 *
 * @since 0.1.0
 * @category status
 */
export const nextStatus = (status: AgentStatus, msg: EventMsg): AgentStatus => {
  switch (msg.type) {
    case "task_started":
      return "running"
    case "task_complete": {
      const failure = turnError(msg)
      if (failure !== undefined) return { errored: failure }
      return { completed: typeof msg.last_agent_message === "string" ? msg.last_agent_message : null }
    }
    case "turn_aborted":
      return msg.reason === "interrupted" || msg.reason === "budget_limited"
        ? "interrupted"
        : { errored: `turn aborted: ${String(msg.reason)}` }
    case "error":
      return { errored: String(msg.message) }
    case "shutdown_complete":
      return "shutdown"
    default:
      return status
  }
}

/** The status after a batch of events: a loop of its own, so it stays optimized whatever calls it. */
const statusAfter = (status: AgentStatus, events: ReadonlyArray<Event>): AgentStatus => {
  for (let i = 0; i < events.length; i++) status = nextStatus(status, events[i]!.msg)
  return status
}

/**
 * The raw parts a spawner provides; `make` adds ids, trace context and status tracking.
 *
 * @since 0.1.0
 * @category constructors
 */
export interface AgentParts {
  readonly name: string
  readonly submitWithId: (submission: Submission) => Effect.Effect<void, AgentClosed>
  /** The child's events: end it when the child ends cleanly, fail it with `AgentExited` otherwise. */
  readonly events: Mailbox.ReadonlyMailbox<Event, AgentExited>
  /** The pids of the child's processes running now (see `Agent.pids`). @since 0.2.0 */
  readonly pids?: (() => ReadonlyArray<number>) | undefined
}

/**
 * Builds an `Agent` from a spawner's parts. Status is updated in a plain loop over each batch of events
 * (no effect per event), so tracking costs nothing measurable on the forwarding path.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (parts: AgentParts): Effect.Effect<Agent> =>
  Effect.sync(() => {
    const submitWithId = parts.submitWithId
    let status: AgentStatus = "pending_init"
    return {
      name: parts.name,
      submitWithId,
      submit: (op) =>
        Effect.flatMap(TraceContext.current, (trace) => {
          const id = uuidv7()
          return Effect.as(
            submitWithId(Option.isSome(trace) ? { id, op, trace: trace.value } : { id, op }),
            id
          )
        }),
      events: Mailbox.toStream(parts.events).pipe(
        Stream.mapChunks((chunk) => {
          status = statusAfter(status, Chunk.toReadonlyArray(chunk))
          return chunk
        })
      ),
      nextBatch: Effect.map(parts.events.takeAll, ([chunk, done]) => {
        const batch = Chunk.toReadonlyArray(chunk)
        status = statusAfter(status, batch)
        return [batch, done] as const
      }),
      status: Effect.sync(() => status),
      ...(parts.pids === undefined ? {} : { pids: parts.pids })
    }
  })

/** Sizes recorded by the spawners, keyed by the event object itself (no copy, no string kept). */
const recordedBytes = new WeakMap<Event, number>()

/**
 * Records how many bytes an event took on the wire (e.g. the length of the JSON line it was decoded
 * from). Spawners call it as they decode; the delegate's event buffer is bounded with these sizes.
 *
 * @since 0.2.0
 * @category sizes
 */
export const recordBytes = (event: Event, bytes: number): void => {
  recordedBytes.set(event, bytes)
}

/**
 * The size of an event in bytes: the recorded one (`recordBytes`) or, when none was recorded (events
 * built in memory), an estimate from its top-level fields: strings by length, any other value 16 bytes
 * (nested values are never walked, and never `JSON.stringify`: this runs on the forwarding path for
 * every event).
 *
 * @since 0.2.0
 * @category sizes
 */
export const bytesOf = (event: Event): number => recordedBytes.get(event) ?? estimateBytes(event)

const estimateBytes = (event: Event): number => {
  let bytes = 32 + event.id.length
  const msg = event.msg as Record<string, unknown>
  for (const key in msg) {
    const value = msg[key]
    bytes += key.length + (typeof value === "string" ? value.length : 16)
  }
  return bytes
}
