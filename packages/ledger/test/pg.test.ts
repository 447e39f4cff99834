import { ApprovalLedger } from "@deputy/ledger"
import { afterAll, describe } from "@effect/vitest"
import { contract } from "./contract.js"
import { dropTables, pgUrl, runPrefix, skipPg } from "./pgSetup.js"

let n = 0
afterAll(() => dropTables(runPrefix))

describe.skipIf(skipPg)("PostgreSQL", () => {
  contract("PostgreSQL", () => ApprovalLedger.layerPg({ url: pgUrl, tablePrefix: `${runPrefix}c${++n}_` }), {
    liveClock: true
  })
})
