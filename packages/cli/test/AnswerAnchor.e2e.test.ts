/**
 * `deputy log --verify` and the ledger's anchor, end to end (the `deputy` bin): a ledger whose tail was
 * removed and whose head row was rewound (a truncation the hash chain alone cannot see) exits 4 with
 * `problem: "anchor_mismatch"`; a chain broken in the middle exits 3 with `problem: "broken_chain"`. The same
 * for a PostgreSQL ledger, whose anchor the CLI keeps in `$DEPUTY_HOME` (`pgAnchorFile`); a machine that never
 * anchored the shared ledger starts at its head (no false alarm). The PostgreSQL tests skip with a notice
 * when there is no server, unless `DEPUTY_REQUIRE_POSTGRES=1`.
 */
import { ApprovalLedger } from "@deputy/ledger"
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { afterAll, afterEach } from "vitest"
import * as Cli from "./utils/cli.js"

interface Sqlite {
  exec(sql: string): void
  close(): void
}
const Database = createRequire(import.meta.url)("better-sqlite3") as new(file: string) => Sqlite

/** What a careful forger does: removes the entries after `keep` and rewinds the head row to it. */
const truncation = (keep: number) => [
  `DELETE FROM deputy_ledger_entries WHERE seq > ${keep}`,
  `UPDATE deputy_ledger_head SET seq = ${keep}, hash = (SELECT hash FROM deputy_ledger_entries WHERE seq = ${keep})`
]

/** Two runs whose one request each is denied by the mode: 6 entries. */
const twoRuns = async (ledger: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  for (const word of ["one", "two"]) {
    const run = await Cli.run([
      "run",
      "--approval",
      "deny",
      ...ledger,
      "--agent-command",
      Cli.agentCommand(),
      `run:echo ${word}`
    ], { env })
    assert.strictEqual(run.code, 0, run.stderr)
  }
}

const verify = async (ledger: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const result = await Cli.run(["log", "--verify", "--json", ...ledger], { env })
  return { code: result.code, record: JSON.parse(result.stdout) as Record<string, unknown>, stderr: result.stderr }
}

describe("deputy log --verify: the anchor (SQLite)", () => {
  afterEach(Cli.stopAll)

  it("a truncated ledger exits 4 (anchor_mismatch); a chain broken inside exits 3 (broken_chain)", async () => {
    const dir = Cli.tempDir()
    const file = path.join(dir, "ledger.db")
    const ledger = ["--ledger", `sqlite:${file}`]
    await twoRuns(ledger)
    const intact = await verify(ledger)
    assert.strictEqual(intact.code, 0, intact.stderr)
    assert.deepStrictEqual(intact.record.entries, 6)

    const db = new Database(file)
    for (const statement of truncation(3)) db.exec(statement)
    db.close()
    const truncated = await verify(ledger)
    assert.strictEqual(truncated.code, 4, JSON.stringify(truncated.record))
    assert.deepInclude(truncated.record, {
      intact: false,
      problem: "anchor_mismatch",
      entries: 3,
      broken_seq: 4,
      anchor: `${file}.anchor`,
      anchor_seq: 6
    })
    const text = await Cli.run(["log", "--verify", ...ledger])
    assert.strictEqual(text.code, 4)
    assert.include(text.stdout, "DISAGREES WITH ITS ANCHOR at entry #4")
    assert.include(text.stdout, "entries 4–6 were removed")

    const rewritten = new Database(file)
    rewritten.exec(`UPDATE deputy_ledger_entries SET data = replace(data, 'echo one', 'echo 0ne') WHERE seq = 1`)
    rewritten.close()
    const broken = await verify(ledger)
    assert.strictEqual(broken.code, 3, JSON.stringify(broken.record))
    assert.deepInclude(broken.record, { intact: false, problem: "broken_chain", broken_seq: 1 })
  }, 60_000)
})

// ---- PostgreSQL ------------------------------------------------------------------------------------------

const serverUrl = process.env.DEPUTY_TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test"
const database = `deputy_answer_${process.pid}_${Date.now().toString(36)}`
const ledgerUrl = serverUrl.replace(/\/[^/?]*(\?|$)/, `/${database}$1`)

/** Runs SQL statements on a server (with the `pg` client the ledger uses); false when it cannot. */
const admin = (url: string, statements: ReadonlyArray<string>): boolean => {
  try {
    execFileSync(process.execPath, [
      "-e",
      `const pg=require("pg");const c=new pg.Client(${JSON.stringify(url)});` +
      `c.connect().then(async()=>{for(const s of ${JSON.stringify(statements)})await c.query(s)}).then(()=>c.end())` +
      `.then(()=>process.exit(0),(e)=>{console.error(String(e));process.exit(1)})`
    ], { stdio: ["ignore", "ignore", "inherit"], timeout: 15_000 })
    return true
  } catch {
    return false
  }
}

const available = admin(serverUrl, [`CREATE DATABASE ${database}`])
const required = process.env.DEPUTY_REQUIRE_POSTGRES === "1"
if (!available && !required) {
  console.warn(
    `\n⚠ PostgreSQL anchor CLI test SKIPPED: no server at ${serverUrl} (DEPUTY_REQUIRE_POSTGRES=1 makes it fail)\n`
  )
}

describe.skipIf(!available && !required)("deputy log --verify: the anchor (PostgreSQL)", () => {
  afterEach(Cli.stopAll)
  afterAll(() => void admin(serverUrl, [`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`]))

  it(
    "the CLI keeps the anchor in $DEPUTY_HOME; a truncation exits 4; another machine starts at the head",
    async () => {
      assert.isTrue(available, `no PostgreSQL server at ${serverUrl}`)
      const home = Cli.tempDir()
      const env = { DEPUTY_HOME: home }
      const ledger = ["--ledger", ledgerUrl]
      await twoRuns(ledger, env)
      const anchor = ApprovalLedger.pgAnchorFile(ledgerUrl, undefined, env)
      assert.isTrue(fs.existsSync(anchor), `the anchor ${anchor} was written`)
      const intact = await verify(ledger, env)
      assert.strictEqual(intact.code, 0, JSON.stringify(intact.record) + intact.stderr)
      assert.strictEqual(intact.record.entries, 6)

      // a machine that never appended (a DEPUTY_HOME of its own) starts at the head: no false alarm
      const other = { DEPUTY_HOME: Cli.tempDir() }
      const elsewhere = await verify(ledger, other)
      assert.strictEqual(elsewhere.code, 0, JSON.stringify(elsewhere.record))

      assert.isTrue(admin(ledgerUrl, truncation(3)), "truncated")
      const truncated = await verify(ledger, env)
      assert.strictEqual(truncated.code, 4, JSON.stringify(truncated.record))
      assert.deepInclude(truncated.record, {
        problem: "anchor_mismatch",
        entries: 3,
        broken_seq: 4,
        anchor,
        anchor_seq: 6
      })
      // the other machine anchored 6 too when it first opened the ledger
      const seenElsewhere = await verify(ledger, other)
      assert.strictEqual(seenElsewhere.code, 4, JSON.stringify(seenElsewhere.record))
    },
    60_000
  )
})
