import { type ApprovalRequest, DecidedBy } from "@deputy/core"
import * as Terminal from "@effect/platform/Terminal"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Output } from "../src/Output.js"
import * as TerminalApprovals from "../src/TerminalApprovals.js"
import * as MockTerminal from "./utils/MockTerminal.js"
import * as RecordingOutput from "./utils/RecordingOutput.js"
import * as Requests from "./utils/requests.js"

/** The decision, whoever made it. */
const value = <A>(answer: DecidedBy.Answer<A>) => DecidedBy.split(answer, "test").value

const setup = Effect.gen(function*() {
  const mock = yield* MockTerminal.make
  const recorded = yield* RecordingOutput.make()
  const interrupted = yield* Deferred.make<void>()
  const approvals = yield* TerminalApprovals.make({
    cwd: "/repo",
    onInterrupt: Deferred.succeed(interrupted, undefined)
  })
    .pipe(
      Effect.provideService(Terminal.Terminal, mock.terminal),
      Effect.provideService(Output, recorded.output)
    )
  return { ...mock, ...recorded, approvals, interrupted }
})

describe("TerminalApprovals", () => {
  it.scoped("shows who asks, what and why, and approves with a", () =>
    Effect.gen(function*() {
      const t = yield* setup
      yield* t.send(MockTerminal.key("a"))
      const decision = yield* t.approvals.command(Requests.command())
      assert.deepStrictEqual(
        decision,
        DecidedBy.decided("approved", { _tag: "Person", channel: "terminal", key: "a" })
      )
      assert.strictEqual(
        t.stderr(),
        [
          "? The sub-agent asks to run a command",
          "    $ npm test",
          "    in /repo",
          "    why: to check the build",
          "  run: npm test  a approve · s approve for session · d deny · x abort › approve",
          ""
        ].join("\n")
      )
      assert.strictEqual(t.stdout(), "")
    }))

  it.scoped("s approves for the session, d and n deny, x aborts; a wrong key gets a one-line hint", () =>
    Effect.gen(function*() {
      const t = yield* setup
      yield* t.send(MockTerminal.key("z"), MockTerminal.key("return"), MockTerminal.key("s"))
      assert.deepStrictEqual(
        yield* t.approvals.command(Requests.command()),
        DecidedBy.decided("approved_for_session", { _tag: "Person", channel: "terminal", key: "s" })
      )
      const keyLine = "  run: npm test  a approve · s approve for session · d deny · x abort › "
      const hint = "  press a, s, d or x · Ctrl-D denies · Ctrl-C stops the run"
      assert.include(t.stderr(), `${keyLine}\n${hint}\n${keyLine}\n${hint}\n${keyLine}approve for session\n`)
      yield* t.send(MockTerminal.key("d"))
      assert.strictEqual(value(yield* t.approvals.command(Requests.command())), "denied")
      yield* t.send(MockTerminal.key("n"))
      assert.strictEqual(value(yield* t.approvals.patch(Requests.patch())), "denied")
      yield* t.send(MockTerminal.key("x"))
      assert.strictEqual(value(yield* t.approvals.command(Requests.command())), "abort")
    }))

  it.scoped("the end of input denies: Ctrl-D, or stdin closed", () =>
    Effect.gen(function*() {
      const t = yield* setup
      yield* t.send(MockTerminal.ctrlD)
      const endOfInput = { _tag: "Default", why: "end of input" } as const
      assert.deepStrictEqual(yield* t.approvals.command(Requests.command()), DecidedBy.decided("denied", endOfInput))
      assert.include(t.stderr(), "deny (end of input)")
      yield* t.end
      assert.deepStrictEqual(yield* t.approvals.patch(Requests.patch()), DecidedBy.decided("denied", endOfInput))
      assert.deepStrictEqual(
        yield* t.approvals.permissions(Requests.permissions()),
        DecidedBy.decided(Option.none(), endOfInput)
      )
      assert.deepStrictEqual(
        yield* t.approvals.userInput(Requests.userInput()),
        DecidedBy.decided(Option.none(), endOfInput)
      )
    }))

  it.scoped("Ctrl-C interrupts the run and leaves the prompt to be interrupted", () =>
    Effect.gen(function*() {
      const t = yield* setup
      const fiber = yield* Effect.fork(t.approvals.command(Requests.command()))
      yield* t.send(MockTerminal.ctrlC)
      yield* Deferred.await(t.interrupted)
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* Fiber.interrupt(fiber)
      assert.match(t.stderr(), /› \^C\n\(no longer asked\)\n$/)
    }))

  it.scoped("a patch prompt lists the files with +/- counts and a diff preview", () =>
    Effect.gen(function*() {
      const t = yield* setup
      yield* t.send(MockTerminal.key("y"))
      assert.strictEqual(value(yield* t.approvals.patch(Requests.patch())), "approved")
      assert.strictEqual(
        t.stderr(),
        [
          "? The sub-agent asks to apply a patch",
          "    A NOTES.md  +3",
          "    M src/app.ts  +1 -1",
          "    │ --- NOTES.md",
          "    │ +# Notes",
          "    │ +",
          "    │ +hello",
          "    │ --- src/app.ts",
          "    │ @@ -1,2 +1,2 @@",
          "    │ -const a = 1",
          "    │ +const a = 2",
          "    │  const b = 3",
          "    why: to write the notes",
          "  patch 2 files: NOTES.md, src/app.ts  a approve · s approve for session · d deny · x abort › approve",
          ""
        ].join("\n")
      )
    }))

  it.scoped("permissions: grant for the turn or the session, or nothing", () =>
    Effect.gen(function*() {
      const t = yield* setup
      const request = Requests.permissions()
      yield* t.send(MockTerminal.key("s"))
      assert.deepStrictEqual(
        DecidedBy.split(yield* t.approvals.permissions(request), "test").value,
        Option.some({ permissions: request.event.permissions, scope: "session" as const })
      )
      yield* t.send(MockTerminal.key("a"))
      assert.deepStrictEqual(
        DecidedBy.split(yield* t.approvals.permissions(request), "test").value,
        Option.some({ permissions: request.event.permissions, scope: "turn" as const })
      )
      yield* t.send(MockTerminal.key("d"))
      assert.isTrue(Option.isNone(DecidedBy.split(yield* t.approvals.permissions(request), "test").value))
      assert.include(t.stderr(), "network access; write /repo/node_modules")
    }))

  it.scoped("questions: an option by number, free text, backspace; the end of input answers nothing", () =>
    Effect.gen(function*() {
      const t = yield* setup
      yield* t.send(
        ...MockTerminal.line("2"),
        ...Array.from("Adx", (char) => MockTerminal.key(char.toLowerCase(), { input: char }))
      )
      yield* t.send(MockTerminal.key("backspace"), ...MockTerminal.line("a"))
      assert.deepStrictEqual(
        DecidedBy.split(yield* t.approvals.userInput(Requests.userInput()), "test").value,
        Option.some({ answers: { color: { answers: ["blue"] }, name: { answers: ["Ada"] } } })
      )
      assert.include(t.stderr(), "    Style: Which colour?\n      1. red — warm\n      2. blue — cold\n")
      yield* t.send(MockTerminal.ctrlD)
      assert.isTrue(Option.isNone(DecidedBy.split(yield* t.approvals.userInput(Requests.userInput()), "test").value))
    }))

  it.scoped("other output waits while a prompt is open, and prompts come one at a time", () =>
    Effect.gen(function*() {
      const t = yield* setup
      const first = yield* Effect.fork(t.approvals.command(Requests.command(["ls"], "call-a")))
      const second = yield* Effect.fork(t.approvals.command(Requests.command(["pwd"], "call-b")))
      yield* Effect.yieldNow()
      yield* Effect.flatMap(Output, (output) => output.print("an event")).pipe(
        Effect.provideService(Output, t.output)
      )
      assert.strictEqual(t.stdout(), "")
      assert.notInclude(t.stderr(), "pwd")
      yield* t.send(MockTerminal.key("a"))
      assert.strictEqual(value(yield* Fiber.join(first)), "approved")
      yield* t.send(MockTerminal.key("d"))
      assert.strictEqual(value(yield* Fiber.join(second)), "denied")
      assert.strictEqual(t.stdout(), "an event\n")
      assert.isBelow(t.stderr().indexOf("$ ls"), t.stderr().indexOf("$ pwd"))
    }))

  describe("a hostile sub-agent", () => {
    /** Approvals over a real directory (paths are resolved on disk), removed when the test ends. */
    const inWorkspace = Effect.gen(function*() {
      const root = yield* Effect.acquireRelease(
        Effect.sync(() => fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "deputy-render-test-")))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const workspace = path.join(root, "work")
      fs.mkdirSync(path.join(workspace, "docs"), { recursive: true })
      fs.mkdirSync(path.join(root, "outside"))
      fs.symlinkSync("../../outside", path.join(workspace, "docs", "assets"))
      const mock = yield* MockTerminal.make
      const recorded = yield* RecordingOutput.make()
      const approvals = yield* TerminalApprovals.make({ cwd: workspace, onInterrupt: Effect.void }).pipe(
        Effect.provideService(Terminal.Terminal, mock.terminal),
        Effect.provideService(Output, recorded.output)
      )
      return { ...mock, ...recorded, approvals, workspace, root }
    })

    const patchRequest = (changes: Record<string, unknown>, grantRoot?: string): ApprovalRequest.PatchApproval => {
      const base = Requests.patch()
      return {
        ...base,
        event: {
          ...base.event,
          changes: changes as ApprovalRequest.PatchApproval["event"]["changes"],
          ...(grantRoot === undefined ? {} : { grant_root: grantRoot })
        }
      }
    }

    const keyLineOf = (stderr: string) => stderr.split("\n").find((line) => line.includes("x abort ›")) ?? ""

    it.scoped("60 newlines before `ls -la`: one line in the prompt, and the summary next to the keys shows both ends", () =>
      Effect.gen(function*() {
        const t = yield* setup
        yield* t.send(MockTerminal.key("d"))
        yield* t.approvals.command(
          Requests.command(["bash", "-lc", `rm -rf ~/important-data${"\n".repeat(60)}ls -la`])
        )
        const stderr = t.stderr()
        assert.isBelow(stderr.split("\n").length, 10, stderr)
        assert.include(stderr, `    $ rm -rf ~/important-data${"\\n".repeat(60)}ls -la\n`)
        const keyLine = keyLineOf(stderr)
        assert.match(
          keyLine,
          /^ {2}run: rm -rf ~\/important-data(\\n)*…\[\d+ more characters\]…(\\n)+ls -la {2}a approve/
        )
        assert.include(stderr, "⚠ the command has control or invisible characters")
      }))

    it.scoped("a C1 CSI (U+009B) and an ESC in the command and the reason reach the terminal as escapes only", () =>
      Effect.gen(function*() {
        const t = yield* setup
        yield* t.send(MockTerminal.key("d"))
        const request = Requests.command(["sh", "-c", "rm -rf important-data\u009b22D\x1b[8mls -la"])
        yield* t.approvals.command({ ...request, event: { ...request.event, reason: "safe\u009b2K\u202e" } })
        const stderr = t.stderr()
        assert.notMatch(stderr, /[\x1b\u009b\u202e]/)
        assert.include(stderr, "    $ rm -rf important-data\\x9b22D\\x1b[8mls -la\n")
        assert.include(stderr, "    why: safe\\x9b2K\\u202e\n")
      }))

    it.scoped("on a colour terminal the escapes are in reverse video, apart from text that only looks like one", () =>
      Effect.gen(function*() {
        const mock = yield* MockTerminal.make
        const recorded = yield* RecordingOutput.make({ color: true })
        const approvals = yield* TerminalApprovals.make({ cwd: "/repo", onInterrupt: Effect.void }).pipe(
          Effect.provideService(Terminal.Terminal, mock.terminal),
          Effect.provideService(Output, recorded.output)
        )
        yield* mock.send(MockTerminal.key("d"))
        yield* approvals.command(Requests.command(["sh", "-c", "printf '\\n'\nrm -rf ~"]))
        const stderr = recorded.stderr()
        assert.include(stderr, "printf '\\n'\x1b[7m\\n\x1b[27mrm -rf ~")
        // No escape sequence but Deputy's own styles.
        assert.notMatch(stderr.replace(/\x1b\[\d+m/g, ""), /[\x00-\x09\x0b-\x1f\x7f-\x9f]/)
      }))

    it.effect.prop(
      "whatever the command, the prompt has no raw control and ends with the request's summary and the keys",
      [FastCheck.array(FastCheck.string({ unit: "binary", maxLength: 80 }), { minLength: 1, maxLength: 4 })],
      ([argv]) =>
        Effect.gen(function*() {
          const t = yield* setup
          yield* t.send(MockTerminal.key("d"))
          const decided = yield* t.approvals.command(Requests.command(argv))
          assert.strictEqual(value(decided), "denied")
          const stderr = t.stderr()
          assert.notMatch(stderr, /(?!\n)[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u)
          const lines = stderr.split("\n")
          assert.match(
            lines[lines.length - 2],
            /^ {2}run: .* {2}a approve · s approve for session · d deny · x abort › deny$/
          )
        }).pipe(Effect.scoped),
      { fastCheck: { numRuns: 100 } }
    )

    it.scoped("a shell that is not the standard one is shown with its path, and flagged", () =>
      Effect.gen(function*() {
        const t = yield* setup
        yield* t.send(MockTerminal.key("d"))
        yield* t.approvals.command(Requests.command(["/tmp/evil/bash", "-c", "ls -la"]))
        const stderr = t.stderr()
        assert.include(stderr, "    $ /tmp/evil/bash -c 'ls -la'\n")
        assert.include(stderr, "    ⚠ runs through /tmp/evil/bash (not a standard shell)\n")
        assert.include(keyLineOf(stderr), "run: /tmp/evil/bash -c 'ls -la'  a approve")
      }))

    it.scoped("a bidi override in a file name is shown as an escape", () =>
      Effect.gen(function*() {
        const t = yield* inWorkspace
        yield* t.send(MockTerminal.key("d"))
        yield* t.approvals.patch(
          patchRequest({ [`${t.workspace}/invoice\u202efdp.exe`]: { type: "add", content: "x" } })
        )
        const stderr = t.stderr()
        assert.notInclude(stderr, "\u202e")
        assert.include(stderr, "    A invoice\\u202efdp.exe  +1\n")
        assert.include(keyLineOf(stderr), "patch 1 file: invoice\\u202efdp.exe")
      }))

    it.scoped("patch paths outside the working directory are flagged: `..`, a symlink, move_path, grant_root", () =>
      Effect.gen(function*() {
        const t = yield* inWorkspace
        yield* t.send(MockTerminal.key("d"))
        yield* t.approvals.patch(patchRequest({
          "docs/../../../etc/cron.d/x": { type: "add", content: "* * * * * root rm -rf /\n" },
          "docs/assets/logo.svg": { type: "add", content: "<svg/>\n" },
          "docs/readme.md": { type: "update", unified_diff: "@@\n-a\n+b\n", move_path: "/etc/profile.d/x.sh" },
          "docs/inside.md": { type: "add", content: "fine\n" }
        }, "/"))
        const flags = t.stderr().split("\n").filter((line) => line.includes("⚠ outside the working directory"))
        assert.deepStrictEqual(flags, [
          `    ⚠ outside the working directory: docs/../../../etc/cron.d/x → ${
            path.resolve(t.workspace, "docs/../../../etc/cron.d/x")
          } (\`..\` leaves the working directory)`,
          `    ⚠ outside the working directory: docs/assets/logo.svg → ${t.root}/outside/logo.svg (through the symlink ${t.workspace}/docs/assets -> ../../outside)`,
          "    ⚠ outside the working directory: /etc/profile.d/x.sh (an absolute path outside the working directory)",
          "    ⚠ outside the working directory: / (an absolute path outside the working directory)"
        ])
        assert.include(keyLineOf(t.stderr()), "patch 4 files, 4 outside!: ")
        assert.notInclude(flags.join("\n"), "inside.md")
      }))
  })
})
