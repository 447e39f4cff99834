/**
 * SPEC §4: a span per delegate and per routed request, children of the caller's span; submissions the
 * delegate creates carry its W3C context; forwarded ones keep theirs. Exported through OpenTelemetry.
 */
import { Approvals, Delegate, TestAgent } from "@deputy/core"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { assert, describe, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execRequest } from "./helpers.js"

const exporter = new InMemorySpanExporter()
const tracing = NodeSdk.layer(() => ({
  resource: { serviceName: "deputy-test" },
  spanProcessor: new SimpleSpanProcessor(exporter)
}))

const parentId = (span: ReadableSpan) => span.parentSpanContext?.spanId

describe("tracing", () => {
  it.effect("delegate and request spans nest under the caller; submissions carry the right traceparent", () =>
    Effect.gen(function*() {
      exporter.reset()
      const received = yield* Effect.gen(function*() {
        const child = yield* TestAgent.TestAgent
        yield* Effect.scoped(Effect.gen(function*() {
          const handle = yield* Delegate.interactive({ source: "review", id: "traced" })
          yield* child.emit(execRequest("c1"), "t")
          yield* child.awaitOp("exec_approval")
          yield* handle.submit({ type: "compact" }).pipe(Effect.withSpan("caller.submit"))
        }))
        return yield* child.received
      }).pipe(Effect.withSpan("caller"), Effect.provide(Layer.merge(TestAgent.layer(), Approvals.layerApproveAll)))

      const spans = exporter.getFinishedSpans()
      const byName = (name: string) => {
        const found = spans.filter((span) => span.name === name)
        assert.strictEqual(found.length, 1, `one ${name} span`)
        return found[0]!
      }
      const caller = byName("caller")
      const callerSubmit = byName("caller.submit")
      const delegate = byName("deputy.delegate")
      const approval = byName("deputy.approval")
      assert.strictEqual(parentId(delegate), caller.spanContext().spanId)
      assert.strictEqual(parentId(approval), delegate.spanContext().spanId)
      assert.strictEqual(delegate.spanContext().traceId, caller.spanContext().traceId)
      assert.strictEqual(delegate.attributes["deputy.delegate_id"], "traced")
      assert.strictEqual(delegate.attributes["deputy.end_reason"], "interrupted")
      assert.strictEqual(approval.attributes["deputy.kind"], "command")
      assert.strictEqual(approval.attributes["deputy.outcome"], "approved")
      assert.isNumber(approval.attributes["deputy.wait_ms"])

      const traceparentOf = (span: ReadableSpan) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`
      const byOp = (type: string) => received.find((submission) => submission.op.type === type)!
      assert.strictEqual(byOp("exec_approval").trace?.traceparent, traceparentOf(delegate))
      assert.strictEqual(byOp("interrupt").trace?.traceparent, traceparentOf(delegate))
      assert.strictEqual(byOp("shutdown").trace?.traceparent, traceparentOf(delegate))
      assert.strictEqual(byOp("compact").trace?.traceparent, traceparentOf(callerSubmit))
    }).pipe(Effect.provide(tracing)))
})
