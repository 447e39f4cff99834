import { Errors as CoreErrors } from "@deputy/core"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Errors from "../src/Errors.js"
import * as Flags from "../src/internal/Flags.js"
import * as Launch from "../src/internal/Launch.js"
import * as RunCommand from "../src/internal/RunCommand.js"
import * as Style from "../src/internal/Style.js"
import { PolicyFileError } from "../src/PolicyFile.js"
import { version } from "../src/Version.js"

/** Parses the arguments of `deputy run` and returns the checked settings, or the error (with what @effect/cli printed). */
const parse = (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    let settings: RunCommand.RunSettings | undefined
    const printed: Array<string> = []
    const cli = Command.run(
      RunCommand.make((checked) => Effect.sync(() => void (settings = checked))),
      { name: "deputy", version }
    )
    const exit = yield* cli(["node", "deputy", ...args]).pipe(
      Effect.provide(NodeContext.layer),
      (effect) =>
        Effect.consoleWith((console) =>
          Effect.withConsole(effect, {
            ...console,
            log: (...parts) => Effect.sync(() => void printed.push(parts.join(" "))),
            error: (...parts) => Effect.sync(() => void printed.push(parts.join(" ")))
          })
        ),
      Effect.exit
    )
    return { exit, settings, printed: Style.strip(printed.join("\n")) }
  })

const failure = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

