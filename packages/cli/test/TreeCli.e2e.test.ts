import { afterEach, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "./utils/cli.js"

/** `deputy run` flags for the reference agent (a real child process per task), marked to find its processes. */
const agent = (mark: string) => ["--agent-command", Cli.agentCommand({ mark })]
const mark = () => `--deputy-tree-${Math.random().toString(36).slice(2)}`

/** Whether a process runs (a zombie nobody reaped yet does not). */
const running = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z"
  } catch {
    return false
  }
}

const records = (stdout: string) =>
  stdout.trim().split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, any>)

describe("deputy run with several tasks (real process agents)", () => {
  afterEach(Cli.stopAll)

  it("--task NAME=PROMPT: siblings; every line prefixed with its node's name (no colour on a pipe); a receipt", async () => {
    const dir = Cli.tempDir()
    const id = mark()
    const result = await Cli.run([
      "run",
      "--approval",
      "approve",
      ...agent(id),
      "--cwd",
      dir,
      "--task",
      "review=run:echo reviewed",
      "--task",
      "tests=run:echo tested",
      "--task",
      "say hello"
    ])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.notMatch(result.stdout, /\x1b\[/, "no colour on a pipe")
    const lines = result.stdout.trimEnd().split("\n")
    const receiptAt = lines.findIndex((line) => line.startsWith("── receipt"))
    assert.isAbove(receiptAt, 0)
    for (const line of lines.slice(0, receiptAt)) assert.match(line, /^(review|tests|task-3) +│ /, line)
    assert.include(result.stdout, "review │ $ echo reviewed  exit 0")
    assert.include(result.stdout, "tests  │   │ tested")
    assert.include(result.stdout, "task-3 │ ● You said: say hello")
    assert.include(lines[receiptAt]!, "── receipt: 3 tasks · every task completed")
    assert.match(result.stdout, /review │ ✔ completed · 1 turn · [\d.]+m?s · \d+ tokens/)
    assert.deepStrictEqual(await Cli.settledProcesses(id), [])
  })

  it("one PROMPT keeps today's output (no prefix, no receipt); one --task is prefixed", async () => {
    const plainRun = await Cli.run(["run", "--approval", "approve", ...agent(mark()), "hello"])
    assert.strictEqual(plainRun.code, 0, plainRun.stderr)
    assert.match(plainRun.stdout, /^● You said: hello\n✔ completed/)
    assert.notInclude(plainRun.stdout, "receipt")
    const one = await Cli.run(["run", "--approval", "approve", ...agent(mark()), "--task", "hello"])
    assert.strictEqual(one.code, 0, one.stderr)
    assert.match(one.stdout, /^task-1 │ ● You said: hello\ntask-1 │ ✔ completed/)
    assert.include(one.stdout, "── receipt: 1 task ·")
  })

  it("--json: every record carries its node's path; the receipt comes last and lists every node", async () => {
    const dir = Cli.tempDir()
    const file = path.join(dir, "tasks.yaml")
    fs.writeFileSync(file, "tasks:\n  - name: review\n    prompt: \"run:echo r\"\n  - name: docs\n    prompt: hi\n")
    const result = await Cli.run(["run", "--json", "--approval", "deny", ...agent(mark()), "--tasks", file])
    assert.strictEqual(result.code, 0, result.stderr)
    const all = records(result.stdout)
    const last = all.at(-1)!
    assert.strictEqual(last.deputy, "receipt")
    assert.deepStrictEqual(last.nodes.map((node: any) => [node.node, node.reason]), [
      ["root/review", "completed"],
      ["root/docs", "completed"]
    ])
    for (const record of all.slice(0, -1)) assert.include(["root/review", "root/docs"], record.node)
    const approval = all.find((record) => record.deputy === "approval")!
    assert.strictEqual(approval.node, "root/review")
    assert.deepStrictEqual(approval.chain, ["root/review"])
    assert.strictEqual(approval.outcome, "denied")
    assert.deepStrictEqual(all.filter((record) => record.deputy === "ended").map((record) => record.node).sort(), [
      "root/docs",
      "root/review"
    ])
  })

  it(
    "Ctrl-C stops the tree: each running node drained and reported, the queued one not started, pids gone",
    async () => {
      const id = mark()
      const child = Cli.spawnDeputy([
        "run",
        "--json",
        "--approval",
        "approve",
        ...agent(id),
        "--drain-timeout",
        "5s",
        "--max-concurrent",
        "2",
        "--task",
        "a=run:sleep 30",
        "--task",
        "b=run:sleep 31",
        "--task",
        "c=hello"
      ])
      let stdout = ""
      child.stdout.on("data", (data) => (stdout += data))
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
      // Both commands approved and begun: both nodes are running their `sleep`.
      while (records(stdout).filter((record) => record.msg?.type === "exec_command_begin").length < 2) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      child.kill("SIGINT")
      assert.strictEqual(await exited, 130)
      const all = records(stdout)
      const last = all.at(-1)!
      assert.strictEqual(last.deputy, "receipt")
      assert.strictEqual(last.stopped, "interrupted")
      assert.deepStrictEqual(last.nodes.map((node: any) => [node.node, node.reason]), [
        ["root/a", "interrupted"],
        ["root/b", "interrupted"],
        ["root/c", "not_started"]
      ])
      const pids: Array<number> = last.nodes.flatMap((node: any) => node.pids_killed ?? [])
      assert.isAtLeast(pids.length, 2, "each running node's agent (and its sleep) was stopped")
      for (const pid of pids) assert.isFalse(running(pid), `pid ${pid}`)
      assert.isUndefined(last.nodes.find((node: any) => node.pids_surviving !== undefined))
      assert.deepStrictEqual(all.filter((record) => record.deputy === "ended").map((record) => record.node).sort(), [
        "root/a",
        "root/b"
      ])
      assert.deepStrictEqual(await Cli.settledProcesses(id), [])
    },
    30_000
  )

  it("--fail-fast: a task whose turn is aborted stops its running sibling; exit code 1", async () => {
    const dir = Cli.tempDir()
    const policy = path.join(dir, "policy.json")
    fs.writeFileSync(
      policy,
      JSON.stringify({
        rules: [{ commandPrefix: "false", action: "abort" }, { commandPrefix: "sleep", action: "approve" }]
      })
    )
    const result = await Cli.run([
      "run",
      "--policy",
      policy,
      "--approval",
      "deny",
      ...agent(mark()),
      // a loaded machine must not turn the sibling's stop into a drain timeout
      "--drain-timeout",
      "5s",
      "--fail-fast",
      "--task",
      "slow=run:sleep 30",
      "--task",
      "bad=run:false"
    ])
    assert.strictEqual(result.code, 1, result.stderr)
    assert.include(result.stdout, "stopped after a failure (--fail-fast)")
    assert.match(result.stdout, /bad  │ ■ aborted · 1 turn/)
    // Stopped by its sibling's failure: in its turn, or (on a slow machine) before its turn began.
    assert.match(result.stdout, /slow │ ■ interrupted · [01] turns? ·/)
  }, 30_000)
})

describe.runIf(Cli.hasScript)("deputy run with several tasks in a terminal (pty)", () => {
  afterEach(Cli.stopAll)

  it("each prompt says which node asks; answers reach that node; names in colour", async () => {
    const dir = Cli.tempDir()
    const term = Cli.pty(
      ["run", ...agent(mark()), "--max-concurrent", "1", "--task", "review=run:echo r", "--task", "tests=run:echo t"],
      { cwd: dir }
    )
    const first = await term.waitFor("? review asks to run a command")
    await term.waitFor("x abort", { from: first })
    await term.type("a")
    const second = await term.waitFor("? tests asks to run a command", { from: first })
    await term.waitFor("x abort", { from: second })
    await term.type("d")
    assert.strictEqual(await term.exited, 0)
    const screen = Cli.plain(term.output())
    assert.include(screen, "review │ ✔ approved by you (key a): run `echo r`")
    assert.include(screen, "tests  │ ✘ denied by you (key d): run `echo t`")
    assert.include(screen, "review │ $ echo r  exit 0")
    assert.include(screen, "── receipt: 2 tasks · every task completed")
    assert.match(term.output(), /\x1b\[3\dm(\x1b\[1m)?review/, "the name in colour")
  }, 30_000)

  it(
    "Ctrl-C at a prompt stops the whole tree: the waiting sibling is stopped too, the receipt is printed",
    async () => {
      const id = mark()
      const term = Cli.pty([
        "run",
        ...agent(id),
        "--drain-timeout",
        "5s",
        "--task",
        "asks=run:echo never",
        "--task",
        "waits=run:sleep 30"
      ])
      // One prompt at a time: the other node's request waits behind it.
      const at = await term.waitFor(/\? (asks|waits) asks to run a command/)
      await term.waitFor("x abort", { from: at })
      await term.type("\x03")
      assert.strictEqual(await term.exited, 130)
      const screen = Cli.plain(term.output())
      assert.include(screen, "── receipt: 2 tasks · stopped (interrupted)")
      assert.match(screen, /asks {2}│ ■ (interrupted|aborted) · 1 turn/)
      assert.match(screen, /waits │ ■ (interrupted|aborted) · 1 turn/)
      assert.notMatch(screen, /\$ (echo never|sleep 30) {2}exit/, "neither command ran")
      assert.deepStrictEqual(await Cli.settledProcesses(id), [])
    },
    30_000
  )
})
