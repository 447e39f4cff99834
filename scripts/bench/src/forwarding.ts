/**
 * Forwarding throughput: events per second from a `TestAgent` through `Delegate.interactive` to a consumer
 * reading `handle.events` in chunks, with 10 % filtered events mixed in; next to a plain-JS pipeline doing the
 * same filter-and-forward over bounded promise queues, and to the `TestAgent` read directly (no delegate).
 * `TestAgent.emitAll` offers event by event (one effect each), which costs more than the delegate itself, so
 * the same pipeline also runs with a child that offers each batch at once (`BenchAgents`): that figure is
 * the delegate's own forwarding speed.
 */
import { AgentSpawner, Approvals, Delegate, TestAgent } from "@deputy/core"
import type { Event, EventMsg } from "@deputy/protocol"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { BenchAgents } from "./benchAgent.js"
import { PlainQueue } from "./plainQueue.js"
import { check, gc, type SectionResult, series, type Size } from "./stats.js"

/** Events the child buffers (`TestAgent` capacity) and the events per `emitAll` call. */
const childCapacity = 8192
const batchSize = 1024
/** The delegate's default event capacity, used by the baseline's consumer queue as well. */
const consumerCapacity = 512

const forwarded: EventMsg.EventMsg = { type: "agent_message", message: "hello" }
const delta: EventMsg.EventMsg = { type: "agent_message_delta", delta: "he" }
const tokens: EventMsg.EventMsg = {
  type: "token_count",
  info: { total_token_usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15 } }
} as EventMsg.EventMsg

/** `n` events, every 10th one filtered (alternately a delta and a token count), cut into `emitAll` batches. */
const workload = (n: number) => {
  const batches: Array<Array<EventMsg.EventMsg>> = []
  let expected = 0
  for (let i = 0; i < n; i += batchSize) {
    const batch: Array<EventMsg.EventMsg> = []
    for (let j = i; j < Math.min(n, i + batchSize); j++) {
      if (j % 10 === 9) batch.push(j % 20 === 9 ? delta : tokens)
      else {
        batch.push(forwarded)
        expected++
      }
    }
    batches.push(batch)
  }
  return { batches, expected }
}

type Workload = ReturnType<typeof workload>

const layer = Layer.merge(TestAgent.layer({ capacity: childCapacity }), Approvals.layerApproveAll)

/** Through the delegate: producer emits, consumer counts chunks of `handle.events`, until the child ends. */
const deputy = ({ batches, expected }: Workload) =>
  Effect.gen(function*() {
    const test = yield* TestAgent.TestAgent
    const handle = yield* Delegate.interactive({ source: "review" })
    yield* test.awaitSpawn
    let received = 0
    const consumer = yield* Effect.fork(
      Stream.runForEachChunk(handle.events, (chunk) => Effect.sync(() => void (received += chunk.length)))
    )
    const started = performance.now()
    for (const batch of batches) yield* test.emitAll(batch)
    yield* test.end
    yield* Fiber.join(consumer)
    const elapsed = performance.now() - started
    const ended = yield* handle.ended
    check(received === expected, `delegate forwarded ${received} events, expected ${expected}`)
    check(ended.reason === "agent_exited", `delegate ended ${ended.reason}, expected agent_exited`)
    const usage = yield* handle.usage
    check(usage.total_tokens === 15, "token usage was not rolled up")
    return (expected / elapsed) * 1000
  }).pipe(Effect.scoped, Effect.provide(layer))

/** Through the delegate, from a child that offers each batch with one `offerAll`. */
const deputyBatched = ({ batches, expected }: Workload) => {
  const agents = new BenchAgents(childCapacity)
  return Effect.gen(function*() {
    const handle = yield* Delegate.interactive({ source: "review" })
    const child = agents.latest!
    let received = 0
    const consumer = yield* Effect.fork(
      Stream.runForEachChunk(handle.events, (chunk) => Effect.sync(() => void (received += chunk.length)))
    )
    const started = performance.now()
    for (const batch of batches) yield* child.emitAll(batch)
    yield* child.events.end
    yield* Fiber.join(consumer)
    const elapsed = performance.now() - started
    check(received === expected, `delegate forwarded ${received} events, expected ${expected}`)
    return (expected / elapsed) * 1000
  }).pipe(Effect.scoped, Effect.provide(Layer.merge(agents.layer, Approvals.layerApproveAll)))
}

