/**
 * The plain-JS baseline's queue: bounded, promise-based, no Effect. Items are kept as segments (arrays), so
 * moving a batch costs one push, not one per item: `offer` appends one item to the last segment, `offerAll`
 * hands over a whole array (the caller gives it up), `takeAll` takes every buffered segment at once. Both
 * offers are synchronous while there is room and return a promise only once the queue is full, to await
 * before offering more. This is what a competent hand-written forwarder does; a per-item `take` would be slower.
 */
export class PlainQueue<T> {
  private segments: Array<Array<T>> = []
  private tail: Array<T> | undefined = undefined
  private count = 0
  private ended = false
  private taker: ((segments: Array<Array<T>> | undefined) => void) | undefined = undefined
  private readonly putters: Array<() => void> = []

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.count
  }

  /** Adds an item; returns a promise to await when the queue is full after adding it. */
  offer(item: T): Promise<void> | undefined {
    if (this.tail === undefined) {
      this.tail = [item]
      this.segments.push(this.tail)
    } else {
      this.tail.push(item)
    }
    this.count++
    if (this.taker !== undefined) this.wake()
    return this.count >= this.capacity ? new Promise((resolve) => this.putters.push(resolve)) : undefined
  }

  /** Adds a batch (kept as is: do not modify it afterwards); returns a promise to await when the queue is full. */
  offerAll(items: Array<T>): Promise<void> | undefined {
    if (items.length > 0) {
      this.segments.push(items)
      this.tail = undefined
      this.count += items.length
      if (this.taker !== undefined) this.wake()
    }
    return this.count >= this.capacity ? new Promise((resolve) => this.putters.push(resolve)) : undefined
  }

  /** Every buffered segment (waits for at least one item); `undefined` once ended and empty. */
  takeAll(): Promise<Array<Array<T>> | undefined> | Array<Array<T>> | undefined {
    if (this.count > 0) return this.drain()
    if (this.ended) return undefined
    return new Promise((resolve) => (this.taker = resolve))
  }

  end(): void {
    this.ended = true
    this.wake()
  }

  private drain(): Array<Array<T>> {
    const out = this.segments
    this.segments = []
    this.tail = undefined
    this.count = 0
    const putters = this.putters.splice(0)
    for (const resolve of putters) resolve()
    return out
  }

  private wake(): void {
    const taker = this.taker
    if (taker === undefined) return
    if (this.count > 0) {
      this.taker = undefined
      taker(this.drain())
    } else if (this.ended) {
      this.taker = undefined
      taker(undefined)
    }
  }
}
