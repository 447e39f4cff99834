/**
 * What a caller sends a child: an op with its id and trace context.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { inner, optionalNullable, protoSafe, struct } from "./internal/schema.js"
import { Op } from "./Op.js"
import { W3cTraceContext } from "./W3cTraceContext.js"

/**
 * `{id, op, trace?}`. `id` is a fresh UUID v7 when the delegate creates it; forwarded submissions keep theirs.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Submission = protoSafe(
  struct({
    id: Schema.String,
    op: inner(Op),
    trace: optionalNullable(W3cTraceContext)
  }).annotations({ identifier: "Submission" })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Submission = typeof Submission.Type
