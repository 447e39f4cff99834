import { Agent, TraceContext } from "@deputy/core"
import type { Event } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"

describe("Agent.nextStatus (SPEC §1)", () => {
  it("derives the status from events", () => {
    const next = Agent.nextStatus
    assert.strictEqual(next("pending_init", { type: "task_started", turn_id: "t" }), "running")
    assert.deepStrictEqual(next("running", { type: "task_complete", turn_id: "t", last_agent_message: "m" }), {
      completed: "m"
    })
    assert.deepStrictEqual(next("running", { type: "task_complete", turn_id: "t", last_agent_message: null }), {
      completed: null
    })
    assert.strictEqual(next("running", { type: "turn_aborted", reason: "interrupted" }), "interrupted")
    assert.strictEqual(next("running", { type: "turn_aborted", reason: "budget_limited" }), "interrupted")
    assert.deepStrictEqual(next("running", { type: "turn_aborted", reason: "replaced" }), {
      errored: "turn aborted: replaced"
    })
    assert.deepStrictEqual(next("running", { type: "error", message: "boom" }), { errored: "boom" })
    assert.strictEqual(next("running", { type: "shutdown_complete" }), "shutdown")
    assert.strictEqual(next("running", { type: "agent_message", message: "x" }), "running")
  })
})

describe("TraceContext", () => {
  it.effect("the current span becomes a traceparent, and a traceparent a parent span", () =>
    Effect.gen(function*() {
      const context = yield* TraceContext.current.pipe(Effect.withSpan("s"))
      assert.isTrue(Option.isSome(context))
      const traceparent = Option.getOrThrow(context).traceparent!
      assert.match(traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
      const external = Option.getOrThrow(TraceContext.toExternalSpan({ traceparent }))
      assert.strictEqual(`00-${external.traceId}-${external.spanId}-01`, traceparent)
      assert.isTrue(Option.isNone(TraceContext.toExternalSpan({ traceparent: "garbage" })))
      assert.deepStrictEqual(TraceContext.toEnv({ traceparent, tracestate: "a=b" }), {
        TRACEPARENT: traceparent,
        TRACESTATE: "a=b"
      })
      assert.isTrue(Option.isNone(yield* TraceContext.current))
    }))
})

describe("failed turns (Codex 0.169)", () => {
  it("task_complete with an error is errored", () => {
    assert.deepStrictEqual(
      Agent.nextStatus("running", {
        type: "task_complete",
        turn_id: "t",
        last_agent_message: null,
        error: { message: "stream disconnected", codex_error_info: "other" }
      }),
      { errored: "stream disconnected" }
    )
  })
})

describe("Agent.makeChannel, bounded in bytes", () => {
  const event = (id: string, bytes: number): Event.Event => {
    const made: Event.Event = { id, msg: { type: "agent_message", message: id } }
    Agent.recordBytes(made, bytes)
    return made
  }
  const agentOf = (events: Agent.EventChannel) => Agent.make({ name: "test", submitWithId: () => Effect.void, events })
  /** Until the fiber waits or is done (a handshake on its state, no time involved). */
  const untilSuspended = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
    Effect.gen(function*() {
      for (let i = 0; i < 100; i++) {
        if ((yield* Fiber.status(fiber))._tag !== "Running") return
        yield* Effect.yieldNow()
      }
      assert.fail("the writer neither waited nor ended")
    })

  it.effect("a writer waits while the next event would pass maxBytes, and goes on once the reader takes", () =>
    Effect.gen(function*() {
      const channel = Agent.makeChannel(100, { maxBytes: 25 })
      const agent = yield* agentOf(channel)
      const [a, b, c, d] = [event("a", 10), event("b", 10), event("c", 10), event("d", 10)]
      assert.isTrue(yield* channel.offerAll([a, b]))
      assert.strictEqual(channel.bytes, 20)
      assert.isFalse(channel.isFull)
      const writer = yield* Effect.fork(channel.offerAll([c, d]))
      yield* untilSuspended(writer)
      // "c" would make 30 bytes: nothing more is appended (a spawner's reader stops reading stdout).
      assert.isNull(writer.unsafePoll())
      assert.strictEqual(channel.size, 2)
      assert.deepStrictEqual((yield* agent.nextBatch)[0], [a, b])
      yield* untilSuspended(writer)
      // "c" and "d" make 20: both in, and the writer is done.
      assert.deepStrictEqual((yield* agent.nextBatch)[0], [c, d])
      assert.isTrue(yield* Fiber.join(writer))
      assert.strictEqual(channel.bytes, 0)
    }))

  it.effect("a writer waits for each take when every event fills the channel alone", () =>
    Effect.gen(function*() {
      const channel = Agent.makeChannel(100, { maxBytes: 25 })
      const agent = yield* agentOf(channel)
      const events = [event("a", 20), event("b", 20), event("c", 20)]
      const writer = yield* Effect.fork(channel.offerAll(events))
      for (const expected of events) {
        yield* untilSuspended(writer)
        assert.strictEqual(channel.size, 1)
        if (expected !== events[2]) assert.isNull(writer.unsafePoll())
        assert.deepStrictEqual((yield* agent.nextBatch)[0], [expected])
      }
      assert.isTrue(yield* Fiber.join(writer))
    }))

  it.effect("one event larger than the limit still passes alone (the splitter skips lines over the limit)", () =>
    Effect.gen(function*() {
      const channel = Agent.makeChannel(100, { maxBytes: 5 })
      assert.isTrue(yield* channel.offerAll([event("big", 50)]))
      assert.isTrue(channel.isFull)
      assert.strictEqual(channel.bytes, 50)
    }))

  it.effect("the count bound holds with the byte bound, and ending releases a waiting writer", () =>
    Effect.gen(function*() {
      const channel = Agent.makeChannel(2, { maxBytes: 1000 })
      const agent = yield* agentOf(channel)
      const writer = yield* Effect.fork(channel.offerAll([event("a", 1), event("b", 1), event("c", 1)]))
      yield* untilSuspended(writer)
      assert.isNull(writer.unsafePoll())
      assert.strictEqual(channel.size, 2)
      assert.isTrue(channel.isFull)
      yield* channel.end
      // "c" is dropped: the channel has ended; what was held is still read, then the end.
      assert.isFalse(yield* Fiber.join(writer))
      const [held, done] = yield* agent.nextBatch
      assert.deepStrictEqual(held.map((e) => e.id), ["a", "b"])
      assert.isTrue(done)
    }))

  it.effect("without maxBytes nothing is measured", () =>
    Effect.gen(function*() {
      const channel = Agent.makeChannel(10)
      yield* channel.offerAll([event("a", 1e9), event("b", 1e9)])
      assert.strictEqual(channel.bytes, 0)
      assert.isFalse(channel.isFull)
    }))
})
