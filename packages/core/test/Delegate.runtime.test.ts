/**
 * The runtime v2's promises, each tried as a hostile child or a careless caller would: the end comes
 * only after everything is settled and the child is gone; duplicate request ids are refused; the
 * buffer is bounded in bytes; reading is ordered, positioned and lossless; `Delegate.turn`.
 */
import { Agent, AgentSpawner, type ApprovalRequest, Approvals, Delegate, TestAgent } from "@deputy/core"
import type { Event } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { execRequest, message, msgTypes, opTypes, readAll } from "./helpers.js"

const source = "review" as const

/** Approvals that hold every command request until `gate` opens, recording each request asked. */
const gated = (gate: Deferred.Deferred<void>, asked: Array<ApprovalRequest.ApprovalRequest>) =>
  Layer.succeed(
    Approvals.Approvals,
    Approvals.Approvals.of({
      command: (request) =>
        Effect.as(Effect.zipRight(Effect.sync(() => asked.push(request)), Deferred.await(gate)), "approved"),
      patch: () => Effect.succeed("approved"),
      permissions: () => Effect.succeedNone,
      userInput: () => Effect.succeedNone
    })
  )

const yields = (n: number) => Effect.repeatN(Effect.yieldNow(), n)

describe("the end comes last", () => {
  it.effect("ended resolves only after pending requests settled, onSettled ran and the child's scope closed", () => {
    const steps: Array<string> = []
    return Effect.gen(function*() {
      const entered = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const { service: child, spawner } = yield* TestAgent.make({
        hangOnShutdown: true,
        // The child's scope finalizer is slow: it waits for the test, as a kill escalation would wait.
        onSpawn: () =>
          Effect.addFinalizer(() =>
            Effect.gen(function*() {
              steps.push("child closing")
              yield* Deferred.succeed(entered, undefined)
              yield* Deferred.await(release)
              steps.push("child closed")
            })
          )
      })
      yield* Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const handle = yield* Delegate.interactive({
          source,
          drainTimeout: 0,
          onSettled: (settlement: ApprovalRequest.ApprovalSettlement) =>
            Effect.sync(() => steps.push(`settled ${settlement.outcome}`))
        }).pipe(Effect.provide(gated(gate, [])))
        yield* child.emit(execRequest("c1"), "t")
        yield* yields(20)
        // The caller asks for the shutdown and is interrupted while it waits: the sequence goes on.
        const caller = yield* Effect.fork(handle.shutdown)
        yield* Deferred.await(entered)
        yield* Fiber.interrupt(caller)
        const ended = yield* Effect.fork(handle.ended)
        yield* yields(50)
        assert.isTrue(Option.isNone(yield* Fiber.poll(ended)), "ended resolved before the child's scope closed")
        yield* Deferred.succeed(release, undefined)
        const result = yield* Fiber.join(ended)
        steps.push(`ended ${result.reason}`)
        assert.strictEqual(yield* child.released, 1)
      }).pipe(Effect.scoped, Effect.provideService(AgentSpawner.AgentSpawner, spawner))
      assert.deepStrictEqual(steps, ["settled aborted", "child closing", "child closed", "ended drain_timed_out"])
    })
  })
})

describe("duplicate request ids (issue 9.5)", () => {
  it.effect("a repeat of a pending or answered id is refused with a diagnostic; the child gets one answer", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const asked: Array<ApprovalRequest.ApprovalRequest> = []
      yield* Effect.gen(function*() {
        const handle = yield* Delegate.interactive({ source })
        const child = yield* TestAgent.TestAgent
        yield* child.emit(execRequest("c1", { command: ["ls"] }), "t")
        yield* child.emit(execRequest("c1", { command: ["rm", "-rf", "/"] }), "t") // same id, still pending
        const first = yield* handle.nextEvent
        assert.strictEqual(Option.getOrThrow(first).msg.type, "deputy_diagnostic")
        assert.match(
          (Option.getOrThrow(first).msg as unknown as { message: string }).message,
          /refused a second command request with call id "c1": a request with this id is still pending/
        )
        assert.strictEqual((Option.getOrThrow(first).msg as unknown as { kind: string }).kind, "duplicate_request")
        yield* Deferred.succeed(gate, undefined)
        yield* child.awaitOp("exec_approval")
        yield* child.emit(execRequest("c1", { command: ["rm", "-rf", "/"] }), "t") // same id, answered
        const second = Option.getOrThrow(yield* handle.nextEvent)
        assert.match((second.msg as unknown as { message: string }).message, /was already answered/)
        // A different call id whose answer would go out under an answered request's id (`approval_id`).
        yield* child.emit(execRequest("c2", { approval_id: "a1" }), "t")
        yield* child.awaitSubmission((submission) =>
          submission.op.type === "exec_approval" && submission.op.id === "a1"
        )
        yield* child.emit(execRequest("c3", { approval_id: "a1" }), "t")
        const third = Option.getOrThrow(yield* handle.nextEvent)
        assert.match(
          (third.msg as unknown as { message: string }).message,
          /its answer would go out under the id of an answered request \(exec_approval\/a1\)/
        )
        yield* child.end
        yield* handle.ended
        const answers = (yield* child.received).filter((submission) => submission.op.type === "exec_approval")
        assert.deepStrictEqual(answers.map((submission) => (submission.op as { id: string }).id), ["c1", "a1"])
        assert.deepStrictEqual(asked.map((request) => request.callId), ["c1", "c2"])
        assert.deepStrictEqual((asked[0]!.event as { command?: ReadonlyArray<string> }).command, ["ls"])
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), gated(gate, asked))))
    }))
})

