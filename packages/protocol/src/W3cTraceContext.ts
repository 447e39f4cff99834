/**
 * W3C trace context carried on submissions (`traceparent` / `tracestate`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { optionalNullable, struct } from "./internal/schema.js"

/**
 * `{traceparent?, tracestate?}`: the W3C trace context a submission carries across the parent/child boundary.
 *
 * @since 0.1.0
 * @category schemas
 */
export const W3cTraceContext = struct({
  traceparent: optionalNullable(Schema.String),
  tracestate: optionalNullable(Schema.String)
}).annotations({ identifier: "W3cTraceContext" })

/**
 * @since 0.1.0
 * @category models
 */
export type W3cTraceContext = typeof W3cTraceContext.Type
