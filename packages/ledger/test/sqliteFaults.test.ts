import { Approvals, DecidedBy } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { commandRequest } from "./helpers.js"
import { ensureBuilt, runWriter } from "./processes.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-ledger-faults-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
let n = 0
const fresh = () => path.join(root, `f${++n}`, "ledger.db")

/** A second, independent connection to the same file (another process would hold its locks the same way). */
const rawClient = (filename: string) =>
  SqliteClient.make({ filename, disableWAL: true }).pipe(Effect.provide(Reactivity.layer))

/** Opens a SQLite ledger for the rest of the scope. */
const open = (options: Parameters<typeof ApprovalLedger.layerSqlite>[0]) =>
  Effect.map(Layer.build(ApprovalLedger.layerSqlite(options)), Context.get(ApprovalLedger.ApprovalLedger))

/** A 1 MiB tmpfs for the disk-full test (root only; skipped with a notice where it cannot be mounted). */
const tinyDisk = Effect.acquireRelease(
  Effect.sync(() => {
    const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-ledger-full-"))
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint]).status === 0
    if (!mounted) {
      console.warn(`\n⚠ disk-full ledger test SKIPPED: cannot mount a small tmpfs here (needs root)\n`)
      fs.rmSync(mountPoint, { recursive: true, force: true })
      return undefined
    }
    return mountPoint
  }),
  (mountPoint) =>
    Effect.sync(() => {
      if (mountPoint === undefined) return
      spawnSync("umount", [mountPoint])
      fs.rmSync(mountPoint, { recursive: true, force: true })
    })
)

/** Writes a file until the disk is full. */
const fillDisk = (dir: string) => {
  const fd = fs.openSync(path.join(dir, "filler"), "w")
  const chunk = Buffer.alloc(4096, 1)
  try {
    while (true) fs.writeSync(fd, chunk)
  } catch {
    // ENOSPC
  } finally {
    fs.closeSync(fd)
  }
}

const approveAll = Effect.map(Approvals.Approvals, (approvals) => approvals).pipe(
  Effect.provide(Approvals.layerApproveAll)
)

