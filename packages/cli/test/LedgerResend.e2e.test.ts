/**
 * The hostile re-send, end to end with the `deputy` bin, the reference agent and the SQLite ledger: two
 * runs of a process agent in different working directories ask the identical `exec` request with the
 * same call id (`call-1`; the agent runs from one fixed directory, so even the request's own `cwd` is the
 * same). The first `deputy` is killed with SIGKILL while the request waits; a person approves it. The
 * second run, in another directory, is asked (here: `--approval deny` answers), never answered with the
 * first run's approval; the approval stays in the ledger for its own request.
 */
import { ShellWords } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach } from "vitest"
import * as Cli from "./utils/cli.js"
import * as Serve from "./utils/serve.js"

const jsonLines = (text: string) => Serve.jsonLines(text) as Array<Record<string, any>>

describe("deputy: a decision is not re-sent to another run's identical request", () => {
  afterEach(Cli.stopAll)

  it("another working directory, the same request and call id after a crash: asked, not answered", async () => {
    const dir = Cli.tempDir()
    const ledger = path.join(dir, "ledger.db")
    const ledgerArgs = ["--ledger", `sqlite:${ledger}`]
    const agentHome = path.join(dir, "agent")
    const first = path.join(dir, "first")
    const second = path.join(dir, "second")
    for (const made of [agentHome, first, second]) fs.mkdirSync(made)
    const mark = `resend-${process.pid}-${Date.now()}`
    // The agent runs in `agentHome` whatever deputy's --cwd: both runs ask byte for byte the same.
    const agent = ShellWords.join([
      "sh",
      "-c",
      `cd ${ShellWords.join([agentHome])} && exec ${Cli.agentCommand({ mark })}`
    ])
    const prompt = "run:echo ran >> out.txt"

    const dead = Cli.spawnDeputy([
      "run",
      "--approval",
      "inbox",
      ...ledgerArgs,
      "--cwd",
      first,
      "--agent-command",
      agent,
      prompt
    ])
    dead.stdin.end()
    let stderr = ""
    const id = await new Promise<string>((resolve, reject) => {
      dead.stderr!.on("data", (data) => {
        stderr += data
        const found = /deputy approve (\S+)/.exec(stderr)
        if (found !== null) resolve(found[1]!)
      })
      dead.on("close", () => reject(new Error(`deputy ended before a request waited:\n${stderr}`)))
    })
    const exited = new Promise((resolve) => dead.on("close", resolve))
    dead.kill("SIGKILL")
    await exited
    assert.deepStrictEqual(await Cli.settledProcesses(mark, 5000), [], "the sub-agent went with its parent")
    const approved = await Cli.run(["approve", id, "--as", "alice", ...ledgerArgs])
    assert.strictEqual(approved.code, 0, approved.stderr)

    const next = await Cli.run([
      "run",
      "--json",
      "--approval",
      "deny",
      ...ledgerArgs,
      "--cwd",
      second,
      "--agent-command",
      agent,
      prompt
    ])
    assert.strictEqual(next.code, 0, next.stderr)
    assert.notInclude(next.stderr, "sent again")
    assert.isFalse(fs.existsSync(path.join(agentHome, "out.txt")), "the first run's approval ran nothing here")
    const [record] = jsonLines(next.stdout).filter((line) => line.deputy === "approval")
    assert.strictEqual(record?.call_id, "call-1")
    assert.strictEqual(record?.outcome, "denied")
    assert.deepStrictEqual(record?.decided_by, { _tag: "Fixed", setting: "--approval deny" })

    const entries = jsonLines((await Cli.run(["log", "--json", ...ledgerArgs])).stdout)
    const ofOld = entries.filter((entry) => entry.requestId === id)
    assert.deepStrictEqual(ofOld.map((entry) => entry.type), ["pending", "decided"], "alice's approval is not spent")
    assert.strictEqual(ofOld[0]!.data.origin.workspace, fs.realpathSync(first))
    const asked = entries.find((entry) => entry.requestId !== id && entry.type === "pending")
    // The very same request (but for its delegate): only where it was asked differs.
    assert.deepStrictEqual({ ...asked?.data.request.event, turn_id: null }, {
      ...ofOld[0]!.data.request.event,
      turn_id: null
    })
    assert.strictEqual(asked?.data.origin.workspace, fs.realpathSync(second))
  }, 60_000)
})
