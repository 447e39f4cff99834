/**
 * The ledger commands end to end (the `deputy` bin, the reference agent, SQLite on disk): deadlines in
 * inbox mode (`timed_out`, recorded as such; a late answer refused as late), and a file that is not a
 * ledger (a clear error naming it, nothing overwritten; the default ledger does not stop a run).
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach } from "vitest"
import * as Cli from "./utils/cli.js"

const jsonLines = (text: string): Array<Record<string, unknown>> =>
  text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line) as Record<string, unknown>)

describe("deputy: the ledger commands", () => {
  afterEach(Cli.stopAll)

  it(
    "inbox mode with a deadline: a warning, then timed_out (by the deadline, not a person); a late answer is refused",
    async () => {
      const dir = Cli.tempDir()
      const ledger = path.join(dir, "ledger.db")
      const run = await Cli.run([
        "run",
        "--json",
        "--approval",
        "inbox",
        "--approval-timeout",
        "1s",
        "--ledger",
        `sqlite:${ledger}`,
        "--cwd",
        dir,
        "--agent-command",
        Cli.agentCommand(),
        "run:echo no >> out.txt"
      ])
      assert.strictEqual(run.code, 0, run.stderr)
      const [approval] = jsonLines(run.stdout).filter((record) => record.deputy === "approval")
      assert.strictEqual(approval?.outcome, "timed_out")
      assert.deepStrictEqual(approval?.decided_by, { _tag: "Deadline", afterMs: 1000 })
      assert.isFalse(fs.existsSync(path.join(dir, "out.txt")))
      assert.match(run.stderr, /deadline near.*times out in 200ms unless answered/)
      const id = String(approval?.id ?? /deputy approve (\S+)/.exec(run.stderr)?.[1])

      const late = await Cli.run(["approve", id, "--ledger", `sqlite:${ledger}`])
      assert.strictEqual(late.code, 1)
      assert.match(late.stderr, /timed out at .*recorded as late|already decided by the deadline/)

      const log = await Cli.run(["log", "--json", "--ledger", `sqlite:${ledger}`])
      const types = jsonLines(log.stdout).map((entry) => entry.type)
      assert.deepStrictEqual(types, ["pending", "warning", "decided", "settled", "rejected"])
      const timedOut = await Cli.run([
        "log",
        "--outcome",
        "timed_out",
        "--decided-by",
        "Deadline",
        "--ledger",
        `sqlite:${ledger}`
      ])
      assert.include(timedOut.stdout, id)
      const verified = await Cli.run(["log", "--verify", "--ledger", `sqlite:${ledger}`])
      assert.strictEqual(verified.code, 0, verified.stdout)
    },
    60_000
  )

  it(
    "a file that is not a ledger: a clear error naming it, nothing overwritten; as the default it does not stop a run",
    async () => {
      const dir = Cli.tempDir()
      const file = path.join(dir, "ledger.db")
      const garbage = "this is not a database\n".repeat(200)
      fs.writeFileSync(file, garbage)

      const inbox = await Cli.run(["inbox", "--ledger", `sqlite:${file}`])
      assert.strictEqual(inbox.code, 1)
      assert.include(inbox.stderr, file)
      const asked = await Cli.run([
        "run",
        "--approval",
        "deny",
        "--ledger",
        `sqlite:${file}`,
        "--agent-command",
        Cli.agentCommand(),
        "hello"
      ])
      assert.strictEqual(asked.code, 1, asked.stderr)
      assert.include(asked.stderr, file)

      const byDefault = await Cli.run([
        "run",
        "--approval",
        "deny",
        "--agent-command",
        Cli.agentCommand(),
        "hello"
      ], { env: { DEPUTY_HOME: dir } })
      assert.strictEqual(byDefault.code, 0, byDefault.stderr)
      assert.include(byDefault.stderr, file)
      assert.include(byDefault.stderr, "this run's requests are not recorded")
      assert.strictEqual(fs.readFileSync(file, "utf8"), garbage, "nothing was written to it")
    },
    60_000
  )

  it(
    "reading commands never create a ledger: inbox says there is none yet, log and approve fail naming the file",
    async () => {
      const dir = Cli.tempDir()
      const file = path.join(dir, "missing", "ledger.db")
      const inbox = await Cli.run(["inbox", "--ledger", `sqlite:${file}`])
      assert.strictEqual(inbox.code, 0, inbox.stderr)
      assert.include(inbox.stdout, "not created yet")
      for (const args of [["log"], ["log", "--verify"], ["approve", "x/command/c"]]) {
        const result = await Cli.run([...args, "--ledger", `sqlite:${file}`])
        assert.strictEqual(result.code, 1, args.join(" "))
        assert.include(result.stderr, `no approval ledger at ${file}`)
      }
      assert.isFalse(fs.existsSync(path.dirname(file)))
    },
    60_000
  )
})
