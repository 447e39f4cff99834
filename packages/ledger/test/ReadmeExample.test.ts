import { Approvals, DecidedBy } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { commandRequest } from "./helpers.js"

// the layer of the README's ledger example, with the memory ledger: the Approvals it provides is the recording one
it.effect("README: layerApprovals over layerDenyAll records what it answers", () =>
  Effect.gen(function*() {
    const approvals = yield* Approvals.Approvals
    const answer = yield* approvals.command(commandRequest(1))
    assert.deepStrictEqual(answer, DecidedBy.decided("denied", { _tag: "Fixed", setting: "deny-all" }))
    const ledger = yield* ApprovalLedger.ApprovalLedger
    const settled = yield* ledger.list({ type: "settled" })
    assert.strictEqual(settled.length, 1)
    assert.strictEqual(settled[0].outcome, "denied")
  }).pipe(
    Effect.provide(
      ApprovalLedger.layerApprovals({ deadline: "10 minutes", remote: true }).pipe(
        Layer.provideMerge(ApprovalLedger.layerMemory()),
        Layer.provide(Approvals.layerDenyAll)
      )
    )
  ))
