import { Event } from "@deputy/protocol"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import * as JsonOutput from "../src/JsonOutput.js"
import * as Cli from "./utils/cli.js"

const decodeEvent = Schema.decodeUnknownEither(Event.Event)
const decodeApproval = Schema.decodeUnknownEither(JsonOutput.ApprovalRecord, { onExcessProperty: "error" })
const decodeEnded = Schema.decodeUnknownEither(JsonOutput.EndedRecord, { onExcessProperty: "error" })

/** Every stdout line of `--json`, checked against its schema: protocol events, approval records, the end. */
const jsonLines = (stdout: string) => {
  const lines = stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
  const events = []
  const approvals = []
  for (const [index, line] of lines.entries()) {
    if (line.deputy === "approval") approvals.push(Either.getOrThrow(decodeApproval(line)))
    else if (line.deputy === "ended") assert.strictEqual(index, lines.length - 1, "the ended record comes last")
    else events.push(Either.getOrThrow(decodeEvent(line)))
  }
  const ended = Either.getOrThrow(decodeEnded(lines[lines.length - 1]))
  return { events, approvals, ended }
}

describe("deputy (pipes, no terminal)", () => {
  afterEach(Cli.stopAll)

  it("--version, and help without styles when piped", async () => {
    const version = await Cli.run(["--version"])
    assert.strictEqual(version.stdout.trim(), "0.1.0")
    const help = await Cli.run(["run", "--help"])
    assert.strictEqual(help.code, 0)
    assert.notInclude(help.stdout, "\x1b[")
    for (
      const option of [
        "--agent",
        "--agent-command",
        "--approval",
        "--policy",
        "--json",
        "--interactive",
        "--drain-timeout"
      ]
    ) {
      assert.include(help.stdout, option)
    }
    assert.notInclude(help.stdout, "--completions", "built-in options are kept out of the help")
  })

  it("without a terminal, requests are denied (fail closed) and the run completes", async () => {
    const dir = Cli.tempDir()
    const result = await Cli.run(["run", "--agent-command", Cli.agentCommand(), `run:echo hi\npatch:${dir}/x.txt`], {
      cwd: dir
    })
    assert.strictEqual(result.code, 0)
    assert.strictEqual(
      result.stdout.replace(/turn \d+ms|\d+ tokens \(\d+ in, \d+ out\)/g, "…"),
      [
        "✘ denied by the default (no terminal): run `echo hi` in " + dir,
        "✘ denied by the default (no terminal): apply a patch to x.txt",
        "● I did not run `echo hi`: \"denied\"",
        `  I did not write ${dir}/x.txt: "denied"`,
        "✔ completed · … · …",
        ""
      ].join("\n")
    )
    assert.isFalse(fs.existsSync(path.join(dir, "x.txt")))
  })

  it("--json: protocol events, one record per request, and the end; nothing else on stdout", async () => {
    const dir = Cli.tempDir()
    const result = await Cli.run(
      [
        "run",
        "--json",
        "--approval",
        "approve",
        "--agent-command",
        Cli.agentCommand(),
        `run:echo hi\npatch:${dir}/x.txt hello\nperm:fetch\nask:name?`
      ],
      { cwd: dir }
    )
    assert.strictEqual(result.code, 0)
    const { approvals, ended, events } = jsonLines(result.stdout)
    assert.deepStrictEqual(events.map((event) => event.msg.type), [
      "task_started",
      "exec_command_begin",
      "exec_command_end",
      "patch_apply_begin",
      "patch_apply_end",
      "agent_message",
      "task_complete"
    ])
    assert.deepStrictEqual(
      approvals.map(({ kind, outcome }) => ({ kind, outcome })),
      [
        { kind: "command", outcome: "approved" },
        { kind: "patch", outcome: "approved" },
        { kind: "permissions", outcome: "approved" },
        { kind: "user_input", outcome: "denied" }
      ]
    )
    // Who decided is the settlement's own `decidedBy` (core's schema; the record decoder checks it).
    for (const approval of approvals) assert.notStrictEqual(approval.decided_by._tag, "Person")
    assert.deepStrictEqual(approvals[0].command, ["sh", "-c", "echo hi"])
    assert.deepStrictEqual(approvals[1].files, [{ path: `${dir}/x.txt`, type: "add", added: 1, removed: 0 }])
    assert.strictEqual(ended.reason, "completed")
    assert.strictEqual(ended.turns, 1)
    assert.isAbove(ended.usage.total_tokens, 0)
    assert.strictEqual(fs.readFileSync(path.join(dir, "x.txt"), "utf8"), "hello\n")
  })

  it("a policy file decides first; what it leaves goes to --approval", async () => {
    const dir = Cli.tempDir()
    const policy = path.join(dir, "policy.json")
    fs.writeFileSync(
      policy,
      `{\n  // test\n  "rules": [\n    { "commandPrefix": "echo", "action": "approve" },\n    { "commandPrefix": ["rm"], "action": "deny" }\n  ]\n}\n`
    )
    const result = await Cli.run(
      [
        "run",
        "--json",
        "--policy",
        policy,
        "--approval",
        "approve",
        "--agent-command",
        Cli.agentCommand(),
        "run:echo a\nrun:rm -f nothing\nrun:true"
      ],
      { cwd: dir }
    )
    const { approvals } = jsonLines(result.stdout)
    assert.deepStrictEqual(approvals.map(({ outcome }) => outcome), ["approved", "denied", "approved"])
    // `policy_rule` is there exactly when the settlement says a policy rule decided.
    for (const approval of approvals) {
      assert.strictEqual(
        approval.policy_rule,
        approval.decided_by._tag === "PolicyRule" ? approval.decided_by.index + 1 : undefined
      )
    }
  })

  it("usage errors exit 2 with advice on stderr and nothing on stdout", async () => {
    const dir = Cli.tempDir()
    const policy = path.join(dir, "bad.json")
    fs.writeFileSync(policy, `{\n  "rules": [\n    { "commandPrefix": "ls", "action": "allow" }\n  ]\n}\n`)
    const bad = await Cli.run(["run", "--json", "--policy", policy, "--agent-command", Cli.agentCommand(), "hi"])
    assert.strictEqual(bad.code, 2)
    assert.strictEqual(bad.stdout, "")
    assert.strictEqual(
      bad.stderr,
      `deputy: policy file ${policy}, line 3: rule 1 ("action"): expected one of approve, approve_for_session, deny, abort, ask; got "allow"\n`
    )
    const missing = await Cli.run(["run", "--agent-command", Cli.agentCommand()])
    assert.strictEqual(missing.code, 2)
    assert.include(missing.stderr, "deputy: missing PROMPT")
    const ask = await Cli.run(["run", "--approval", "ask", "--agent-command", Cli.agentCommand(), "hi"])
    assert.strictEqual(ask.code, 2)
    assert.include(ask.stderr, "--approval ask needs a terminal")
    const invalid = await Cli.run(["run", "--approval", "sometimes", "hi"])
    assert.strictEqual(invalid.code, 2)
    assert.include(invalid.stderr, "--approval: \"sometimes\" is not one of ask, approve, deny")
    // A typo never drops the policy: the run does not start.
    const typo = await Cli.run(["run", "--polcy", policy, "--agent-command", Cli.agentCommand(), "hi"])
    assert.strictEqual(typo.code, 2)
    assert.strictEqual(typo.stdout, "")
    assert.strictEqual(
      typo.stderr,
      "deputy: unknown flag --polcy for deputy run; did you mean --policy?\nSee `deputy run --help`.\n"
    )
    const cwd = await Cli.run(["run", "--cwd", path.join(dir, "nope"), "--agent-command", Cli.agentCommand(), "hi"])
    assert.strictEqual(cwd.code, 2)
    assert.include(cwd.stderr, `deputy: --cwd: ${path.join(dir, "nope")} does not exist`)
  })

  it("a sub-agent that crashes or cannot start: exit 1, and the reason", async () => {
    const crash = await Cli.run([
      "run",
      "--json",
      "--agent-command",
      Cli.agentCommand({ env: { REFERENCE_AGENT_CRASH_AFTER: "2" } }),
      "hi"
    ])
    assert.strictEqual(crash.code, 1)
    const { ended } = jsonLines(crash.stdout)
    assert.strictEqual(ended.reason, "agent_exited")
    assert.strictEqual(ended.agent_exit_code, 3)
    assert.include(ended.message, "crashing on purpose")

    const human = await Cli.run([
      "run",
      "--agent-command",
      Cli.agentCommand({ env: { REFERENCE_AGENT_CRASH_AFTER: "2" } }),
      "hi"
    ])
    assert.strictEqual(human.code, 1)
    assert.include(human.stdout, "✘ the sub-agent exited")
    assert.include(human.stdout, "exit code 3")

    const noCodex = await Cli.run(["run", "--codex-bin", "/no/such/codex", "hi"])
    assert.strictEqual(noCodex.code, 1)
    assert.strictEqual(
      noCodex.stderr,
      "deputy: could not start codex: the configured Codex binary /no/such/codex does not exist or is not executable\n"
    )

    const missing = await Cli.run(["run", "--json", "--agent-command", "no-such-agent-for-deputy --flag", "hi"])
    assert.strictEqual(missing.code, 1)
    assert.include(missing.stderr, "deputy: could not start no-such-agent-for-deputy: not found on PATH")
    assert.strictEqual(jsonLines(missing.stdout).ended.reason, "spawn_failed")
  })

  it("SIGINT while the sub-agent starts: exit 130, the ended record, no process left", async () => {
    const dir = Cli.tempDir()
    const mark = `${20 + Math.random()}`
    const fakeCodex = path.join(dir, "codex")
    fs.writeFileSync(fakeCodex, `#!/bin/sh\n# never answers initialize\nexec sleep ${mark}\n`, { mode: 0o755 })
    const result = await Cli.run(["run", "--json", "--codex-bin", fakeCodex, "hi"], {
      interruptWhen: () => Cli.processesWith(mark).length > 0
    })
    assert.strictEqual(result.code, 130)
    const { ended } = jsonLines(result.stdout)
    assert.strictEqual(ended.reason, "interrupted")
    assert.strictEqual(ended.message, "interrupted while the sub-agent was starting")
    assert.deepStrictEqual(await Cli.settledProcesses(mark), [])
  })

  it("SIGHUP (the terminal went away) mid-command: drained like Ctrl-C, exit 129, no process left", async () => {
    const mark = `${20 + Math.random()}`
    const result = await Cli.run([
      "run",
      "--approval",
      "approve",
      "--agent-command",
      Cli.agentCommand(),
      `run:sleep ${mark}`
    ], {
      interruptWhen: () => Cli.processesWith(mark).length > 1,
      signal: "SIGHUP"
    })
    assert.strictEqual(result.code, 129)
    assert.include(result.stdout, "■ turn aborted (interrupted)\n■ interrupted · turn")
    assert.deepStrictEqual(await Cli.settledProcesses(mark), [])
  })

  it("--env NAME passes one variable of the parent's; --inherit-env passes them all", async () => {
    const reported = async (...flags: ReadonlyArray<string>) => {
      const result = await Cli.run(
        [
          "run",
          "--json",
          ...flags,
          "--agent-command",
          Cli.agentCommand({ env: { REFERENCE_AGENT_REPORT_ENV: "1" } }),
          "hi"
        ],
        { env: { DEPUTY_TEST_PASSED: "p", DEPUTY_TEST_SECRET: "s" } }
      )
      assert.strictEqual(result.code, 0, result.stderr)
      const line = result.stdout.split("\n").find((text) => text.includes("\"reference_env\""))
      return (JSON.parse(line!) as { msg: { env: Record<string, string> } }).msg.env
    }
    const only = await reported("--env", "DEPUTY_TEST_PASSED")
    assert.strictEqual(only.DEPUTY_TEST_PASSED, "p")
    assert.notProperty(only, "DEPUTY_TEST_SECRET")
    const all = await reported("--inherit-env")
    assert.strictEqual(all.DEPUTY_TEST_SECRET, "s")
  })

  it("--interactive reads prompts from stdin until its end", async () => {
    const result = await Cli.run(["run", "-i", "--agent-command", Cli.agentCommand(), "first"], {
      input: "second\n\nthird"
    })
    assert.strictEqual(result.code, 0)
    const said = result.stdout.split("\n").filter((line) => line.startsWith("● "))
    assert.deepStrictEqual(said, ["● You said: first", "● You said: second", "● You said: third"])
    assert.match(result.stdout, /✔ session closed · 3 turns in /)
  })

  it("the bin says how to build when the build is missing", async () => {
    const dir = Cli.tempDir()
    fs.mkdirSync(path.join(dir, "bin"))
    fs.copyFileSync(Cli.bin, path.join(dir, "bin", "deputy.js"))
    fs.writeFileSync(path.join(dir, "package.json"), "{\"type\":\"module\"}")
    const { execFileSync } = await import("node:child_process")
    try {
      execFileSync(process.execPath, [path.join(dir, "bin", "deputy.js"), "--version"], { stdio: "pipe" })
      assert.fail("expected a failure")
    } catch (error) {
      const failed = error as { status: number; stderr: Buffer }
      assert.strictEqual(failed.status, 1)
      assert.include(failed.stderr.toString(), "the CLI is not built yet")
      assert.include(failed.stderr.toString(), "npm run build")
    }
  })
})
