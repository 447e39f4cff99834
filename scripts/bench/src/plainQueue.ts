/**
 * The plain-JS baseline's queue: bounded, promise-based, no Effect. `offer` is synchronous while there is
 * room and returns a promise only when the queue is full; `takeAll` hands over everything buffered at once
 * (what a competent hand-written forwarder does; a per-item `take` would be slower).
 */
export class PlainQueue<T> {
  private items: Array<T> = []
  private ended = false
  private taker: ((items: Array<T> | undefined) => void) | undefined = undefined
  private readonly putters: Array<() => void> = []

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length
  }

  /** Adds an item; returns a promise to await when the queue is full after adding it. */
  offer(item: T): Promise<void> | undefined {
    this.items.push(item)
    this.wake()
    return this.items.length >= this.capacity ? new Promise((resolve) => this.putters.push(resolve)) : undefined
  }

  /** Adds several items; returns a promise to await when the queue is full after adding them. */
  offerAll(items: ReadonlyArray<T>): Promise<void> | undefined {
    for (const item of items) this.items.push(item)
    this.wake()
    return this.items.length >= this.capacity ? new Promise((resolve) => this.putters.push(resolve)) : undefined
  }

  /** Everything buffered (waits for at least one item); `undefined` once ended and empty. */
  takeAll(): Promise<Array<T> | undefined> | Array<T> | undefined {
    if (this.items.length > 0) return this.drain()
    if (this.ended) return undefined
    return new Promise((resolve) => (this.taker = resolve))
  }

  end(): void {
    this.ended = true
    this.wake()
  }

  private drain(): Array<T> {
    const out = this.items
    this.items = []
    const putters = this.putters.splice(0)
    for (const resolve of putters) resolve()
    return out
  }

  private wake(): void {
    const taker = this.taker
    if (taker === undefined) return
    if (this.items.length > 0) {
      this.taker = undefined
      taker(this.drain())
    } else if (this.ended) {
      this.taker = undefined
      taker(undefined)
    }
  }
}
