import { ApprovalInbox } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import { commandRequest } from "./helpers.js"

/** One step a process may take against a shared ledger. */
type Step =
  | { readonly _tag: "answer"; readonly request: number; readonly client: number; readonly approve: boolean }
  | { readonly _tag: "lost"; readonly request: number }

const step: FastCheck.Arbitrary<Step> = FastCheck.oneof(
  FastCheck.record({
    _tag: FastCheck.constant("answer" as const),
    request: FastCheck.integer({ min: 0, max: 4 }),
    client: FastCheck.integer({ min: 0, max: 3 }),
    approve: FastCheck.boolean()
  }),
  FastCheck.record({ _tag: FastCheck.constant("lost" as const), request: FastCheck.integer({ min: 0, max: 4 }) })
)

describe("ApprovalLedger properties", () => {
  it.effect.prop(
    "any concurrent mix of answers and lost-settlements: one decision per request, every loser told, chain intact",
    [FastCheck.array(step, { minLength: 1, maxLength: 30 })],
    ([steps]) =>
      Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        for (let i = 0; i < 5; i++) yield* ledger.recordPending(commandRequest(i))
        const exits = yield* Effect.forEach(steps, (s) =>
          Effect.exit<unknown, unknown, never>(
            s._tag === "answer"
              ? ledger.answer(
                commandRequest(s.request).id,
                ApprovalInbox.decision(s.approve ? "approved" : "denied"),
                { _tag: "InboxClient", client: `c${s.client}` }
              )
              : ledger.settleLost({ requestIds: [commandRequest(s.request).id] }, "gone")
          ), { concurrency: "unbounded" })
        const decided = yield* ledger.list({ type: "decided" })
        const ids = decided.map((entry) => entry.requestId)
        assert.strictEqual(new Set(ids).size, ids.length, "at most one decision per request")
        const touched = new Set(steps.map((s) => s.request))
        assert.strictEqual(ids.length, touched.size, "every request something answered is decided")
        const answers = steps.filter((s) => s._tag === "answer").length
        const won = exits.filter((exit, i) => steps[i]._tag === "answer" && exit._tag === "Success").length
        const rejected = (yield* ledger.list({ type: "rejected" })).length
        assert.strictEqual(won + rejected, answers, "every answer either won or was recorded rejected")
        assert.strictEqual((yield* ledger.pending()).length, 5 - touched.size)
        assert.strictEqual((yield* ledger.verify)._tag, "Intact")
      }).pipe(Effect.provide(ApprovalLedger.layerMemory())),
    { fastCheck: { numRuns: 100 } }
  )
})