describe("the event buffer is bounded in bytes", () => {
  /** An event with a recorded wire size. */
  const sized = (text: string, bytes: number): Event.Event => {
    const event: Event.Event = { id: "t", msg: message(text) }
    Agent.recordBytes(event, bytes)
    return event
  }

  it.effect("the delegate stops taking from the child once the buffer holds eventBytes", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source, eventBytes: 3000, eventCapacity: 1000 })
      const child = yield* TestAgent.TestAgent
      const emitter = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 10 }, (_, i) => sized(`m${i}`, 1000)), (event) => child.emit(event))
      )
      yield* yields(200)
      assert.isTrue(Option.isNone(yield* Fiber.poll(emitter)), "the child was never slowed down")
      const held = Option.getOrThrow(yield* handle.read(0))
      assert.strictEqual(held.events.length, 3) // 3 × 1000 bytes: full
      yield* handle.release(3)
      const rest = yield* handle.stream.pipe(Stream.take(7), Stream.runCollect)
      yield* Fiber.join(emitter)
      assert.deepStrictEqual(
        Chunk.toReadonlyArray(rest).map((event) => (event.msg as { message: string }).message),
        ["m3", "m4", "m5", "m6", "m7", "m8", "m9"]
      )
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer({ capacity: 1 }), Approvals.layerApproveAll))))

  it.effect("an event larger than the limit is delivered alone, not dropped", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source, eventBytes: 100 })
      const child = yield* TestAgent.TestAgent
      yield* child.emit(sized("huge", 1_000_000))
      yield* child.emit(sized("after", 10))
      const first = Option.getOrThrow(yield* handle.read(0))
      assert.deepStrictEqual(msgTypes(first.events), ["agent_message"])
      assert.strictEqual((first.events[0]!.msg as { message: string }).message, "huge")
      yield* handle.release(1)
      assert.strictEqual((Option.getOrThrow(yield* handle.nextEvent).msg as { message: string }).message, "after")
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer({ capacity: 1 }), Approvals.layerApproveAll))))

  it("Agent.bytesOf: the recorded size, else a bounded estimate", () => {
    const event: Event.Event = { id: "x", msg: message("hello") }
    assert.isAbove(Agent.bytesOf(event), 10)
    Agent.recordBytes(event, 4242)
    assert.strictEqual(Agent.bytesOf(event), 4242)
    const wide: Event.Event = {
      id: "",
      msg: { type: "odd", items: Array.from({ length: 1_000_000 }, () => "x") } as never
    }
    assert.isBelow(Agent.bytesOf(wide), 1_000) // the estimate never walks the million items
  })
})

