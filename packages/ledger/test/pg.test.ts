import { ApprovalLedger } from "@deputy/ledger"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { contract } from "./contract.js"
import { dropTables, exec, pgUrl, runPrefix, skipPg } from "./pgSetup.js"
import { ensureBuilt, runWriter } from "./processes.js"

let n = 0
afterAll(() => dropTables(runPrefix))

describe.skipIf(skipPg)("PostgreSQL", () => {
  contract("PostgreSQL", () => ApprovalLedger.layerPg({ url: pgUrl, tablePrefix: `${runPrefix}c${++n}_` }), {
    liveClock: true
  })

  it.scopedLive("tables of the same names not made by Deputy are refused, untouched", () =>
    Effect.gen(function*() {
      const tablePrefix = `${runPrefix}foreign_`
      const ledger = yield* Effect.map(
        Layer.build(ApprovalLedger.layerPg({ url: pgUrl, tablePrefix: `${runPrefix}probe_` })),
        Context.get(ApprovalLedger.ApprovalLedger)
      )
      assert.strictEqual(ledger.target, "postgresql://127.0.0.1:5432/test")
      yield* Effect.promise(() => exec(`CREATE TABLE ${tablePrefix}entries (id INTEGER PRIMARY KEY)`))
      const error = yield* Effect.flip(Effect.scoped(Layer.build(ApprovalLedger.layerPg({ url: pgUrl, tablePrefix }))))
      assert.strictEqual(error._tag, "LedgerCorrupt")
      assert.include(error.message, `${tablePrefix}entries`)
    }))

  describe("two real writer processes", () => {
    beforeAll(() => ensureBuilt(), 120_000)

    it.scopedLive(
      "2 processes × 1,000 settlements at once: nothing lost, the chain verifies",
      () =>
        Effect.gen(function*() {
          const tablePrefix = `${runPrefix}w_`
          const results = yield* Effect.promise(() =>
            Promise.all([
              runWriter(["pg", pgUrl, "alpha", "1000", tablePrefix]),
              runWriter(["pg", pgUrl, "beta", "1000", tablePrefix])
            ])
          )
          assert.deepStrictEqual(results.map((result) => result.failed), [0, 0])
          const ledger = yield* Effect.map(
            Layer.build(ApprovalLedger.layerPg({ url: pgUrl, tablePrefix })),
            Context.get(ApprovalLedger.ApprovalLedger)
          )
          const verified = yield* ledger.verify
          assert.deepStrictEqual(verified._tag, "Intact")
          assert.strictEqual(verified.entries, 6000)
          const settled = yield* ledger.list({ type: "settled" })
          assert.strictEqual(new Set(settled.map((entry) => entry.requestId)).size, 2000)
          assert.strictEqual(new Set(settled.map((entry) => entry.process.pid)).size, 2)
        }),
      240_000
    )
  })
})