describe("SQLite ledger: bad input and faults", () => {
  it.live("a file that is not a database: a clear error naming the file, the file untouched", () =>
    Effect.gen(function*() {
      const filename = fresh()
      fs.mkdirSync(path.dirname(filename), { recursive: true })
      const garbage = Buffer.from("this is my shopping list, not a database\n".repeat(200))
      fs.writeFileSync(filename, garbage)
      const error = yield* Effect.flip(
        Effect.provide(ApprovalLedger.ApprovalLedger, ApprovalLedger.layerSqlite({ filename }))
      )
      assert.strictEqual(error._tag, "LedgerCorrupt")
      assert.include(error.message, filename)
      assert.include(error.message, "not a SQLite database")
      assert.isTrue(fs.readFileSync(filename).equals(garbage))
      assert.deepStrictEqual(fs.readdirSync(path.dirname(filename)), ["ledger.db"])
    }))

  it.live("a truncated SQLite file is refused as corrupt, untouched", () =>
    Effect.gen(function*() {
      const source = fresh()
      yield* Effect.provide(
        Effect.flatMap(ApprovalLedger.ApprovalLedger, (ledger) => ledger.recordPending(commandRequest(1))),
        ApprovalLedger.layerSqlite({ filename: source })
      )
      const filename = fresh()
      fs.mkdirSync(path.dirname(filename), { recursive: true })
      const bytes = fs.readFileSync(source)
      const broken = Buffer.concat([bytes.subarray(0, 100), Buffer.alloc(4096, 0xab)])
      fs.writeFileSync(filename, broken)
      const error = yield* Effect.flip(
        Effect.provide(ApprovalLedger.ApprovalLedger, ApprovalLedger.layerSqlite({ filename }))
      )
      assert.strictEqual(error._tag, "LedgerCorrupt")
      assert.include(error.message, filename)
      assert.isTrue(fs.readFileSync(filename).equals(broken))
    }))

  it.live("another program's SQLite database is refused, untouched", () =>
    Effect.gen(function*() {
      const filename = fresh()
      fs.mkdirSync(path.dirname(filename), { recursive: true })
      yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* rawClient(filename)
        yield* sql.unsafe("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        yield* sql.unsafe("INSERT INTO users (name) VALUES ('ana')")
      }))
      const before = fs.readFileSync(filename)
      const error = yield* Effect.flip(
        Effect.provide(ApprovalLedger.ApprovalLedger, ApprovalLedger.layerSqlite({ filename }))
      )
      assert.strictEqual(error._tag, "LedgerCorrupt")
      assert.include(error.message, "another program's database (tables users)")
      assert.include(error.message, filename)
      assert.isTrue(fs.readFileSync(filename).equals(before))
    }))

  it.scopedLive("a locked database: the request is still answered, with the fail-closed default, and reported", () =>
    Effect.gen(function*() {
      const filename = fresh()
      const ledger = yield* open({ filename, busyTimeout: 100 })
      const other = yield* rawClient(filename)
      yield* other.unsafe("PRAGMA busy_timeout = 0")
      yield* other.unsafe("BEGIN IMMEDIATE")
      const reported: Array<string> = []
      const approvals = ledger.approvals(yield* approveAll, {
        onFailure: (_request, error) => Effect.sync(() => reported.push(String((error as Error).message)))
      })
      const answer = yield* approvals.command(commandRequest(1))
      assert.isTrue(DecidedBy.isDecided(answer))
      if (!DecidedBy.isDecided(answer)) return
      assert.strictEqual(answer.value, "denied")
      assert.strictEqual(answer.decidedBy._tag, "ServiceFailed")
      assert.strictEqual(reported.length, 1)
      assert.include(reported[0], filename)
      assert.match(reported[0], /locked|busy/i)
      yield* other.unsafe("COMMIT")
      // once the lock is gone, the ledger works again
      const again = yield* approvals.command(commandRequest(2))
      assert.deepStrictEqual(again, DecidedBy.decided("approved", { _tag: "Fixed", setting: "approve-all" }))
    }))

  it.scopedLive("remote mode: the decision cannot be written → fail closed at once, not wait for another answer", () =>
    Effect.gen(function*() {
      const filename = fresh()
      const ledger = yield* open({ filename, busyTimeout: 50 })
      const other = yield* rawClient(filename)
      yield* other.unsafe("PRAGMA busy_timeout = 0")
      const inner = yield* approveAll
      // the decider answers, but by then another connection holds the write lock
      const locking = {
        ...inner,
        command: () => Effect.zipRight(Effect.orDie(other.unsafe("BEGIN IMMEDIATE")), inner.command(commandRequest(1)))
      }
      const approvals = ledger.approvals(locking, { remote: true })
      const answer = yield* approvals.command(commandRequest(1))
      yield* other.unsafe("COMMIT")
      assert.isTrue(DecidedBy.isDecided(answer) && answer.decidedBy._tag === "ServiceFailed")
      assert.isTrue(DecidedBy.isDecided(answer) && answer.value === "denied")
    }))

  it.scopedLive("tampering is detected: verify names the first broken entry; removed entries too", () =>
    Effect.gen(function*() {
      const filename = fresh()
      const ledger = yield* open({ filename })
      const approvals = ledger.approvals(yield* approveAll)
      for (let i = 0; i < 5; i++) yield* approvals.command(commandRequest(i))
      const intact = yield* ledger.verify
      assert.deepStrictEqual(intact._tag, "Intact")
      assert.strictEqual(intact.entries, 15)
      const other = yield* rawClient(filename)
      yield* other.unsafe(
        "UPDATE deputy_ledger_entries SET outcome = 'denied', decided_by = NULL WHERE seq = 6"
      )
      const broken = yield* ledger.verify
      assert.deepStrictEqual(broken, {
        _tag: "Broken",
        entries: 5,
        seq: 6,
        reason: "its content does not match its hash"
      })
      // a forger who also fixes the hash breaks the link of the next entry
      const removedFilename = fresh()
      const second = yield* open({ filename: removedFilename })
      const secondApprovals = second.approvals(yield* approveAll)
      for (let i = 0; i < 3; i++) yield* secondApprovals.command(commandRequest(i))
      const secondRaw = yield* rawClient(removedFilename)
      yield* secondRaw.unsafe("DELETE FROM deputy_ledger_entries WHERE seq = 9")
      const truncated = yield* second.verify
      assert.strictEqual(truncated._tag, "Broken")
      if (truncated._tag === "Broken") {
        assert.strictEqual(truncated.seq, 9)
        assert.include(truncated.reason, "removed")
      }
      yield* secondRaw.unsafe("DELETE FROM deputy_ledger_entries WHERE seq = 4")
      const gap = yield* second.verify
      assert.deepStrictEqual(gap, {
        _tag: "Broken",
        entries: 3,
        seq: 4,
        reason: "entry 4 is missing (the next entry is 5)"
      })
    }))

  it.scopedLive("a full disk: requests are still answered, with the fail-closed default, and reported", () =>
    Effect.gen(function*() {
      const mountPoint = yield* tinyDisk
      if (mountPoint === undefined) return
      const filename = path.join(mountPoint, "ledger.db")
      const ledger = yield* open({ filename })
      const reported: Array<string> = []
      const approvals = ledger.approvals(yield* approveAll, {
        onFailure: (_request, error) => Effect.sync(() => reported.push(String((error as Error).message)))
      })
      assert.deepStrictEqual(
        yield* approvals.command(commandRequest(0)),
        DecidedBy.decided("approved", { _tag: "Fixed", setting: "approve-all" })
      )
      fillDisk(mountPoint)
      let failed: DecidedBy.Answer<unknown> | undefined
      for (let i = 1; i < 2000 && failed === undefined; i++) {
        const answer = yield* approvals.command(commandRequest(i))
        if (DecidedBy.isDecided(answer) && answer.decidedBy._tag === "ServiceFailed") failed = answer
      }
      assert.isDefined(failed, "the disk never filled up")
      if (!DecidedBy.isDecided(failed!)) return
      assert.strictEqual(failed.value, "denied")
      assert.isAtLeast(reported.length, 1)
      assert.match(reported[0], /full/i)
      assert.include(reported[0], filename)
      // what was recorded before the disk filled is intact
      fs.rmSync(path.join(mountPoint, "filler"))
      assert.strictEqual((yield* ledger.verify)._tag, "Intact")
    }))

  it("processAlive: this process is alive, a finished one is not, another host is unknown", () => {
    const identity = { host: os.hostname(), pid: process.pid, runId: "r" }
    assert.strictEqual(ApprovalLedger.processAlive(identity), true)
    const child = spawnSync(process.execPath, ["-e", "0"])
    assert.strictEqual(ApprovalLedger.processAlive({ ...identity, pid: child.pid! }), false)
    assert.strictEqual(ApprovalLedger.processAlive({ ...identity, host: "elsewhere" }), undefined)
  })

  it("the default file is $DEPUTY_HOME/ledger.db, else ~/.deputy/ledger.db", () => {
    assert.strictEqual(ApprovalLedger.defaultFilename({ DEPUTY_HOME: "/srv/deputy" }), "/srv/deputy/ledger.db")
    assert.strictEqual(ApprovalLedger.defaultFilename({}), path.join(os.homedir(), ".deputy", "ledger.db"))
  })
})

