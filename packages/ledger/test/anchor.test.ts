import { Approvals } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { commandRequest } from "./helpers.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-ledger-anchor-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
let n = 0
const fresh = () => path.join(root, `a${++n}`, "ledger.db")

const rawClient = (filename: string) =>
  SqliteClient.make({ filename, disableWAL: true }).pipe(Effect.provide(Reactivity.layer))

const open = (options: Parameters<typeof ApprovalLedger.layerSqlite>[0]) =>
  Effect.map(Layer.build(ApprovalLedger.layerSqlite(options)), Context.get(ApprovalLedger.ApprovalLedger))

const approveAll = Effect.map(Approvals.Approvals, (approvals) => approvals).pipe(
  Effect.provide(Approvals.layerApproveAll)
)

/** Five approved requests: 15 entries (pending; then decided + settled in one transaction). */
const fiveApprovals = (filename: string) =>
  Effect.gen(function*() {
    const ledger = yield* open({ filename })
    const approvals = ledger.approvals(yield* approveAll)
    for (let i = 0; i < 5; i++) yield* approvals.command(commandRequest(i))
    const intact = yield* ledger.verify
    assert.strictEqual(intact._tag, "Intact")
    assert.strictEqual(intact.entries, 15)
    return ledger
  })

/** What a careful forger does: removes the tail and rewinds the head row to the new last entry. */
const truncateTail = (filename: string, keep: number) =>
  Effect.gen(function*() {
    const raw = yield* rawClient(filename)
    yield* raw.unsafe(`DELETE FROM deputy_ledger_entries WHERE seq > ${keep}`)
    yield* raw.unsafe(
      `UPDATE deputy_ledger_head SET seq = ${keep}, hash = (SELECT hash FROM deputy_ledger_entries WHERE seq = ${keep})`
    )
  })

describe("the ledger's anchor outside the database", () => {
  it.scopedLive("the tail removed and the head rewound: verify names the missing entry", () =>
    Effect.gen(function*() {
      const filename = fresh()
      const ledger = yield* fiveApprovals(filename)
      yield* truncateTail(filename, 11)
      const result = yield* ledger.verify
      assert.strictEqual(result._tag, "AnchorMismatch")
      if (result._tag !== "AnchorMismatch") return
      assert.strictEqual(result.entries, 11)
      assert.strictEqual(result.seq, 12)
      assert.strictEqual(result.anchorSeq, 15)
      assert.include(result.reason, "the ledger ends at 11 but its anchor says 15")
    }))

  it.scopedLive("a later append does not launder a truncation: the anchor never moves backwards", () =>
    Effect.gen(function*() {
      const filename = fresh()
      const ledger = yield* fiveApprovals(filename)
      yield* truncateTail(filename, 4)
      const approvals = ledger.approvals(yield* approveAll)
      yield* approvals.command(commandRequest(9))
      const result = yield* ledger.verify
      assert.strictEqual(result._tag, "AnchorMismatch")
      if (result._tag === "AnchorMismatch") assert.strictEqual(result.anchorSeq, 15)
    }))
})
