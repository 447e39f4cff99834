import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Usage from "@effect/cli/Usage"
import { assert, describe, it } from "@effect/vitest"
import * as CommandLine from "../src/internal/commandLine.js"
import * as DemoCommand from "../src/internal/DemoCommand.js"
import * as RunCommand from "../src/internal/RunCommand.js"

const invalid = (...args: ReadonlyArray<string>) => {
  const checked = CommandLine.check(args)
  assert.strictEqual(checked._tag, "Invalid", JSON.stringify(checked))
  return checked._tag === "Invalid" ? checked.message : ""
}

describe("the command line is checked before it is parsed", () => {
  it("an unknown flag is an error with a suggestion, never part of the prompt", () => {
    assert.strictEqual(
      invalid("run", "--polcy", "rules.json", "do it"),
      "unknown flag --polcy for deputy run; did you mean --policy?"
    )
    assert.strictEqual(invalid("run", "--jsn", "x"), "unknown flag --jsn for deputy run; did you mean --json?")
    assert.strictEqual(invalid("demo", "--agent", "codex"), "unknown flag --agent for deputy demo")
    assert.strictEqual(invalid("--versoin"), "unknown flag --versoin for deputy; did you mean --version?")
    assert.strictEqual(invalid("rnu"), "unknown command \"rnu\"; did you mean run?")
    // Built-ins of @effect/cli that Deputy does not offer are unknown too.
    assert.include(invalid("run", "--wizard"), "unknown flag --wizard")
    assert.include(invalid("run", "--log-level", "debug", "x"), "unknown flag --log-level")
  })

  it("a prompt that begins with - needs --", () => {
    assert.strictEqual(
      invalid("run", "-rf", "everything"),
      "unknown flag -rf for deputy run; a PROMPT that begins with \"-\" goes after \"--\": deputy run -- \"-rf\""
    )
    assert.deepStrictEqual(CommandLine.check(["run", "--", "-rf", "--polcy"]), { _tag: "Valid" })
    assert.deepStrictEqual(CommandLine.check(["run", "-i"]), { _tag: "Valid" })
  })

  it("every value error names its flag and the allowed values", () => {
    assert.strictEqual(
      invalid("run", "--approval", "maybe", "x"),
      "--approval: \"maybe\" is not one of ask, approve, deny, inbox"
    )
    assert.strictEqual(
      invalid("run", "--sandbox=none", "x"),
      "--sandbox: \"none\" is not one of read-only, workspace-write, danger-full-access"
    )
    assert.strictEqual(invalid("run", "x", "--policy"), "--policy needs a value: --policy FILE")
    assert.strictEqual(invalid("run", "--json=yes", "x"), "--json is a switch; it takes no value")
    assert.strictEqual(invalid("run", "--policy", "a", "--policy", "b", "x"), "--policy is given more than once")
    assert.deepStrictEqual(CommandLine.check(["run", "--env", "A", "--env", "B", "x"]), { _tag: "Valid" })
    assert.strictEqual(invalid("demo", "now"), "deputy demo takes no arguments (got \"now\")")
    const checked = CommandLine.check(["run", "--polcy"])
    assert.strictEqual(checked._tag === "Invalid" ? checked.command : undefined, "run")
  })

  it("help: for deputy, run and demo, also after other words", () => {
    for (
      const [args, usage] of [[[], "deputy <command>"], [["-h"], "deputy <command>"], [
        ["run", "x", "--help"],
        "deputy run [flags] [--] PROMPT..."
      ], [["demo", "-h"], "deputy demo [flags]"]] as const
    ) {
      const checked = CommandLine.check(args)
      assert.strictEqual(checked._tag, "Help")
      if (checked._tag === "Help") {
        assert.include(checked.text, usage)
        assert.include(checked.text, "EXAMPLES")
      }
    }
    assert.deepStrictEqual(CommandLine.check(["--version"]), { _tag: "Version" })
  })

  it("the table knows exactly the flags @effect/cli parses", () => {
    const flagsOf = (usage: Usage.Usage) =>
      new Set(
        [...HelpDoc.toAnsiText(Usage.getHelp(usage)).matchAll(/--[a-z][a-z-]*/g)].map((match) => match[0].slice(2))
      )
    for (
      const [usage, spec] of [
        [Command.getUsage(RunCommand.command), CommandLine.commands.run],
        [Command.getUsage(DemoCommand.command), CommandLine.commands.demo]
      ] as const
    ) {
      const parsed = flagsOf(usage)
      const table = spec.flags.map((flag) => flag.name).filter((name) => name !== "help")
      assert.deepStrictEqual([...parsed].sort(), [...table].sort())
    }
  })
})
