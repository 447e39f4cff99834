/**
 * A ledger shared through PostgreSQL, end to end: `deputy run --approval inbox --ledger postgres://…`
 * waits, `deputy inbox` in another process lists the request, `deputy approve` answers it (the waiting
 * run hears it through LISTEN/NOTIFY), a second answer is told who decided, and the chain verifies.
 * Each run uses a database of its own, dropped afterwards. Without a server the test is skipped with a
 * notice, unless `DEPUTY_REQUIRE_POSTGRES=1`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, afterEach } from "vitest"
import * as Cli from "./utils/cli.js"
import { jsonLines, postgresDatabase, postgresServer } from "./utils/serve.js"

const pg = postgresDatabase("PostgreSQL CLI ledger test")

describe.skipIf(!pg.run)("deputy: a ledger shared through PostgreSQL", () => {
  afterEach(Cli.stopAll)
  afterAll(pg.drop)

  it(
    "a request waiting in one process is answered from another; the first answer wins; the chain verifies",
    async () => {
      assert.isDefined(pg.url, `no PostgreSQL server at ${postgresServer}`)
      const dir = Cli.tempDir()
      const ledger = ["--ledger", pg.url!]
      const child = Cli.spawnDeputy([
        "run",
        "--json",
        "--approval",
        "inbox",
        ...ledger,
        "--cwd",
        dir,
        "--agent-command",
        Cli.agentCommand(),
        "run:echo pg >> out.txt"
      ])
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (data) => (stdout += data))
      const id = await new Promise<string>((resolve, reject) => {
        child.stderr!.on("data", (data) => {
          stderr += data
          const found = /deputy approve (\S+)/.exec(stderr)
          if (found !== null) resolve(found[1]!)
        })
        child.on("close", () => reject(new Error(`deputy ended before a request waited:\n${stderr}`)))
      })
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
      child.stdin.end()
      const reached = new Promise<number>((resolve) => {
        child.stdout.on("data", () => stdout.includes("exec_command_begin") ? resolve(Date.now()) : undefined)
      })

      const inbox = await Cli.run(["inbox", "--json", ...ledger])
      assert.strictEqual(inbox.code, 0, inbox.stderr)
      assert.deepStrictEqual(jsonLines(inbox.stdout).map((record) => record.id), [id])

      const approved = await Cli.run(["approve", id, "--as", "carol", ...ledger])
      assert.strictEqual(approved.code, 0, approved.stderr)
      const reachedAt = await reached
      assert.strictEqual(await exited, 0, stderr)
      assert.strictEqual(fs.readFileSync(path.join(dir, "out.txt"), "utf8"), "pg\n")

      const late = await Cli.run(["deny", id, ...ledger])
      assert.strictEqual(late.code, 1)
      assert.match(late.stderr, /already decided by .*carol.* at \d{4}-/)

      const log = await Cli.run(["log", "--json", ...ledger])
      const entries = jsonLines(log.stdout)
      assert.deepStrictEqual(entries.map((entry) => entry.type), ["pending", "decided", "settled", "rejected"])
      const decidedAt = Number(entries[1]!.at)
      console.log(`ledger-cli: PostgreSQL answer committed -> the child's command began: ${reachedAt - decidedAt} ms`)
      const verified = await Cli.run(["log", "--verify", ...ledger])
      assert.strictEqual(verified.code, 0, verified.stdout + verified.stderr)
    },
    60_000
  )
})
