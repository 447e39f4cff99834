import { ShellWords } from "@deputy/core"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Cli from "./utils/cli.js"

/** A process agent whose every text carries every control class (see the fixture). */
const hostileAgent = (mark: string) =>
  ShellWords.join([
    process.execPath,
    fileURLToPath(new URL("./fixtures/render-hostile-agent.mjs", import.meta.url)),
    mark
  ])

/** What the terminal may receive that is not printable text: line ends, and the status line's own erase. */
const deputysOwn = /\r\n|\r\x1b\[2K/g
/** Anything else a terminal would interpret or not draw. */
const rawControl = /(?!\n)[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]|(?! )\p{Zs}/u

const prompt = "x abort"
const mark = () => `--deputy-test-${Math.random().toString(36).slice(2)}`

describe.runIf(Cli.hasScript)("deputy in a terminal (pty, util-linux script)", () => {
  afterEach(Cli.stopAll)

  it("approve, then deny: the prompt shows who, what and why; the answers reach the sub-agent", async () => {
    const dir = Cli.tempDir()
    const term = Cli.pty(["run", "--agent-command", Cli.agentCommand(), `run:echo hi\npatch:${dir}/x.txt hello`], {
      cwd: dir
    })
    const at = await term.waitFor(prompt)
    await term.type("a")
    await term.waitFor(prompt, { from: at })
    await term.type("d")
    assert.strictEqual(await term.exited, 0)
    const screen = Cli.plain(term.output())
    assert.include(screen, "? The sub-agent asks to run a command\n    $ echo hi\n    in " + dir)
    assert.include(screen, "    why: the reference agent was asked to run this\n")
    assert.include(screen, "  run: echo hi  a approve · s approve for session · d deny · x abort › approve\n")
    assert.include(screen, "✔ approved by you (key a): run `echo hi` in " + dir)
    assert.match(screen, /\$ echo hi {2}exit 0 · \d+ms\n {2}│ hi\n/)
    assert.include(screen, "? The sub-agent asks to apply a patch\n    A x.txt  +1\n    │ --- x.txt\n    │ +hello\n")
    assert.include(screen, "x abort › deny\n")
    assert.include(screen, "✘ denied by you (key d): apply a patch to x.txt")
    assert.match(screen, /✔ completed · turn [\d.]+m?s · \d+ tokens/)
    assert.isFalse(fs.existsSync(path.join(dir, "x.txt")))
    assert.include(term.output(), "\x1b[", "colours on a terminal")
  })

  it("approve for the session: the same command is not asked about again", async () => {
    const term = Cli.pty(["run", "--agent-command", Cli.agentCommand(), "run:echo again\nrun:echo again"])
    await term.waitFor(prompt)
    await term.type("s")
    assert.strictEqual(await term.exited, 0)
    const screen = Cli.plain(term.output())
    assert.strictEqual(screen.split("The sub-agent asks").length - 1, 1)
    assert.include(screen, "✔ approved for the session by you (key s): run `echo again`")
    assert.strictEqual(screen.match(/^\$ echo again {2}exit 0/gm)?.length, 2)
  })

  it("the end of input at a prompt denies (Ctrl-D); NO_COLOR turns colours off", async () => {
    const term = Cli.pty(["run", "--agent-command", Cli.agentCommand(), "run:echo hi"], { env: { NO_COLOR: "1" } })
    await term.waitFor(prompt)
    await term.type("\x04")
    assert.strictEqual(await term.exited, 0)
    const screen = Cli.plain(term.output())
    assert.include(screen, "› deny (end of input)\n")
    assert.include(screen, "✘ denied by the default (end of input): run `echo hi`")
    assert.notMatch(term.output(), /\x1b\[\d+m/, "no colour codes")
  })

  it("an unanswered prompt times out with --approval-timeout", async () => {
    const term = Cli.pty(["run", "--approval-timeout", "300ms", "--agent-command", Cli.agentCommand(), "run:echo hi"])
    assert.strictEqual(await term.exited, 0)
    const screen = Cli.plain(term.output())
    assert.include(screen, "› (no longer asked)\n")
    assert.include(screen, "⏱ timed out (no answer in time, denied): run `echo hi`")
  })

  it("--interactive: a prompt for each turn, approvals in between, Ctrl-D closes the session", async () => {
    const term = Cli.pty(["run", "-i", "--agent-command", Cli.agentCommand(), "hello"])
    let at = await term.waitFor("› ")
    await term.type("run:echo typed\r")
    at = await term.waitFor(prompt, { from: at })
    await term.type("a")
    at = await term.waitFor("turn done", { from: at })
    await term.waitFor("› ", { from: at })
    await term.type("\x04")
    assert.strictEqual(await term.exited, 0)
    const screen = Cli.plain(term.output())
    assert.include(screen, "● You said: hello\n")
    assert.include(screen, "› run:echo typed\n")
    assert.include(screen, "  │ typed\n")
    assert.match(screen, /› \n✔ session closed · 2 turns in [\d.]+m?s/)
  })

  it("Ctrl-C interrupts the sub-agent, shows the drain, exits 130 and leaves no process", async () => {
    const id = mark()
    const term = Cli.pty([
      "run",
      "--approval",
      "approve",
      "--agent-command",
      Cli.agentCommand({ mark: id }),
      "run:sleep 30"
    ])
    await term.waitFor("running sleep 30")
    await term.type("\x03")
    assert.strictEqual(await term.exited, 130)
    const screen = Cli.plain(term.output())
    assert.include(screen, "Interrupting the sub-agent… (press Ctrl-C again to quit at once)")
    assert.include(screen, "■ turn aborted (interrupted)")
    assert.match(screen, /■ interrupted · turn [\d.]+m?s/)
    assert.deepStrictEqual(await Cli.settledProcesses(id), [])
  })

  it("Ctrl-C at a prompt interrupts too; the request is answered abort", async () => {
    const id = mark()
    const term = Cli.pty(["run", "--agent-command", Cli.agentCommand({ mark: id }), "run:echo hi"])
    await term.waitFor(prompt)
    await term.type("\x03")
    assert.strictEqual(await term.exited, 130)
    const screen = Cli.plain(term.output())
    assert.include(screen, "› ^C\n")
    assert.include(screen, "■ aborted (the delegate is shutting down): run `echo hi`")
    assert.deepStrictEqual(await Cli.settledProcesses(id), [])
  })

  it("a second Ctrl-C exits at once, without waiting for a sub-agent that does not stop", async () => {
    const id = mark()
    const term = Cli.pty([
      "run",
      "--approval",
      "approve",
      "--drain-timeout",
      "20s",
      "--agent-command",
      Cli.agentCommand({ mark: id, env: { REFERENCE_AGENT_HANG_ON_SHUTDOWN: "1" } }),
      "run:sleep 30"
    ])
    await term.waitFor("running sleep 30")
    await term.type("\x03")
    await term.waitFor("press Ctrl-C again")
    const started = Date.now()
    await term.type("\x03")
    assert.strictEqual(await term.exited, 130)
    assert.isBelow(Date.now() - started, 2000)
    assert.include(Cli.plain(term.output()), "Quitting without waiting for the sub-agent.")
    // This agent ignores the end of its input and SIGTERM on purpose: only SIGKILL stops it.
    for (const pid of Cli.processesWith(id)) process.kill(pid, "SIGKILL")
  })

  it("every control class a sub-agent sends reaches the terminal as visible escapes only (NO_COLOR)", async () => {
    const id = mark()
    const term = Cli.pty(["run", "--agent-command", hostileAgent(id), "go"], { env: { NO_COLOR: "1" } })
    const at = await term.waitFor(prompt)
    await term.type("d")
    await term.waitFor("✔ completed", { from: at })
    assert.strictEqual(await term.exited, 0)
    const output = term.output()
    // Without colour, Deputy itself writes no escape sequence but the status line's erase; the child's bytes
    // must all have been escaped.
    const rest = output.replace(deputysOwn, "\n")
    const found = rawControl.exec(rest)
    assert.isNull(
      found,
      `raw ${JSON.stringify(found?.[0])} at ${found?.index}: ${
        JSON.stringify(rest.slice((found?.index ?? 0) - 40, (found?.index ?? 0) + 40))
      }`
    )
    const shown = [
      " C0:\\x00\\x07\\x08\\x0b\\x0c\\r\\x1b[2J\\x1b[1A\\x1b[8mhidden\\x1b[0m\\x7f",
      " C1:\\x9b2K\\x9d0;title\\x07\\x85",
      " OSC:\\x1b]0;pwned\\x07\\x1b]8;;http://evil.example\\x1b\\link\\x1b]8;;\\x1b\\",
      " bidi:\\u202e\\u202a\\u202b\\u202c\\u202d\\u2066\\u2067\\u2068\\u2069\\u200e\\u200f\\u061c",
      " zw:\\u200b\\u200c\\u200d\\u2060\\ufeff",
      " sep:\\u2028\\u2029 nbsp:\\xa0 tag:\\u{e0041} lone:\\ud800"
    ].join("")
    const screen = Cli.plain(output)
    // The prompt: the whole script on one line, the reason, and the summary next to the keys.
    assert.include(screen, `    $ rm -rf ~/important-data${"\\n".repeat(60)}ls -la${shown}\n`)
    assert.match(screen, /\n {4}why: to list files C0:\\x00[^\n]*…\[[\d,]+ more characters\]…[^\n]*lone:\\ud800\n/)
    assert.match(
      screen,
      /\n {2}run: rm -rf ~\/important-data[^\n]*…\[[\d,]+ more characters\]…[^\n]*lone:\\ud800 {2}a approve/
    )
    // The status line of the announced command, with its newline and fake line as escapes.
    assert.include(output, "running sleep 1\\n\\r\\x1b[2K✔")
    assert.include(screen, `✘ denied by you (key d): run \`rm -rf ~/important-data${"\\n".repeat(60)}ls -la${shown}\``)
    assert.include(screen, `● decision: "denied"${shown}\n`)
    assert.deepStrictEqual(await Cli.settledProcesses(id), [])
  })
})
