/**
 * W3C trace context for submissions and child processes: read the current span as a `traceparent`,
 * and continue a remote `traceparent` as a parent span.
 *
 * @since 0.1.0
 */
import type { W3cTraceContext } from "@deputy/protocol"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/**
 * The W3C context of a span: `traceparent` (`00-<trace id>-<span id>-<flags>`), plus `tracestate` if given.
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromSpan = (span: Tracer.AnySpan, tracestate?: string): W3cTraceContext.W3cTraceContext => ({
  traceparent: `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`,
  ...(tracestate ? { tracestate } : {})
})

/**
 * The W3C context of the current span, if there is one.
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<Option.Option<W3cTraceContext.W3cTraceContext>> = Effect.map(
  Effect.option(Effect.currentParentSpan),
  Option.map((span) => fromSpan(span))
)

/**
 * A remote parent span from a W3C context, to continue its trace (`Effect.withParentSpan`).
 *
 * @since 0.1.0
 * @category conversions
 */
export const toExternalSpan = (context: W3cTraceContext.W3cTraceContext): Option.Option<Tracer.ExternalSpan> => {
  const match = context.traceparent ? traceparentPattern.exec(context.traceparent) : null
  if (match === null) return Option.none()
  return Option.some(Tracer.externalSpan({ traceId: match[2]!, spanId: match[3]!, sampled: match[4] === "01" }))
}

/**
 * Environment variables carrying a W3C context to a child process (`TRACEPARENT`, `TRACESTATE`).
 *
 * @since 0.1.0
 * @category conversions
 */
export const toEnv = (context: W3cTraceContext.W3cTraceContext): Record<string, string> => ({
  ...(context.traceparent ? { TRACEPARENT: context.traceparent } : {}),
  ...(context.tracestate ? { TRACESTATE: context.tracestate } : {})
})