describe("deputy run: arguments", () => {
  it.effect("a prompt in several words, the codex agent and the defaults", () =>
    Effect.gen(function*() {
      const { exit, settings } = yield* parse("fix", "the", "tests")
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(settings?.agent, {
        _tag: "Codex",
        codexHome: undefined,
        binary: undefined,
        sandbox: undefined,
        model: undefined,
        env: {},
        inheritEnv: false
      })
      assert.strictEqual(settings?.input, "fix the tests")
      assert.strictEqual(settings?.interactive, false)
      assert.strictEqual(settings?.json, false)
      assert.strictEqual(settings?.cwd, process.cwd())
      assert.isTrue(Option.isNone(settings!.approval))
      assert.isTrue(Option.isNone(settings!.policy))
      assert.isTrue(Option.isNone(settings!.drainTimeout))
    }))

  it.effect("a process agent from --agent-command, options after the prompt, durations, environment", () =>
    Effect.gen(function*() {
      process.env.DEPUTY_TEST_SET = "yes"
      delete process.env.DEPUTY_TEST_UNSET
      const { settings } = yield* parse(
        "--agent-command",
        "node agent.mjs --name 'a b' \"c\\\"d\"",
        "--json",
        "--approval",
        "deny",
        "--policy",
        "rules.json",
        "hello",
        "--drain-timeout",
        "2s",
        "--approval-timeout",
        "1.5m",
        "--cwd",
        "/tmp",
        "--env",
        "DEPUTY_TEST_SET",
        "--env",
        "DEPUTY_TEST_UNSET",
        "--inherit-env"
      )
      assert.deepStrictEqual(settings?.agent, {
        _tag: "Process",
        command: "node",
        args: ["agent.mjs", "--name", "a b", "c\"d"],
        env: { DEPUTY_TEST_SET: "yes" },
        inheritEnv: true
      })
      assert.strictEqual(settings?.input, "hello")
      assert.strictEqual(settings?.json, true)
      assert.deepStrictEqual(settings?.approval, Option.some("deny" as const))
      assert.deepStrictEqual(settings?.policy, Option.some("rules.json"))
      assert.deepStrictEqual(settings?.drainTimeout, Option.some(Duration.seconds(2)))
      assert.deepStrictEqual(settings?.approvalTimeout, Option.some(Duration.seconds(90)))
      assert.strictEqual(settings?.cwd, "/tmp")
    }))

  it.effect("codex options; --interactive needs no prompt", () =>
    Effect.gen(function*() {
      const { settings } = yield* parse(
        "--codex-home",
        "/h",
        "--codex-bin",
        "/c",
        "--sandbox",
        "read-only",
        "--model",
        "m",
        "-i"
      )
      assert.deepStrictEqual(settings?.agent, {
        _tag: "Codex",
        codexHome: "/h",
        binary: "/c",
        sandbox: "read-only",
        model: "m",
        env: {},
        inheritEnv: false
      })
      assert.strictEqual(settings?.interactive, true)
      assert.strictEqual(settings?.input, undefined)
    }))

  it.effect("--turn-timeout goes to Codex as a duration; it is for --agent codex only", () =>
    Effect.gen(function*() {
      const { settings } = yield* parse("--turn-timeout", "90s", "go")
      assert.deepStrictEqual(
        settings?.agent._tag === "Codex" ? settings.agent.turnTimeout : undefined,
        Duration.seconds(90)
      )
      const refused = yield* parse("--agent-command", "node a.mjs", "--turn-timeout", "1m", "go")
      assert.include(String((failure(refused.exit) as { message?: string })?.message), "--turn-timeout only apply")
    }))

  it.effect("options that do not go together are usage errors that say what to do", () =>
    Effect.gen(function*() {
      const message = (...args: ReadonlyArray<string>) =>
        Effect.map(parse(...args), ({ exit }) => {
          const error = failure(exit)
          assert.instanceOf(error, Errors.UsageError)
          return (error as Errors.UsageError).message
        })
      assert.include(yield* message(), "missing PROMPT")
      assert.include(yield* message("--agent", "process", "hi"), "--agent process needs the program to run")
      assert.include(
        yield* message("--agent", "codex", "--agent-command", "x", "hi"),
        "--agent-command is for --agent process"
      )
      assert.strictEqual(
        yield* message("--agent-command", "x", "--model", "m", "--sandbox", "read-only", "hi"),
        "--sandbox, --model only apply to --agent codex"
      )
      assert.include(
        yield* message("--agent-command", "node 'x", "hi"),
        "--agent-command cannot be read: a single quote is not closed"
      )
      assert.strictEqual(yield* message("--cwd", "/no/such/dir", "hi"), "--cwd: /no/such/dir does not exist")
      const file = fileURLToPath(import.meta.url)
      assert.strictEqual(yield* message("--cwd", file, "hi"), `--cwd: ${file} is not a directory`)
      assert.include(
        yield* message("--agent-command", "x", "--env", "A-B", "hi"),
        "--env: \"A-B\" is not a variable name"
      )
    }))

  it.effect("values the parser rejects are validation errors, explained", () =>
    Effect.gen(function*() {
      const rejected = (...args: ReadonlyArray<string>) =>
        Effect.map(parse(...args), ({ exit, printed }) => {
          assert.isTrue(ValidationError.isValidationError(failure(exit)))
          return printed
        })
      assert.include(yield* rejected("--approval", "maybe", "hi"), "ask, approve, deny")
      assert.include(
        yield* rejected("--drain-timeout", "soon", "hi"),
        "is not a duration; write e.g. 500ms, 30s, 2m or 1h"
      )
      assert.include(yield* rejected("--agent", "robot", "hi"), "codex, process")
    }))

  it("reads durations", () => {
    assert.deepStrictEqual(Flags.parseDuration("500ms"), Option.some(Duration.millis(500)))
    assert.deepStrictEqual(Flags.parseDuration("30"), Option.some(Duration.seconds(30)))
    assert.deepStrictEqual(Flags.parseDuration("2m"), Option.some(Duration.minutes(2)))
    assert.deepStrictEqual(Flags.parseDuration("1h"), Option.some(Duration.hours(1)))
    assert.deepStrictEqual(Flags.parseDuration("5 seconds"), Option.some(Duration.seconds(5)))
    assert.isTrue(Option.isNone(Flags.parseDuration("soon")))
  })

  it("approval mode: ask on a terminal, deny without one, ask needs a terminal", () => {
    assert.deepStrictEqual(Launch.approvalMode(Option.none(), true), Either.right({ mode: "ask", defaulted: true }))
    assert.deepStrictEqual(Launch.approvalMode(Option.none(), false), Either.right({ mode: "deny", defaulted: true }))
    assert.deepStrictEqual(
      Launch.approvalMode(Option.some("approve"), false),
      Either.right({ mode: "approve", defaulted: false })
    )
    assert.isTrue(Either.isLeft(Launch.approvalMode(Option.some("ask"), false)))
  })

  it("exit codes: 0 done, 1 failed, 2 usage, 130 interrupted, 143 terminated, 129 hung up", () => {
    assert.strictEqual(Errors.exitCodeOf(Exit.void, undefined), 0)
    assert.strictEqual(Errors.exitCodeOf(Exit.fail(new Errors.RunFailed({ exitCode: 1 })), undefined), 1)
    assert.strictEqual(Errors.exitCodeOf(Exit.fail(new Errors.UsageError({ message: "x" })), undefined), 2)
    assert.strictEqual(Errors.exitCodeOf(Exit.fail(new PolicyFileError({ path: "p", problem: "x" })), undefined), 2)
    assert.strictEqual(
      Errors.exitCodeOf(Exit.fail(new CoreErrors.SpawnError({ agent: "codex", reason: "x" })), undefined),
      1
    )
    assert.strictEqual(Errors.exitCodeOf(Exit.interrupt(0 as never), "SIGINT"), 130)
    assert.strictEqual(Errors.exitCodeOf(Exit.interrupt(0 as never), "SIGTERM"), 143)
    assert.strictEqual(Errors.exitCodeOf(Exit.interrupt(0 as never), "SIGHUP"), 129)
    assert.strictEqual(Errors.exitCodeOf(Exit.die("bug"), undefined), 1)
  })

  it("the version is the package's", () => {
    const manifest = JSON.parse(
      fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "package.json"), "utf8")
    )
    assert.strictEqual(version, manifest.version)
  })
})
