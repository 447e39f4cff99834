/**
 * The delegate's buffer of forwarded events: bounded in events and in bytes, read through positions
 * (an at-least-once cursor) so that an interrupted read loses nothing.
 *
 * Every forwarded event has a position, its sequence number: the number of events forwarded before it.
 * The buffer holds the events from `released` (the first the consumer has not released) to `total`.
 * Reading never removes: `read(from)` returns the events from `from` on; `release(upTo)` frees the
 * events before `upTo` and makes room for the child. A reader that is interrupted after a read, before
 * it released, reads the same events again.
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
  readonly events: ReadonlyArray<Event>
}

/** A one-time wake-up for a waiting fiber. */
type Wake = () => void

const waitFor = (register: (wake: Wake) => void, unregister: (wake: Wake) => void): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const wake = () => resume(Effect.void)
    register(wake)
    return Effect.sync(() => unregister(wake))
  })

export class EventBuffer {
  private events: Array<Event> = []
  private sizes: Array<number> = []
  private heldBytes = 0
  /** Sequence number of `events[0]`: everything before it was released. */
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
    return this.releasedUpTo + this.events.length
  }

  /** The first event not yet released: where a new reader starts. */
  get released(): number {
    return this.releasedUpTo
  }

  get bytes(): number {
    return this.heldBytes
  }

  private get full(): boolean {
    return !this.isEnded && (this.events.length >= this.maxEvents || this.heldBytes >= this.maxBytes)
  }

  /** Raises both limits (while the child is drained, so a consumer that stopped cannot hold up its end). */
  raiseLimits(events: number, bytes: number): void {
    this.maxEvents += events
    this.maxBytes += bytes
    this.wakeWriter()
  }

  /** Appends a batch (never waits, never drops) and wakes the readers. */
  append(batch: ReadonlyArray<Event>): void {
    if (batch.length === 0 || this.isEnded) return
    for (const event of batch) {
      const size = bytesOf(event)
      this.events.push(event)
      this.sizes.push(size)
      this.heldBytes += size
    }
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
      if (start < this.total) {
        return Effect.succeed(Option.some({ from: start, events: this.events.slice(start - this.releasedUpTo) }))
      }
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

  /** Releases the events before `upTo` (the consumer has handled them) and makes room for the child. */
  release(upTo: number): void {
    const count = Math.min(upTo, this.total) - this.releasedUpTo
    if (count <= 0) return
    for (let i = 0; i < count; i++) this.heldBytes -= this.sizes[i]!
    if (count === this.events.length) {
      this.events = []
      this.sizes = []
    } else {
      this.events.splice(0, count)
      this.sizes.splice(0, count)
    }
    this.releasedUpTo += count
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
