/**
 * One trace across processes, with the real Codex exporting its spans (OTLP/HTTP, JSON) to a receiver on
 * 127.0.0.1: Codex's spans share the delegate's trace id and have one of Deputy's spans as an ancestor.
 */
import { CodexAgent, ScriptedModel } from "@deputy/codex"
import { Approvals, Delegate } from "@deputy/core"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { codexVersions, provideNode } from "./utils.js"

interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly name: string
}

/** A minimal OTLP/HTTP receiver (JSON): every span it is sent; `until` completes once `done` holds for them. */
const receiver = (done: (spans: ReadonlyArray<OtlpSpan>) => boolean) =>
  Effect.gen(function*() {
    const spans: Array<OtlpSpan> = []
    const complete = yield* Deferred.make<ReadonlyArray<OtlpSpan>>()
    const server = yield* Effect.acquireRelease(
      Effect.async<http.Server>((resume) => {
        const server = http.createServer((request, response) => {
          const chunks: Array<Buffer> = []
          request.on("data", (chunk: Buffer) => chunks.push(chunk))
          request.on("end", () => {
            try {
              const body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
              for (const resource of body.resourceSpans ?? []) {
                for (const scope of resource.scopeSpans ?? []) {
                  for (const span of scope.spans ?? []) spans.push(span)
                }
              }
            } catch {
              // not JSON: not ours to read
            }
            response.writeHead(200, { "content-type": "application/json" }).end("{}")
            if (done(spans)) Deferred.unsafeDone(complete, Effect.succeed([...spans]))
          })
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
        })
    )
    const port = (server.address() as AddressInfo).port
    return { endpoint: `http://127.0.0.1:${port}/v1/traces`, spans: Deferred.await(complete) }
  })

/** A tracer that records the spans Deputy makes (around Effect's own). */
const recordingTracer = Effect.map(Effect.tracer, (base) => {
  const made: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (...args) => {
      const span = base.span(...args)
      made.push(span)
      return span
    },
    context: base.context
  })
  return { tracer, made }
})

describe.each(codexVersions)("one trace across Deputy and Codex $version", ({ binary }) => {
  it.scopedLive("Codex's spans share the delegate's trace id and descend from a span of Deputy's", () =>
    Effect.gen(function*() {
      const { made, tracer } = yield* recordingTracer
      let traceId = ""
      const otlp = yield* receiver((spans) =>
        traceId !== "" &&
        ["thread/start", "turn/start"].every((name) =>
          spans.some((span) => span.name === name && span.traceId === traceId)
        )
      )
      const codex = CodexAgent.layerScripted({ binary, otlpTracesEndpoint: otlp.endpoint }).pipe(
        Layer.provideMerge(ScriptedModel.layer(ScriptedModel.messageScenario("traced"))),
        Layer.provide(NodeContext.layer)
      )
      const ended = yield* Effect.gen(function*() {
        const root = yield* Effect.currentSpan
        traceId = root.traceId
        const handle = yield* Delegate.oneShot({ source: "review", input: "hello", drainTimeout: "3 seconds" })
        yield* Stream.runDrain(handle.events)
        return yield* handle.ended
      }).pipe(
        Effect.scoped,
        Effect.withSpan("test.parent"),
        Effect.provide(Layer.merge(codex, Approvals.layerDenyAll)),
        Effect.withTracer(tracer)
      )
      assert.strictEqual(ended.reason, "completed")
      // Codex exports in batches, the last at its exit (the delegate's end): wait for them.
      const spans = yield* otlp.spans.pipe(
        Effect.timeoutFail({
          duration: "15 seconds",
          onTimeout: () => "Codex exported no span of the delegate's trace"
        })
      )
      const ours = new Set(made.map((span) => span.spanId))
      const byId = new Map(spans.map((span) => [span.spanId, span]))
      for (const name of ["thread/start", "turn/start"]) {
        const span = spans.find((span) => span.name === name && span.traceId === traceId)!
        // Up Codex's own spans to the first parent Codex did not make: it must be one of Deputy's.
        let current: OtlpSpan = span
        while (byId.has(current.parentSpanId)) current = byId.get(current.parentSpanId)!
        assert.isTrue(
          ours.has(current.parentSpanId),
          `${name}'s ancestor ${current.parentSpanId} is not a span of Deputy's`
        )
      }
      assert.isTrue(made.some((span) => span.traceId === traceId && span.name !== "test.parent"))
    }).pipe(provideNode))
})
