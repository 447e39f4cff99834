import { EventMsg, Op, Submission } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"

const runs = Number(process.env.DEPUTY_PROPERTY_RUNS ?? 200)

/** decode(encode(a)) equals a, for values generated from the schema itself. */
const encodeThenDecodeIsIdentity = <A, I>(schema: Schema.Schema<A, I>) =>
  it.effect.prop(
    `${String(schema.ast.annotations[Symbol.for("effect/annotation/Identifier")] ?? "schema")}: decode ∘ encode = id`,
    [Arbitrary.make(schema)],
    ([value]) =>
      Effect.gen(function*() {
        const encoded = yield* Schema.encode(schema)(value)
        const decoded = yield* Schema.decodeUnknown(schema)(encoded)
        assert.deepStrictEqual(decoded, value)
      }),
    { fastCheck: { numRuns: runs } }
  )

describe("round-trip properties", () => {
  encodeThenDecodeIsIdentity(Submission.Submission)
  encodeThenDecodeIsIdentity(Op.Op)
  encodeThenDecodeIsIdentity(EventMsg.EventMsg)

  it("generated values cover many event types", () => {
    const samples = FastCheck.sample(Arbitrary.make(EventMsg.EventMsg), 400)
    assert.isAtLeast(new Set(samples.map((msg) => msg.type)).size, 10)
  })
})
