import { ApprovalInbox, type ApprovalRequest, Approvals } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { hashOf } from "../src/internal/ledger.js"
import { type DbRow, fromDb } from "../src/internal/sqlStore.js"
import { commandRequest } from "./helpers.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-ledger-hostile-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
let n = 0
const fresh = () => path.join(root, `h${++n}`, "ledger.db")

const rawClient = (filename: string) =>
  SqliteClient.make({ filename, disableWAL: true }).pipe(Effect.provide(Reactivity.layer))

const open = (options: Parameters<typeof ApprovalLedger.layerSqlite>[0]) =>
  Effect.map(Layer.build(ApprovalLedger.layerSqlite(options)), Context.get(ApprovalLedger.ApprovalLedger))

const approveAll = Effect.map(Approvals.Approvals, (approvals) => approvals).pipe(
  Effect.provide(Approvals.layerApproveAll)
)

const person = { _tag: "Person", channel: "inbox", name: "ana" } as const

describe("hostile input to the SQLite ledger", () => {
  it.scopedLive("request ids with SQL metacharacters and unicode are stored verbatim and answered alone", () =>
    Effect.gen(function*() {
      const ledger = yield* open({ filename: fresh() })
      const ids = [
        "d1'; DROP TABLE deputy_ledger_entries; --",
        "d1\" OR 1=1 --",
        "d1%_\\",
        "d1\u202e\u0000\u{1f4a3}",
        "d1/command/" + "x".repeat(5000)
      ]
      for (const id of ids) {
        yield* ledger.recordPending({ ...commandRequest(id), id } as ApprovalRequest.CommandApproval)
      }
      const victim = commandRequest("victim")
      yield* ledger.recordPending(victim)
      for (const id of ids) {
        const decision = yield* ledger.answer(id, ApprovalInbox.decision("denied"), person)
        assert.strictEqual(decision.entry.requestId, id)
      }
      // the other request is untouched: still pending, not decided by any of the above
      assert.isUndefined(yield* ledger.decision(victim.id))
      const pending = yield* ledger.pending()
      assert.deepStrictEqual(pending.map((entry) => entry.request.id), [victim.id])
      assert.strictEqual((yield* ledger.verify)._tag, "Intact")
    }))

  it.scopedLive("an 8 MB command is recorded whole (or refused with a typed error), never a defect", () =>
    Effect.gen(function*() {
      const ledger = yield* open({ filename: fresh() })
      const request = commandRequest("big")
      const huge: ApprovalRequest.CommandApproval = {
        ...request,
        event: { ...request.event, command: ["sh", "-c", "y".repeat(8 * 1024 * 1024)] }
      }
      const exit = yield* Effect.exit(ledger.recordPending(huge))
      if (Exit.isFailure(exit)) {
        assert.isTrue(exit.cause._tag === "Fail", "a typed failure, not a defect")
        return
      }
      const [stored] = yield* ledger.pending()
      assert.strictEqual(stored.entry.digest, ApprovalLedger.digest(huge))
      assert.strictEqual((yield* ledger.verify)._tag, "Intact")
    }))

  it.scopedLive("a forger who edits an entry and recomputes its hash is caught at the next entry", () =>
    Effect.gen(function*() {
      const filename = fresh()
      const ledger = yield* open({ filename })
      const approvals = ledger.approvals(yield* approveAll)
      for (let i = 0; i < 3; i++) yield* approvals.command(commandRequest(i))
      const raw = yield* rawClient(filename)
      const rows = yield* raw.unsafe<Record<string, unknown>>("SELECT * FROM deputy_ledger_entries WHERE seq = 5")
      const row = rows[0]!
      // the row as the ledger reads it (every column, whatever the schema), with another outcome
      const { hash: _, ...stored } = fromDb(row as unknown as DbRow)
      const forged = { ...stored, outcome: "denied" }
      assert.notStrictEqual(row.outcome, "denied")
      const hash = hashOf(forged)
      yield* raw.unsafe("UPDATE deputy_ledger_entries SET outcome = 'denied', hash = ? WHERE seq = 5", [hash])
      const result = yield* ledger.verify
      assert.strictEqual(result._tag, "Broken")
      if (result._tag === "Broken") assert.strictEqual(result.seq, 6)
    }))

  it.scopedLive("a ledger file replaced by a symlink to another file fails closed and leaves that file alone", () =>
    Effect.gen(function*() {
      const filename = fresh()
      fs.mkdirSync(path.dirname(filename), { recursive: true })
      const victim = path.join(root, `victim-${n}.txt`)
      fs.writeFileSync(victim, "export PATH=/usr/bin\n".repeat(100))
      const before = fs.readFileSync(victim)
      fs.symlinkSync(victim, filename)
      const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(open({ filename }), (ledger) => ledger.verify)))
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(fs.readFileSync(victim), before)
    }))
})
