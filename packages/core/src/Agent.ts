/**
 * The child as the delegate sees it: a queue pair with a status.
 *
 * @since 0.1.0
 */
import { type AgentStatus, type Event, EventMsg, type Op, type Submission } from "@deputy/protocol"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
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
  readonly submit: (op: Op.Op) => Effect.Effect<string, AgentClosed>
  /** Submits as given: the id and trace are kept. */
  readonly submitWithId: (submission: Submission.Submission) => Effect.Effect<void, AgentClosed>
  /** The child's events, in order; read once (through this stream or `nextBatch`, not both). */
  readonly events: Stream.Stream<Event.Event, AgentExited>
  /**
   * The events available now (waiting for at least one), and whether they are the last: the delegate's
   * reader loops on this, with no stream machinery per delegate.
   */
  readonly nextBatch: Effect.Effect<readonly [events: ReadonlyArray<Event.Event>, done: boolean], AgentExited>
  /** The latest status, derived from every event read from `events` (filtered ones included). */
  readonly status: Effect.Effect<AgentStatus.AgentStatus>
  /**
   * The pids of the child's processes running now (a process agent's whole tree; absent for children
   * without processes). A supervisor reads it for its receipts.
   *
   * @since 0.2.0
   */
  readonly pids?: (() => ReadonlyArray<number>) | undefined
  /**
   * Present when the child's events are an `EventChannel`: registers the one callback the child calls,
   * synchronously, each time events or the end become available to `nextBatch`. The delegate then reads on
   * demand (a fiber only while there is something to read) instead of keeping a fiber parked on an idle child.
   * Returns the function that unregisters it (the channel then holds nothing of the reader).
   *
   * @since 0.2.0
   */
  readonly onEvents?: ((wake: () => void) => () => void) | undefined
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
export const nextStatus = (status: AgentStatus.AgentStatus, msg: EventMsg.EventMsg): AgentStatus.AgentStatus => {
  switch (msg.type) {
    case "task_started":
      return "running"
    case "task_complete": {
      const failure = EventMsg.turnError(msg)
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
const statusAfter = (status: AgentStatus.AgentStatus, events: ReadonlyArray<Event.Event>): AgentStatus.AgentStatus => {
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
  readonly submitWithId: (submission: Submission.Submission) => Effect.Effect<void, AgentClosed>
  /**
   * The child's events: end it when the child ends cleanly, fail it with `AgentExited` otherwise. An
   * `EventChannel` (since 0.2.0) lets the delegate read on demand (see `Agent.onEvents`).
   */
  readonly events: Mailbox.ReadonlyMailbox<Event.Event, AgentExited> | EventChannel
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
    const source = parts.events
    const channel = source instanceof ChannelImpl ? source : undefined
    let status: AgentStatus.AgentStatus = "pending_init"
    // A channel's batches as appended, status tracked (the delegate reads this: `nextSegments`).
    const takeSegments = channel === undefined ? undefined : Effect.map(channel.takeSegments, (taken) => {
      const segments = taken.segments
      for (let i = 0; i < segments.length; i++) status = statusAfter(status, segments[i]!)
      return taken
    })
    const nextBatch: Effect.Effect<readonly [ReadonlyArray<Event.Event>, boolean], AgentExited> =
      takeSegments !== undefined
        ? Effect.map(takeSegments, joinSegments)
        : Effect.map((source as Mailbox.ReadonlyMailbox<Event.Event, AgentExited>).takeAll, ([chunk, done]) => {
          const events = Chunk.toReadonlyArray(chunk)
          status = statusAfter(status, events)
          return [events, done] as const
        })
    const agent: Agent = {
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
      // Built when asked for: the delegate reads `nextBatch`, and an idle agent holds no stream.
      get events() {
        const stream = channel !== undefined
          ? channelStream(channel)
          : Mailbox.toStream(source as Mailbox.ReadonlyMailbox<Event.Event, AgentExited>)
        return Stream.mapChunks(stream, (chunk) => {
          status = statusAfter(status, Chunk.toReadonlyArray(chunk))
          return chunk
        })
      },
      nextBatch,
      status: Effect.sync(() => status),
      ...(parts.pids === undefined ? {} : { pids: parts.pids }),
      ...(channel === undefined ? {} : { onEvents: (wake: () => void) => channel.listen(wake) })
    }
    if (takeSegments !== undefined) segmentReaders.set(agent, takeSegments)
    return agent
  })

/** A channel read as a stream: its batches as chunks, until it ends (or fails). */
const channelStream = (channel: ChannelImpl): Stream.Stream<Event.Event, AgentExited> =>
  Stream.suspend(() => {
    let finished = false
    return Stream.repeatEffectChunkOption(
      Effect.suspend(() =>
        finished ? Effect.fail(Option.none()) : Effect.mapBoth(channel.takeAll, {
          onFailure: Option.some,
          onSuccess: ([events, done]) => {
            finished = done
            return Chunk.unsafeFromArray(events as Array<Event.Event>)
          }
        })
      )
    )
  })

/**
 * A child's events as a plain-JS buffer with one reader: batches are appended whole when they fit (no copy,
 * no effect per event), the reader is woken by a callback (no fiber needs to wait on an idle child), and a
 * writer waits while `capacity` events are held, as with a bounded `Mailbox`. With `maxBytes` (since 0.2.0)
 * it is bounded in bytes too (each event's `bytesOf`): a writer also waits while the events held would pass
 * `maxBytes` with its next one (a single event is always taken into an empty channel), so a spawner whose
 * reader waits on `offerAll` stops reading the child's stdout and a flooding child blocks on its own writes.
 * Build one with `Agent.makeChannel`, hand it to `Agent.make` as `events`.
 *
 * @since 0.2.0
 * @category channels
 */
export interface EventChannel {
  /** Events held, not yet taken. */
  readonly size: number
  /** Bytes held, not yet taken (always 0 without `maxBytes`: nothing is measured). */
  readonly bytes: number
  /** Whether it has ended (cleanly or with a failure). */
  readonly isDone: boolean
  /** Whether a writer would wait now (`capacity` events held, or `maxBytes` bytes). */
  readonly isFull: boolean
  /**
   * Appends a batch at once, whatever the bounds (the channel keeps the array: do not modify it
   * afterwards), and wakes the reader; `false` (nothing appended) once ended.
   */
  readonly unsafeOfferAll: (events: ReadonlyArray<Event.Event>) => boolean
  /**
   * Appends a batch, waiting while the channel is full: never more than `capacity` events (nor `maxBytes`
   * bytes, but for a single event taken into an empty channel) are held; a batch that fits is kept as is.
   * `false` once ended (the events not appended by then are dropped).
   */
  readonly offerAll: (events: ReadonlyArray<Event.Event>) => Effect.Effect<boolean>
  /** Ends it: the reader takes what is held, then the end (`Exit.void`) or the failure. */
  readonly unsafeDone: (exit: Exit.Exit<void, AgentExited>) => boolean
  /** Ends it cleanly. */
  readonly end: Effect.Effect<boolean>
  /** Ends it with a failure. */
  readonly fail: (error: AgentExited) => Effect.Effect<boolean>
}

/**
 * The bounds of an `EventChannel` (see `makeChannel`).
 *
 * @since 0.2.0
 * @category channels
 */
export interface ChannelOptions {
  /** Bytes held (by `bytesOf`) before a writer waits. Default: unbounded, and no event is measured. */
  readonly maxBytes?: number | undefined
}

/**
 * A take from a channel as its batches were appended (no copy): `count` events in all; `done` when they are
 * the last.
 *
 * @since 0.2.0
 * @category channels
 */
export interface Segments {
  readonly segments: ReadonlyArray<ReadonlyArray<Event.Event>>
  readonly count: number
  readonly done: boolean
}

/** The segment readers of the agents built over a channel (status tracked, like `nextBatch`). */
const segmentReaders = new WeakMap<Agent, Effect.Effect<Segments, AgentExited>>()

/**
 * For a reader that handles events batch by batch (the delegate's): like `agent.nextBatch`, but the batches
 * as the child appended them, not copied into one array; `undefined` when the agent's events are not an
 * `EventChannel`. Read through this or `nextBatch` (or `events`), never several.
 *
 * @since 0.2.0
 * @category channels
 */
export const nextSegments = (agent: Agent): Effect.Effect<Segments, AgentExited> | undefined =>
  segmentReaders.get(agent)

class ChannelImpl implements EventChannel {
  private segments: Array<ReadonlyArray<Event.Event>> = []
  private count = 0
  private held = 0
  /** Set by `fitting`: the bytes of the events it found room for (no tuple allocated per offer). */
  private fitBytes = 0
  private exit: Exit.Exit<void, AgentExited> | undefined = undefined
  private wake: (() => void) | undefined = undefined
  private taker: (() => void) | undefined = undefined
  private writers: Array<() => void> | undefined = undefined

  constructor(readonly capacity: number, readonly maxBytes: number) {}

  get size(): number {
    return this.count
  }

  get bytes(): number {
    return this.held
  }

  get isDone(): boolean {
    return this.exit !== undefined
  }

  get isFull(): boolean {
    return this.exit === undefined && (this.count >= this.capacity || this.held >= this.maxBytes)
  }

  listen(wake: () => void): () => void {
    this.wake = wake
    if (this.count > 0 || this.exit !== undefined) wake()
    return () => {
      if (this.wake === wake) this.wake = undefined
    }
  }

  unsafeOfferAll(events: ReadonlyArray<Event.Event>): boolean {
    if (this.exit !== undefined) return false
    if (events.length === 0) return true
    if (this.maxBytes !== Infinity) this.held += sumBytes(events, 0, events.length)
    this.append(events)
    return true
  }

  private append(events: ReadonlyArray<Event.Event>): void {
    this.segments.push(events)
    this.count += events.length
    this.readable()
  }

  /**
   * The end (exclusive) of the events from `from` that fit now, in count and in bytes (at least one into an
   * empty channel: it alone may be up to any size); their bytes in `fitBytes`.
   */
  private fitting(events: ReadonlyArray<Event.Event>, from: number): number {
    const last = Math.min(events.length, from + Math.max(0, this.capacity - this.count))
    if (this.maxBytes === Infinity) {
      this.fitBytes = 0
      return last
    }
    let held = this.held
    let end = from
    while (end < last) {
      const size = bytesOf(events[end]!)
      if (this.count + (end - from) > 0 && held + size > this.maxBytes) break
      held += size
      end++
    }
    this.fitBytes = held - this.held
    return end
  }

  offerAll(events: ReadonlyArray<Event.Event>, from = 0): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      if (this.exit !== undefined) return Effect.succeed(false)
      const end = this.fitting(events, from)
      if (end > from) {
        this.held += this.fitBytes
        this.append(from === 0 && end === events.length ? events : events.slice(from, end))
      }
      if (end === events.length) return Effect.succeed(true)
      return Effect.zipRight(this.awaitTake, this.offerAll(events, end))
    })
  }

  /** Waits until the reader takes (all that is held: there is room again) or the end. */
  private readonly awaitTake: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.exit !== undefined || this.count === 0) return resume(Effect.void)
    const writer = () => resume(Effect.void)
    ;(this.writers ??= []).push(writer)
    return Effect.sync(() => {
      const index = this.writers?.indexOf(writer) ?? -1
      if (index >= 0) this.writers!.splice(index, 1)
    })
  })

  unsafeDone(exit: Exit.Exit<void, AgentExited>): boolean {
    if (this.exit !== undefined) return false
    this.exit = exit
    this.readable()
    this.wakeWriters()
    return true
  }

  readonly end: Effect.Effect<boolean> = Effect.sync(() => this.unsafeDone(Exit.void))

  fail(error: AgentExited): Effect.Effect<boolean> {
    return Effect.sync(() => this.unsafeDone(Exit.fail(error)))
  }

  /**
   * Everything held as the batches appended (waiting for one event or the end): no copy. `takeAll` is this
   * in one array; a delegate's reader takes this (`Agent.nextSegments`).
   */
  get takeSegments(): Effect.Effect<Segments, AgentExited> {
    // Built on first use and kept: an idle channel holds no effect of its own.
    return this.taking ??= this.makeTakeSegments()
  }

  private taking: Effect.Effect<Segments, AgentExited> | undefined = undefined

  private makeTakeSegments(): Effect.Effect<Segments, AgentExited> {
    return Effect.suspend(() => {
      if (this.count > 0) {
        const segments = this.segments
        const count = this.count
        this.segments = []
        this.count = 0
        this.held = 0
        this.wakeWriters()
        const exit = this.exit
        // A failure is taken on its own, after the events before it: the reader is told there is more.
        if (exit !== undefined && Exit.isFailure(exit)) this.wake?.()
        return Effect.succeed({ segments, count, done: exit !== undefined && Exit.isSuccess(exit) })
      }
      if (this.exit !== undefined) return Exit.as(this.exit, noSegments)
      return Effect.zipRight(
        Effect.async<void>((resume) => {
          this.taker = () => resume(Effect.void)
          return Effect.sync(() => void (this.taker = undefined))
        }),
        this.takeSegments
      )
    })
  }

  /** Everything held (waiting for one event or the end), and whether it is the last. */
  get takeAll(): Effect.Effect<readonly [ReadonlyArray<Event.Event>, boolean], AgentExited> {
    return Effect.map(this.takeSegments, joinSegments)
  }

  private readable(): void {
    const taker = this.taker
    this.taker = undefined
    taker?.()
    this.wake?.()
  }

  private wakeWriters(): void {
    const writers = this.writers
    if (writers === undefined) return
    this.writers = undefined
    for (const writer of writers) writer()
  }
}