describe("SQLite ledger: two real writer processes", () => {
  beforeAll(() => ensureBuilt(), 120_000)

  it.scopedLive(
    "2 processes × 1,000 settlements on a fresh file at once: nothing lost, the chain verifies",
    () =>
      Effect.gen(function*() {
        const filename = fresh()
        const results = yield* Effect.promise(() =>
          Promise.all([
            runWriter(["sqlite", filename, "alpha", "1000"]),
            runWriter(["sqlite", filename, "beta", "1000"])
          ])
        )
        assert.deepStrictEqual(results.map((result) => result.failed), [0, 0])
        const ledger = yield* open({ filename })
        const verified = yield* ledger.verify
        assert.deepStrictEqual(verified._tag, "Intact")
        assert.strictEqual(verified.entries, 6000)
        const settled = yield* ledger.list({ type: "settled" })
        assert.strictEqual(settled.length, 2000)
        assert.strictEqual(new Set(settled.map((entry) => entry.requestId)).size, 2000)
        assert.strictEqual(new Set(settled.map((entry) => entry.process.pid)).size, 2)
        assert.strictEqual((yield* ledger.pending()).length, 0)
        // both writers interleaved (neither ran entirely before the other)
        const alpha = settled.filter((entry) => entry.delegateId === "alpha").map((entry) => entry.seq)
        const beta = settled.filter((entry) => entry.delegateId === "beta").map((entry) => entry.seq)
        assert.isTrue(Math.min(...alpha) < Math.max(...beta) && Math.min(...beta) < Math.max(...alpha))
      }),
    240_000
  )
})
