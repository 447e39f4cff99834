import { Agent, TraceContext } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
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
