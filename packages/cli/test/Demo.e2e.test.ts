import { Event } from "@deputy/protocol"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as JsonOutput from "../src/JsonOutput.js"
import * as Cli from "./utils/cli.js"

const decodeEvent = Schema.decodeUnknownEither(Event.Event)
const decodeApproval = Schema.decodeUnknownEither(JsonOutput.ApprovalRecord, { onExcessProperty: "error" })
const decodeEnded = Schema.decodeUnknownEither(JsonOutput.EndedRecord, { onExcessProperty: "error" })

describe("deputy demo (the real Codex against the scripted model, offline)", () => {
  afterEach(Cli.stopAll)

  it("--approval approve --json: the command and the patch are approved, the turn completes", async () => {
    const result = await Cli.run(["demo", "--approval", "approve", "--json"])
    assert.strictEqual(result.code, 0, result.stderr)
    const lines = result.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
    const approvals = lines.filter((line) => line.deputy === "approval").map((line) =>
      Either.getOrThrow(decodeApproval(line))
    )
    const events = lines.filter((line) => line.deputy === undefined).map((line) => Either.getOrThrow(decodeEvent(line)))
    const ended = Either.getOrThrow(decodeEnded(lines[lines.length - 1]))
    assert.deepStrictEqual(approvals.map(({ kind, outcome }) => ({ kind, outcome })), [
      { kind: "command", outcome: "approved" },
      { kind: "patch", outcome: "approved" }
    ])
    assert.include(approvals[0].command?.join(" "), "deputy-demo.txt")
    assert.deepStrictEqual(approvals[1].files?.map((file) => file.path.split("/").pop()), ["NOTES.md"])
    const types = events.map((event) => event.msg.type)
    for (const type of ["task_started", "exec_command_end", "patch_apply_end", "agent_message", "task_complete"]) {
      assert.include(types, type)
    }
    assert.strictEqual(ended.reason, "completed")
    assert.isAbove(ended.usage.total_tokens, 0)
  })

  it("two Ctrl-C (SIGINT) quit at once, and the workspace is removed all the same", async () => {
    const child = Cli.spawnDeputy(["demo", "--approval", "approve"])
    let stdout = ""
    let stderr = ""
    // The second signal goes once the first was handled (two pending SIGINTs would be delivered as one).
    child.stderr!.on("data", (data) => {
      stderr += data
      if (stderr.includes("Interrupting the sub-agent")) child.kill("SIGINT")
    })
    const workspace = await new Promise<string>((resolve) => {
      child.stdout.on("data", (data) => {
        stdout += data
        const found = /Workspace: (\S+) \(removed afterwards\)/.exec(stdout)
        if (found !== null) resolve(found[1])
      })
    })
    assert.isTrue(fs.existsSync(workspace))
    child.kill("SIGINT")
    // `exit`, not `close`: a sub-agent left running by the quick exit may hold the pipes open.
    const code = await new Promise((resolve) => child.on("exit", resolve))
    assert.strictEqual(code, 130, stderr)
    // The demo's child acknowledges at once, so the run may have drained before the second signal landed;
    // either way the workspace is gone (QuickQuit.e2e.test.ts holds the quick path deterministically).
    assert.include(stderr, "Interrupting the sub-agent")
    assert.isFalse(fs.existsSync(workspace), `${workspace} was removed`)
  }, 60_000)

  it.runIf(Cli.hasScript)("in a terminal the approval prompts appear; a denied patch is not applied", async () => {
    const term = Cli.pty(["demo"])
    let at = await term.waitFor("The sub-agent asks to run a command")
    at = await term.waitFor("x abort", { from: at })
    await term.type("a")
    at = await term.waitFor("The sub-agent asks to apply a patch", { from: at })
    await term.waitFor("x abort", { from: at })
    await term.type("d")
    assert.strictEqual(await term.exited, 0)
    const screen = Cli.plain(term.output())
    assert.include(screen, "Deputy demo: the real Codex")
    assert.include(screen, "✔ approved by you (key a): run `echo 'hello from a Deputy sub-agent' > deputy-demo.txt")
    assert.include(screen, "  │ hello from a Deputy sub-agent")
    assert.include(screen, "✘ denied by you (key d): apply a patch to NOTES.md")
    assert.include(screen, "✎ patch not applied")
    assert.match(screen, /✔ completed · turn [\d.]+m?s · \d+ tokens/)
  })
})
