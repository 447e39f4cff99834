/**
 * The delegate's buffer of forwarded events: bounded in events and in bytes, read through positions
 * (an at-least-once cursor) so that an interrupted read loses nothing.
 *
 * Every forwarded event has a position, its sequence number: the number of events forwarded before it.
 * The buffer holds the events from `released` (the first the consumer has not released) to `total`.
 * Reading never removes: `read(from)` returns the events from `from` on; `release(upTo)` frees the
 * events before `upTo` and makes room for the child. A reader that is interrupted after a read, before
 * it released, reads the same events again.
 *
 * Events are kept as the batches they were appended in (segments), so that appending, reading and
 * releasing a batch moves arrays, not events: no per-event copy on the forwarding path. A segment is
 * measured (`Agent.bytesOf` per event) only when the byte bound decides something: while the buffer
 * holds `maxEvents` or more it is full whatever the bytes, and a batch released before it was ever
 * needed is never measured.
 */
import type { Event } from "@deputy/protocol"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { bytesOf } from "../Agent.js"

/**
 * Events read at once: `from` is the sequence number of `events[0]`.
 */
export interface EventBatch {
  readonly from: number
  readonly events: ReadonlyArray<Event.Event>
}

/**
 * One appended batch, owned by the buffer (never modified). Once measured: the size of its events held
 * then, and how much of that partial releases freed since (re-measured then, which is rare; a full
 * release subtracts what is left).
 */
interface Segment {
  readonly events: ReadonlyArray<Event.Event>
  bytes: number | undefined
  releasedBytes: number
}

/** A one-time wake-up for a waiting fiber. */
type Wake = () => void

const waitFor = (register: (wake: Wake) => void, unregister: (wake: Wake) => void): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const wake = () => resume(Effect.void)
    register(wake)
    return Effect.sync(() => unregister(wake))
  })

/** The size of `events[start..end)` (a loop of its own: it stays optimized whatever calls it). */
const measure = (events: ReadonlyArray<Event.Event>, start: number, end: number): number => {
  let bytes = 0
  for (let i = start; i < end; i++) bytes += bytesOf(events[i]!)
  return bytes
}

export class EventBuffer {
  private segments: Array<Segment> = []
  /** Events of `segments[0]` already released. */
  private offset = 0
  private count = 0
  /** The bytes held in measured segments; `unmeasured` segments are not counted yet. */
  private heldBytes = 0
  private unmeasured = 0
  /** Sequence number of the first event held: everything before it was released. */
  private releasedUpTo = 0
  private isEnded = false
  private readers: Array<Wake> | undefined
  private writer: Wake | undefined
  private maxEvents: number
  private maxBytes: number

  constructor(maxEvents: number, maxBytes: number) {
    this.maxEvents = maxEvents
    this.maxBytes = maxBytes
  }

  /** How many events were forwarded so far: the sequence number the next one gets. */
  get total(): number {
    return this.releasedUpTo + this.count
  }

  /** The first event not yet released: where a new reader starts. */
  get released(): number {
    return this.releasedUpTo
  }

  get bytes(): number {
    this.measureAll()
    return this.heldBytes
  }

  private get full(): boolean {
    if (this.isEnded) return false
    if (this.count >= this.maxEvents) return true
    this.measureAll()
    return this.heldBytes >= this.maxBytes
  }