const doneBatch: readonly [ReadonlyArray<Event.Event>, boolean] = [[], true]

/** A take in one array (the segments copied into one only when there are several). */
const joinSegments = ({ count, done, segments }: Segments): readonly [ReadonlyArray<Event.Event>, boolean] =>
  count === 0 ? doneBatch : [segments.length === 1 ? segments[0]! : concat(segments, count), done] as const
const noSegments: Segments = { segments: [], count: 0, done: true }

/** The segments in one array (a plain loop: `Array.prototype.flat` is several times slower). */
const concat = (segments: ReadonlyArray<ReadonlyArray<Event.Event>>, count: number): Array<Event.Event> => {
  const out = new Array<Event.Event>(count)
  let k = 0
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!
    for (let j = 0; j < segment.length; j++) out[k++] = segment[j]!
  }
  return out
}

const sumBytes = (events: ReadonlyArray<Event.Event>, from: number, to: number): number => {
  let bytes = 0
  for (let i = from; i < to; i++) bytes += bytesOf(events[i]!)
  return bytes
}

/**
 * A channel for a child's events (see `EventChannel`): `capacity` events held before a writer waits, and
 * with `options.maxBytes` (since 0.2.0) as many bytes.
 *
 * @since 0.2.0
 * @category channels
 * @example
 * ```ts
 * // A spawner's stdout reader: waits (stops reading) while 1024 events or 32 MiB are held.
 * const channel = Agent.makeChannel(1024, { maxBytes: 32 * 1024 * 1024 })
 * ```
 */
export const makeChannel = (capacity: number, options?: ChannelOptions): EventChannel =>
  new ChannelImpl(
    Math.max(1, capacity),
    options?.maxBytes === undefined ? Infinity : Math.max(1, options.maxBytes)
  )

/** Sizes recorded by the spawners, keyed by the event object itself (no copy, no string kept). */
const recordedBytes = new WeakMap<Event.Event, number>()

/**
 * Records how many bytes an event took on the wire (e.g. the length of the JSON line it was decoded
 * from). Spawners call it as they decode; the delegate's event buffer is bounded with these sizes.
 *
 * @since 0.2.0
 * @category sizes
 */
export const recordBytes = (event: Event.Event, bytes: number): void => {
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
export const bytesOf = (event: Event.Event): number => recordedBytes.get(event) ?? estimateBytes(event)

const estimateBytes = (event: Event.Event): number => {
  let bytes = 32 + event.id.length
  const msg = event.msg as Record<string, unknown>
  for (const key in msg) {
    const value = msg[key]
    bytes += key.length + (typeof value === "string" ? value.length : 16)
  }
  return bytes
}