describe("ordered and lossless reading (issue 14.5)", () => {
  it.effect("each request carries its position in the forwarded events", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const asked: Array<ApprovalRequest.ApprovalRequest> = []
      yield* Effect.gen(function*() {
        yield* Delegate.interactive({ source })
        const child = yield* TestAgent.TestAgent
        yield* child.emitAll([
          message("a"),
          { type: "agent_message_delta", delta: "filtered: no position" },
          message("b"),
          execRequest("c1"),
          message("c"),
          execRequest("c2")
        ], "t")
        yield* yields(20)
        assert.deepStrictEqual(asked.map((request) => [request.callId, request.sequence]), [["c1", 2], ["c2", 3]])
        yield* Deferred.succeed(gate, undefined)
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), gated(gate, asked))))
    }))

  it.effect("stopping a run of handle.stream does not stop the child; the next run loses nothing", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      yield* child.emitAll([message("1"), message("2"), message("3")], "t")
      yield* yields(20)
      const firstTwo = yield* handle.stream.pipe(Stream.take(2), Stream.runCollect)
      assert.strictEqual(Chunk.size(firstTwo), 2)
      yield* child.emit(message("4"), "t")
      yield* child.end
      const rest = Chunk.toReadonlyArray(yield* Stream.runCollect(handle.stream))
      // At least once: the chunk that was cut is read again, and nothing is missing.
      assert.includeMembers(rest.map((event) => (event.msg as { message: string }).message), ["3", "4"])
      assert.notInclude(opTypes(yield* child.received), "shutdown") // the child ended by itself
      assert.strictEqual((yield* handle.ended).reason, "agent_exited")
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), Approvals.layerApproveAll))))

  it.effect.prop(
    "a reader interrupted at random points, restarted each time, sees every event in order",
    [FastCheck.array(FastCheck.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 12 })],
    ([interruptAfter]) =>
      Effect.gen(function*() {
        const total = 200
        const handle = yield* Delegate.interactive({ source, eventCapacity: 16 })
        const child = yield* TestAgent.TestAgent
        yield* Effect.fork(
          Effect.zipRight(
            Effect.forEach(Array.from({ length: total / 10 }), (_, batch) =>
              child.emitAll(Array.from({ length: 10 }, (_, i) => message(String(batch * 10 + i))), "t")),
            child.end
          )
        )
        const seen: Array<number> = []
        const record = (event: Event.Event) =>
          Effect.zipRight(
            Effect.sync(() =>
              seen.push(Number((event.msg as { message: string }).message))
            ),
            Effect.yieldNow()
          )
        for (const after of interruptAfter) {
          const run = yield* Effect.fork(Stream.runForEach(handle.stream, record))
          yield* yields(after)
          yield* Fiber.interrupt(run)
        }
        yield* Stream.runForEach(handle.stream, record)
        // Re-deliveries are allowed (at least once); losses and reordering are not.
        const firstSeen: Array<number> = []
        for (const n of seen) {
          if (n >= firstSeen.length) firstSeen.push(n)
        }
        assert.deepStrictEqual(firstSeen, Array.from({ length: total }, (_, i) => i))
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer({ capacity: 8 }), Approvals.layerApproveAll))),
    { fastCheck: { numRuns: 50 } }
  )
})

describe("Delegate.turn", () => {
  it.effect("submits the input, streams that turn's events and ends at its end", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      yield* Effect.fork(Effect.gen(function*() {
        const input = yield* child.awaitOp("user_input")
        yield* child.startTurn(input.id)
        yield* child.emit(message("working"))
        yield* child.completeTurn("done")
        yield* child.emit(message("after the turn"), "")
      }))
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(Delegate.turn(handle, "go")))
      assert.deepStrictEqual(msgTypes(events), ["task_started", "agent_message", "agent_message", "task_complete"])
      const next = Option.getOrThrow(yield* handle.nextEvent)
      assert.strictEqual((next.msg as { message: string }).message, "after the turn")
      assert.notInclude(opTypes(yield* child.received), "shutdown")
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), Approvals.layerApproveAll))))

  it.effect("fails with DelegateStopped, saying the delegate ended, when the child exits mid-turn", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      const child = yield* TestAgent.TestAgent
      yield* Effect.fork(Effect.gen(function*() {
        const input = yield* child.awaitOp("user_input")
        yield* child.startTurn(input.id)
        yield* child.crash({ code: 3 })
      }))
      const error = yield* Effect.flip(Stream.runDrain(Delegate.turn(handle, "go")))
      assert.strictEqual(error._tag, "DelegateStopped")
      assert.match(error.message, /^the delegate ended \(agent_exited\) before the end of the turn/)
      const all = yield* readAll(handle)
      assert.deepStrictEqual(all, [])
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(TestAgent.layer(), Approvals.layerApproveAll))))
})

describe("the drain timeout with the live clock (a plain timer, no fiber)", () => {
  const timers = () => process.getActiveResourcesInfo().filter((name) => name === "Timeout").length

  it.live("a child that never acknowledges ends drain_timed_out once the timeout passed", () =>
    Effect.gen(function*() {
      const before = timers()
      const started = Date.now()
      const ended = yield* Effect.scoped(
        Effect.flatMap(Delegate.interactive({ source, drainTimeout: "100 millis" }), (handle) => handle.shutdown)
      )
      assert.strictEqual(ended.reason, "drain_timed_out")
      assert.isAtLeast(Date.now() - started, 95)
      assert.isAtMost(timers(), before, "the drain timer is left")
    }).pipe(Effect.provide(Layer.merge(TestAgent.layer({ hangOnShutdown: true }), Approvals.layerApproveAll))))

  it.live("a child that acknowledges ends at once, and its drain timer is cleared", () =>
    Effect.gen(function*() {
      const before = timers()
      const started = Date.now()
      const ended = yield* Effect.scoped(
        Effect.flatMap(Delegate.interactive({ source, drainTimeout: "1 hour" }), (handle) => handle.shutdown)
      )
      assert.strictEqual(ended.reason, "interrupted")
      assert.isBelow(Date.now() - started, 60_000)
      assert.isAtMost(timers(), before, "the drain timer is left")
    }).pipe(Effect.provide(Layer.merge(TestAgent.layer({}), Approvals.layerApproveAll))))
})