  private measureAll(): void {
    if (this.unmeasured === 0) return
    const segments = this.segments
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!
      if (segment.bytes !== undefined) continue
      const bytes = measure(segment.events, i === 0 ? this.offset : 0, segment.events.length)
      segment.bytes = bytes
      this.heldBytes += bytes
    }
    this.unmeasured = 0
  }

  /** Raises both limits (while the child is drained, so a consumer that stopped cannot hold up its end). */
  raiseLimits(events: number, bytes: number): void {
    this.maxEvents += events
    this.maxBytes += bytes
    this.wakeWriter()
  }

  /** Appends a batch (never waits, never drops; the buffer keeps the array: do not modify it) and wakes the readers. */
  append(batch: ReadonlyArray<Event.Event>): void {
    if (batch.length === 0 || this.isEnded) return
    this.segments.push({ events: batch, bytes: undefined, releasedBytes: 0 })
    this.unmeasured++
    this.count += batch.length
    this.wakeReaders()
  }

  /**
   * Waits while the buffer is full: the writer (the delegate's reader of the child) stops taking from
   * the child until the consumer releases events. The limit is checked after each batch, so the buffer
   * may go over it by one batch of the child's (bounded by the child's own buffer), and an event larger
   * than the byte limit is held alone until it is read: delivered, never dropped.
   */
  readonly waitForRoom: Effect.Effect<void> = Effect.suspend(() =>
    this.full
      ? Effect.zipRight(
        waitFor((wake) => void (this.writer = wake), () => void (this.writer = undefined)),
        this.waitForRoom
      )
      : Effect.void
  )

  /** The events from `from` on (from `released` if `from` is before it), waiting for one; none once ended. */
  read(from: number): Effect.Effect<Option.Option<EventBatch>> {
    return Effect.suspend(() => {
      const start = Math.max(from, this.releasedUpTo)
      if (start < this.total) return Effect.succeed(Option.some({ from: start, events: this.eventsFrom(start) }))
      if (this.isEnded) return Effect.succeed(Option.none())
      return Effect.zipRight(
        waitFor((wake) => (this.readers ??= []).push(wake), (wake) => {
          const index = this.readers?.indexOf(wake) ?? -1
          if (index >= 0) this.readers!.splice(index, 1)
        }),
        this.read(from)
      )
    })
  }

  /** Every held event from `start` (held) on: a segment itself when it is exactly that, else one copy. */
  private eventsFrom(start: number): ReadonlyArray<Event.Event> {
    const segments = this.segments
    let skip = start - this.releasedUpTo + this.offset
    let first = 0
    while (skip >= segments[first]!.events.length) skip -= segments[first++]!.events.length
    const head = segments[first]!.events
    if (first === segments.length - 1) return skip === 0 ? head : head.slice(skip)
    const out = head.slice(skip)
    for (let i = first + 1; i < segments.length; i++) {
      const events = segments[i]!.events
      for (let j = 0; j < events.length; j++) out.push(events[j]!)
    }
    return out
  }

  /** Releases the events before `upTo` (the consumer has handled them) and makes room for the child. */
  release(upTo: number): void {
    let count = Math.min(upTo, this.total) - this.releasedUpTo
    if (count <= 0) return
    this.releasedUpTo += count
    this.count -= count
    const segments = this.segments
    let dropped = 0
    while (count > 0) {
      const segment = segments[dropped]!
      const left = segment.events.length - this.offset
      if (count >= left) {
        if (segment.bytes === undefined) this.unmeasured--
        else this.heldBytes -= segment.bytes - segment.releasedBytes
        this.offset = 0
        count -= left
        dropped++
      } else {
        if (segment.bytes !== undefined) {
          const held = segment.bytes - segment.releasedBytes
          const freed = Math.min(measure(segment.events, this.offset, this.offset + count), held)
          segment.releasedBytes += freed
          this.heldBytes -= freed
        }
        this.offset += count
        count = 0
      }
    }
    if (dropped === segments.length) {
      this.segments = []
      this.heldBytes = 0
    } else if (dropped > 0) segments.splice(0, dropped)
    if (!this.full) this.wakeWriter()
  }

  /** No more events: readers get what is left, then none; the writer never waits again. */
  end(): void {
    this.isEnded = true
    this.wakeReaders()
    this.wakeWriter()
  }

  private wakeReaders(): void {
    const readers = this.readers
    if (readers === undefined) return
    this.readers = undefined
    for (const wake of readers) wake()
  }

  private wakeWriter(): void {
    const writer = this.writer
    this.writer = undefined
    writer?.()
  }
}
