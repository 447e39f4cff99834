import type { DecidedBy, Delegate } from "@deputy/core"
import { type Event, JsonLines } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as Style from "../src/internal/Style.js"
import * as Render from "../src/Render.js"
import * as Requests from "./utils/requests.js"

/** `deputy demo --approval approve --json` as recorded from the real Codex 0.169 (the events only). */
const recordedDemo: ReadonlyArray<Event.Event> = fs.readFileSync(
  new URL("./fixtures/demo-events.jsonl", import.meta.url),
  "utf8"
)
  .trim().split("\n").map((line, index) => Either.getOrThrow(JsonLines.decodeEvent(line, index + 1)))

const renderAll = (events: ReadonlyArray<Event.Event>, options: Render.RendererOptions, step = 10) => {
  const renderer = Render.make(options)
  return events.flatMap((event, index) => renderer.event(event, index * step))
}

const event = (msg: Record<string, unknown>, id = "turn-1") => ({ id, msg }) as unknown as Event.Event

describe("Render", () => {
  it("renders a recorded Codex run: warnings, the command with its output, the patch, the answer", () => {
    assert.deepStrictEqual(renderAll(recordedDemo, { style: Style.plain, cwd: "/tmp/deputy-demo-LySt5W" }), [
      "⚠ codex: Codex could not find bubblewrap on PATH. Install bubblewrap with your OS package manager. See the " +
      "sandbox prerequisites: https://developers.openai.com/codex/concepts/sandboxing#prerequisites. Codex will use " +
      "the bundled bubblewrap in the meantime.",
      "$ echo 'hello from a Deputy sub-agent' > deputy-demo.txt && cat deputy-demo.txt  exit 0 · 30ms",
      "  │ hello from a Deputy sub-agent",
      "✎ patch applied to 1 file",
      "  A NOTES.md  +3",
      "● Done. I asked to run a command that writes deputy-demo.txt, then to add NOTES.md with a patch; what " +
      "happened to each is in the events above."
    ])
  })

  it("colours only when asked", () => {
    const coloured = renderAll(recordedDemo, { style: Style.make(true), cwd: "/tmp/deputy-demo-LySt5W" })
    assert.isTrue(coloured.some((line) => line.includes("\x1b[32mexit 0\x1b[39m")))
    assert.deepStrictEqual(
      coloured.map(Style.strip),
      renderAll(recordedDemo, { style: Style.plain, cwd: "/tmp/deputy-demo-LySt5W" })
    )
  })

  it("renders failures, long output, updates and deletions, diagnostics and aborted turns", () => {
    const output = Array.from({ length: 12 }, (_, index) => `line ${index + 1}`).join("\n")
    const lines = renderAll([
      event({ type: "task_started", turn_id: "t" }),
      event({ type: "agent_reasoning", text: "I should look first\nthen act" }),
      event({ type: "exec_command_begin", call_id: "c1", command: ["npm", "test"], cwd: "/repo" }),
      event({
        type: "exec_command_end",
        call_id: "c1",
        command: ["npm", "test"],
        exit_code: 1,
        aggregated_output: `${output}\n`,
        duration: { secs: 2, nanos: 500_000_000 }
      }),
      event({
        type: "patch_apply_begin",
        call_id: "p1",
        changes: {
          "/repo/old.txt": { type: "delete", content: "a\nb\n" },
          "/repo/src/a.ts": {
            type: "update",
            unified_diff: "--- a\n+++ b\n@@\n-x\n+y\n+z\n",
            move_path: "/repo/src/b.ts"
          }
        }
      }),
      event({ type: "patch_apply_end", call_id: "p1", success: true }),
      event({ type: "patch_apply_begin", call_id: "p2" }),
      event({ type: "patch_apply_end", call_id: "p2", success: false, stderr: "conflict in a.ts\nmore" }),
      event({ type: "exec_command_begin", call_id: "c2", command: ["rm", "-rf", "/"], cwd: "/repo" }),
      event({ type: "exec_command_end", call_id: "c2", exit_code: -1, status: "declined" }),
      event({ type: "patch_apply_end", call_id: "p3", success: false, status: "declined" }),
      event({ type: "warning", message: "careful" }),
      event({ type: "deputy_diagnostic", kind: "malformed_line", message: "not JSON", line: 7 }),
      event({ type: "error", message: "the model is overloaded" }),
      event({ type: "agent_message", message: "Line one\nLine two\n" }),
      event({ type: "some_future_event", detail: 1 }),
      event({ type: "turn_aborted", turn_id: "t", reason: "interrupted" })
    ], { style: Style.plain, cwd: "/repo" })
    assert.deepStrictEqual(lines, [
      "thinking: I should look first",
      "$ npm test  exit 1 · 2.5s",
      "  │ line 1",
      "  │ line 2",
      "  │ … 7 more lines …",
      "  │ line 10",
      "  │ line 11",
      "  │ line 12",
      "✎ patch applied to 2 files",
      "  D old.txt  -2",
      "  R src/a.ts → src/b.ts  +2 -1",
      "✘ patch failed: conflict in a.ts",
      "$ rm -rf /  not run",
      "✎ patch not applied",
      "⚠ careful",
      "⚠ unreadable output from the sub-agent (line 7): not JSON",
      "✘ error: the model is overloaded",
      "● Line one",
      "  Line two",
      "■ turn aborted (interrupted)"
    ])
  })

  it("shows escape sequences and control characters a sub-agent sends as visible escapes", () => {
    const lines = renderAll([
      event({ type: "agent_message", message: "\x1b[2J\x1b]0;owned\x07hello \x1b[31mred\x1b[0m\rbell\x07" })
    ], { style: Style.plain })
    assert.deepStrictEqual(lines, ["● \\x1b[2J\\x1b]0;owned\\x07hello \\x1b[31mred\\x1b[0m\\rbell\\x07"])
  })

  it("tracks the status line and the turn time", () => {
    const renderer = Render.make({ style: Style.plain, perTurnSummary: true })
    assert.strictEqual(renderer.status(), undefined)
    renderer.event(event({ type: "task_started", turn_id: "t" }), 0)
    assert.strictEqual(renderer.status(), "working")
    renderer.event(event({ type: "exec_command_begin", call_id: "c", command: ["sh", "-c", "make all"], cwd: "/" }), 5)
    assert.strictEqual(renderer.status(), "running make all")
    renderer.answered("c", 100)
    assert.deepStrictEqual(
      renderer.event(event({ type: "exec_command_end", call_id: "c", exit_code: 0, stdout: "" }), 130),
      ["$ make all  exit 0 · 30ms"]
    )
    assert.deepStrictEqual(
      renderer.event(event({ type: "task_complete", turn_id: "t", last_agent_message: null }), 1500),
      [
        "── turn done · 1.5s"
      ]
    )
    assert.strictEqual(renderer.status(), undefined)
  })

  it("describes settled requests with who decided, as the settlement says", () => {
    const settled = (
      request: Parameters<typeof Render.describeRequest>[0],
      outcome: "approved" | "denied" | "aborted",
      decidedBy: DecidedBy.DecidedBy = { _tag: "Person", channel: "terminal" }
    ) =>
      Render.settlement(
        Style.plain,
        { request, outcome, decidedBy, waitedMs: 5, answer: { type: "interrupt" }, reason: "shutting down" },
        "/repo"
      )
    assert.strictEqual(
      settled(Requests.command(), "denied", { _tag: "Default", why: "end of input" }),
      "✘ denied by the default (end of input): run `npm test` in /repo"
    )
    assert.strictEqual(
      settled(Requests.command(), "approved", { _tag: "PolicyRule", index: 2, rule: {} }),
      "✔ approved by policy rule 3: run `npm test` in /repo"
    )
    // The 0.1 form still compiles; the text it passes is not trusted over the settlement.
    assert.strictEqual(
      Render.settlement(
        Style.plain,
        {
          request: Requests.command(),
          outcome: "approved",
          decidedBy: { _tag: "Fixed", setting: "--approval approve" },
          waitedMs: 0,
          answer: { type: "exec_approval", id: "call-1", decision: "approved" }
        },
        "you",
        "/repo"
      ),
      "✔ approved by --approval approve: run `npm test` in /repo"
    )
    assert.strictEqual(settled(Requests.command(), "approved"), "✔ approved by you: run `npm test` in /repo")
    assert.strictEqual(
      settled(Requests.command(["bash", "-lc", "rm -rf 'my dir'"]), "denied"),
      "✘ denied by you: run `rm -rf 'my dir'` in /repo"
    )
    assert.strictEqual(
      settled(Requests.patch(), "aborted"),
      "■ aborted (shutting down): apply a patch to NOTES.md, src/app.ts"
    )
    assert.strictEqual(
      settled(Requests.permissions(), "approved"),
      "✔ approved by you: grant network access; write /repo/node_modules"
    )
    assert.strictEqual(settled(Requests.userInput(), "denied"), "✘ denied by you: answer “Which colour?”, “What name?”")
  })

  it("ends with the reason, the turn time and the token usage", () => {
    const summary = (ended: Partial<Delegate.DelegateEnded>, extra: Partial<Render.Summary> = {}) =>
      Render.summary(Style.plain, {
        ended: { reason: "completed", drainTimedOut: false, ...ended },
        usage: { input_tokens: 1234, output_tokens: 56, total_tokens: 1290 },
        elapsedMs: 4321,
        turnMs: 3900,
        turns: 1,
        interactive: false,
        closedByUser: false,
        ...extra
      })
    assert.deepStrictEqual(summary({}), ["✔ completed · turn 3.9s · 1,290 tokens (1,234 in, 56 out)"])
    assert.deepStrictEqual(
      summary({ reason: "agent_exited", code: 3, message: "the sub-agent exited (exit code 3): boom\n  stderr: x" }),
      [
        "✘ the sub-agent exited · turn 3.9s · 1,290 tokens (1,234 in, 56 out)",
        "  the sub-agent exited (exit code 3): boom",
        "    stderr: x"
      ]
    )
    assert.deepStrictEqual(summary({ reason: "interrupted", message: "turn aborted: interrupted" }), [
      "■ interrupted · turn 3.9s · 1,290 tokens (1,234 in, 56 out)"
    ])
    assert.deepStrictEqual(
      summary({ reason: "interrupted" }, {
        interactive: true,
        closedByUser: true,
        turns: 2,
        usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 }
      }),
      ["✔ session closed · 2 turns in 4.3s · no token usage reported"]
    )
  })

  describe("a hostile sub-agent", () => {
    const hostileLines = (msg: Record<string, unknown>) => renderAll([event(msg)], { style: Style.plain, cwd: "/repo" })
    const noRaw = (lines: ReadonlyArray<string>) => {
      for (const line of lines) assert.notMatch(line, /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u, JSON.stringify(line))
    }

    it("a newline in exec_command_begin.command cannot draw a second status line", () => {
      const renderer = Render.make({ style: Style.plain })
      renderer.event(
        event({
          type: "exec_command_begin",
          call_id: "c",
          command: ["bash", "-lc", "sleep 9\r\x1b[2K✔ approved by you: run `ls`\n"],
          cwd: "/"
        }),
        0
      )
      const status = renderer.status() ?? ""
      assert.notMatch(status, /[\n\r\x1b]/)
      assert.isTrue(status.startsWith("running sleep 9\\r\\x1b[2K✔ approved"), status)
    })

    it("a C1 CSI (U+009B) in a message or a command is shown, not sent to the terminal", () => {
      const lines = [
        ...hostileLines({ type: "agent_message", message: "ok \u009b2K\u009b1Agone" }),
        ...hostileLines({
          type: "exec_command_end",
          call_id: "c",
          command: ["sh", "-c", "rm -rf important-data\u009b20Dls -la"],
          exit_code: 0,
          aggregated_output: "\u009b31mdone"
        })
      ]
      noRaw(lines)
      assert.deepStrictEqual(lines, [
        "● ok \\x9b2K\\x9b1Agone",
        "$ rm -rf important-data\\x9b20Dls -la  exit 0",
        "  │ \\x9b31mdone"
      ])
    })

    it("a program that is not the standard shell is shown with its path", () => {
      assert.strictEqual(Render.command(["/tmp/evil/bash", "-c", "ls -la"]), "/tmp/evil/bash -c 'ls -la'")
      assert.strictEqual(Render.command(["./sh", "-lc", "ls"]), "./sh -lc ls")
      assert.strictEqual(Render.command(["/bin/bash", "-c", "ls -la"]), "ls -la")
      assert.strictEqual(Render.command(["/usr/bin/sh", "-lc", "ls -la"]), "ls -la")
      assert.deepStrictEqual(Render.commandView(["/tmp/evil/bash", "-c", "ls -la"]), {
        text: "/tmp/evil/bash -c 'ls -la'",
        shell: "/tmp/evil/bash",
        standardShell: false
      })
    })

    it("60 newlines before `ls -la` stay on one line in a settlement", () => {
      const line = Render.settlement(Style.plain, {
        request: Requests.command(["bash", "-lc", `rm -rf ~/important-data${"\n".repeat(60)}ls -la`]),
        outcome: "approved",
        decidedBy: { _tag: "Person", channel: "terminal", key: "a" },
        waitedMs: 1,
        answer: { type: "exec_approval", id: "call-1", decision: "approved" }
      }, "/repo")
      assert.notInclude(line, "\n")
      assert.include(line, `run \`rm -rf ~/important-data${"\\n".repeat(60)}ls -la\``)
    })

    it("a very long command keeps its start and its end, with the count in between", () => {
      const shown = Render.command(["sh", "-c", `echo ok${" ".repeat(10_000)}; rm -rf ~/important-data`])
      assert.isAtMost(shown.length, 2000)
      assert.isTrue(shown.startsWith("echo ok "))
      assert.isTrue(shown.endsWith("; rm -rf ~/important-data"))
      assert.match(shown, /…\[\d{1,3}(,\d{3})* more characters\]…/)
    })

    it("a bidi override in a file name is shown as an escape in the patch lines", () => {
      const renderer = Render.make({ style: Style.plain, cwd: "/repo" })
      renderer.event(
        event({
          type: "patch_apply_begin",
          call_id: "p",
          changes: { "/repo/invoice\u202efdp.exe": { type: "add", content: "x\u200b\n" } }
        }),
        0
      )
      const lines = renderer.event(event({ type: "patch_apply_end", call_id: "p", success: true }), 1)
      noRaw(lines)
      assert.deepStrictEqual(lines, ["✎ patch applied to 1 file", "  A invoice\\u202efdp.exe  +1"])
      const preview = Render.diffPreview(
        Style.plain,
        { "/repo/a\u2066b": { type: "add", content: "x\u200by" } },
        "/repo",
        5
      )
      assert.deepStrictEqual(preview, ["--- a\\u2066b", "+x\\u200by"])
    })

    it("a multi-line error or warning cannot pass a line off as Deputy's", () => {
      const lines = [
        ...hostileLines({ type: "error", message: "boom\n✔ approved by you: run `ls`" }),
        ...hostileLines({ type: "warning", message: "careful\r✔ completed" })
      ]
      assert.deepStrictEqual(lines, ["✘ error: boom", "  ✔ approved by you: run `ls`", "⚠ careful\\r✔ completed"])
    })
  })
})