/** The same child read directly (no delegate): what the `TestAgent` itself costs. */
const rawAgent = ({ batches }: Workload) =>
  Effect.gen(function*() {
    const test = yield* TestAgent.TestAgent
    const agent = yield* (yield* AgentSpawner.AgentSpawner).spawn({ source: "review" })
    let received = 0
    const consumer = yield* Effect.fork(
      Stream.runForEachChunk(agent.events, (chunk) => Effect.sync(() => void (received += chunk.length)))
    )
    const total = batches.reduce((sum, batch) => sum + batch.length, 0)
    const started = performance.now()
    for (const batch of batches) yield* test.emitAll(batch)
    yield* test.end
    yield* Fiber.join(consumer)
    const elapsed = performance.now() - started
    check(received === total, `raw agent delivered ${received} events, expected ${total}`)
    return (total / elapsed) * 1000
  }).pipe(Effect.scoped, Effect.provide(layer))

const droppedTypes = Delegate.droppedEventTypes
const routedTypes = new Set([
  "exec_approval_request",
  "apply_patch_approval_request",
  "request_permissions",
  "request_user_input"
])

/**
 * The plain-JS baseline: child queue → forwarder (takes everything buffered, filters, rolls up usage, offers
 * the batch, waits while the consumer queue is full) → consumer queue → consumer counting. `batched` decides
 * how the child emits: one `offer` per event (as `TestAgent.emitAll` does) or one `offerAll` per batch (as the
 * batched child does).
 */
const baseline = async ({ batches, expected }: Workload, batched: boolean): Promise<number> => {
  const child = new PlainQueue<Event.Event>(childCapacity)
  const consumer = new PlainQueue<Event.Event>(consumerCapacity)
  let usage: EventMsg.TokenUsage | undefined
  let received = 0
  const forwarder = (async () => {
    while (true) {
      const segments = await child.takeAll()
      if (segments === undefined) break
      const out: Array<Event.Event> = []
      for (const segment of segments) {
        for (const event of segment) {
          const type = event.msg.type
          if (type === "token_count") {
            const info = (event.msg as { info?: { total_token_usage?: EventMsg.TokenUsage } | null }).info
            if (info?.total_token_usage) usage = info.total_token_usage
            continue
          }
          if (droppedTypes.has(type) || routedTypes.has(type)) continue
          out.push(event)
        }
      }
      const full = consumer.offerAll(out)
      if (full) await full
    }
    consumer.end()
  })()
  const reader = (async () => {
    while (true) {
      const segments = await consumer.takeAll()
      if (segments === undefined) break
      for (const segment of segments) received += segment.length
    }
  })()
  const started = performance.now()
  for (const batch of batches) {
    if (batched) {
      const full = child.offerAll(batch.map((msg) => ({ id: "", msg })))
      if (full) await full
    } else {
      for (const msg of batch) {
        const full = child.offer({ id: "", msg })
        if (full) await full
      }
    }
  }
  child.end()
  await forwarder
  await reader
  const elapsed = performance.now() - started
  check(received === expected, `baseline forwarded ${received} events, expected ${expected}`)
  check(usage?.total_tokens === 15, "baseline did not roll up usage")
  return (expected / elapsed) * 1000
}

export const run = async (size: Size): Promise<SectionResult> => {
  const events = size.quick ? 50_000 : 1_000_000
  const work = workload(events)
  // A full GC before each measurement, so that none pays for the garbage of the one before.
  const measure = <A>(f: () => Promise<A>): Promise<A> => {
    gc()
    return f()
  }
  const metrics = await series(size, async () => ({
    eventsPerSec: await measure(() => Effect.runPromise(deputy(work))),
    baselineEventsPerSec: await measure(() => baseline(work, false)),
    batchedEventsPerSec: await measure(() => Effect.runPromise(deputyBatched(work))),
    baselineBatchedEventsPerSec: await measure(() => baseline(work, true)),
    rawAgentEventsPerSec: await measure(() => Effect.runPromise(rawAgent(work)))
  }))
  const ratio = metrics.eventsPerSec.map((value, i) => value / metrics.baselineEventsPerSec[i])
  const batchedRatio = metrics.batchedEventsPerSec.map((value, i) => value / metrics.baselineBatchedEventsPerSec[i])
  return {
    metrics: { ...metrics, ratio, batchedRatio },
    notes: [
      `${
        events.toLocaleString("en")
      } events per run, 10 % filtered; emitAll batches of ${batchSize}, child capacity ${childCapacity}, consumer capacity ${consumerCapacity} (the delegate default)`
    ]
  }
}
