import type { ApprovalRequest } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as CommandLine from "../src/internal/commandLine.js"
import * as NodeLabel from "../src/internal/NodeLabel.js"
import * as Receipt from "../src/internal/Receipt.js"
import * as RunCommand from "../src/internal/RunCommand.js"
import * as Style from "../src/internal/Style.js"
import * as Tasks from "../src/internal/Tasks.js"
import type * as JsonOutput from "../src/JsonOutput.js"
import * as Render from "../src/Render.js"
import { command } from "./utils/requests.js"

const right = <A, E>(either: Either.Either<A, E>): A => {
  if (Either.isLeft(either)) throw new Error(`expected a value, got ${JSON.stringify(either.left)}`)
  return either.right
}
const left = <A, E>(either: Either.Either<A, E>): E => {
  if (Either.isRight(either)) throw new Error(`expected an error, got ${JSON.stringify(either.right)}`)
  return either.left
}

describe("Tasks: --task and --tasks FILE", () => {
  it("NAME=PROMPT names a task; a prompt with a space before its = is not named; =PROMPT is unnamed", () => {
    assert.deepStrictEqual(Tasks.parseTaskFlag("review=look at src/"), { name: "review", prompt: "look at src/" })
    assert.deepStrictEqual(Tasks.parseTaskFlag("set x=1 in the config"), {
      name: undefined,
      prompt: "set x=1 in the config"
    })
    assert.deepStrictEqual(Tasks.parseTaskFlag("=a=b"), { name: undefined, prompt: "a=b" })
  })

  it("unnamed tasks are task-N by their place, skipping names taken; names must be unique and plain", () => {
    const tasks = right(Tasks.resolve([
      { name: undefined, prompt: "one" },
      { name: "task-2", prompt: "two" },
      { name: undefined, prompt: "three" }
    ]))
    assert.deepStrictEqual(tasks.map((task) => task.name), ["task-1", "task-2", "task-3"])
    const clash = right(Tasks.resolve([{ name: undefined, prompt: "a" }, { name: "task-1", prompt: "b" }]))
    assert.deepStrictEqual(clash.map((task) => task.name), ["task-2", "task-1"])
    assert.include(left(Tasks.resolve([{ name: "a", prompt: "x" }, { name: "a", prompt: "y" }])).message, "used twice")
    assert.include(left(Tasks.resolve([{ name: "a/b", prompt: "x" }])).message, "letters, digits")
    assert.include(left(Tasks.resolve([{ name: "a\u202eb", prompt: "x" }])).message, "letters, digits")
    assert.include(left(Tasks.resolve([{ name: "a", prompt: "" }])).message, "empty")
    assert.include(left(Tasks.resolve([])).message, "no tasks")
  })

  it.prop(
    "property: resolved names are unique, valid, in order, and keep every given name",
    {
      given: FastCheck.array(FastCheck.option(FastCheck.constantFrom("a", "b", "task-1", "task-3")), { maxLength: 12 })
    },
    ({ given }) => {
      const input = given.map((name, index) => ({ name: name ?? undefined, prompt: `p${index}` }))
      const result = Tasks.resolve(input)
      const named = given.filter((name) => name !== null)
      if (input.length === 0 || new Set(named).size !== named.length) {
        assert.isTrue(Either.isLeft(result))
        return
      }
      const tasks = right(result)
      assert.strictEqual(new Set(tasks.map((task) => task.name)).size, tasks.length)
      assert.deepStrictEqual(tasks.map((task) => task.prompt), input.map((task) => task.prompt))
      for (const [index, task] of tasks.entries()) {
        assert.match(task.name, Tasks.namePattern)
        if (input[index]!.name !== undefined) assert.strictEqual(task.name, input[index]!.name)
      }
    }
  )

  it("a task file: a YAML list, {tasks: [...]}, a map NAME: PROMPT, or JSON", () => {
    const yaml = "tasks:\n  - name: review\n    prompt: review src/\n  - run the tests\n"
    assert.deepStrictEqual(right(Tasks.parseFile(yaml, "t.yaml")), [
      { name: "review", prompt: "review src/" },
      { name: undefined, prompt: "run the tests" }
    ])
    assert.deepStrictEqual(right(Tasks.parseFile("review: look\ntests: run\n", "t.yaml")), [
      { name: "review", prompt: "look" },
      { name: "tests", prompt: "run" }
    ])
    assert.deepStrictEqual(right(Tasks.parseFile(`[{"name":"a","prompt":"x"}]`, "t.json")), [{
      name: "a",
      prompt: "x"
    }])
    assert.include(left(Tasks.parseFile("- name: a\n", "t.yaml")).message, "no \"prompt\"")
    assert.include(left(Tasks.parseFile("just text", "t.yaml")).message, "expected a list")
    assert.include(left(Tasks.parseFile("a: [1", "t.yaml")).message, "not JSON or YAML")
    assert.include(left(Tasks.readFile("/nonexistent/tasks.yaml", "/")).message, "no such file")
  })

  it("deputy run settings: --task makes a tree; mixing with PROMPT, -i, or tree flags without tasks is an error", () => {
    const base: RunCommand.Parsed = {
      agent: { _tag: "None" } as never,
      agentCommand: { _tag: "Some", value: "node agent.mjs" } as never,
      codexHome: { _tag: "None" } as never,
      codexBin: { _tag: "None" } as never,
      cwd: { _tag: "None" } as never,
      sandbox: { _tag: "None" } as never,
      model: { _tag: "None" } as never,
      interactive: false,
      approval: { _tag: "None" } as never,
      policy: { _tag: "None" } as never,
      json: false,
      drainTimeout: { _tag: "None" } as never,
      approvalTimeout: { _tag: "None" } as never,
      prompt: []
    }
    const tree = right(RunCommand.settings({ ...base, task: ["review=look", "run tests"] })).tree
    assert.deepStrictEqual(tree?.tasks, [{ name: "review", prompt: "look" }, { name: "task-2", prompt: "run tests" }])
    assert.strictEqual(tree?.maxConcurrent, 4)
    assert.isFalse(tree?.failFast)
    assert.isUndefined(right(RunCommand.settings({ ...base, prompt: ["hello"] })).tree, "one PROMPT: as before")
    assert.include(left(RunCommand.settings({ ...base, task: ["a=x"], prompt: ["y"] })).message, "not both")
    assert.include(left(RunCommand.settings({ ...base, task: ["a=x"], interactive: true })).message, "--interactive")
    assert.include(
      left(RunCommand.settings({ ...base, prompt: ["y"], failFast: true })).message,
      "--fail-fast is for several tasks"
    )
    assert.include(
      left(RunCommand.settings({ ...base, task: ["a=x"], maxConcurrent: { _tag: "Some", value: 0 } as never }))
        .message,
      "--max-concurrent"
    )
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-tasks-"))
    try {
      const file = path.join(dir, "tasks.yaml")
      fs.writeFileSync(file, "- name: b\n  prompt: from the file\n")
      const fromFile = right(
        RunCommand.settings({ ...base, task: ["a=x"], tasks: { _tag: "Some", value: file } as never })
      )
      assert.deepStrictEqual(fromFile.tree?.tasks.map((task) => task.name), ["a", "b"])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("NodeLabel: a node's name in front of its lines", () => {
  it("the same name gets the same colour, every time; without colour the prefix is still there", () => {
    const colour = Style.make(true)
    assert.strictEqual(NodeLabel.make(colour, "review").prefix, NodeLabel.make(colour, "review").prefix)
    assert.include(NodeLabel.make(colour, "review").prefix, "\x1b[")
    assert.strictEqual(NodeLabel.make(Style.plain, "review", 8).prefix, "review   │ ")
    assert.strictEqual(NodeLabel.make(Style.plain, "a").lines("one\ntwo"), "a │ one\na │ two")
    const names = ["review", "tests", "docs", "lint", "build", "bench", "e2e", "types"]
    const colours = new Set(names.map((name) => NodeLabel.make(colour, name).prefix.slice(0, 12)))
    assert.isAbove(colours.size, 3, "names spread over the palette")
  })

  it("a name is shown escaped, never raw", () => {
    const label = NodeLabel.make(Style.plain, "x\x1b[2Jy")
    assert.notInclude(label.prefix, "\x1b")
    assert.include(label.prefix, "x\\x1b[2Jy")
  })

  it("who asks: the chain below the root, escaped; the lone sub-agent otherwise", () => {
    const request = command()
    assert.strictEqual(Render.whoAsks(request), "The sub-agent asks")
    const link = (linkPath: string): ApprovalRequest.ProvenanceLink => ({
      path: linkPath,
      name: linkPath.split("/").at(-1)!,
      delegateId: linkPath,
      source: "review"
    })
    const nested = { ...request, path: "root/review/tests", chain: [link("root/review"), link("root/review/tests")] }
    assert.strictEqual(Render.whoAsks(nested), "review › tests asks")
    const withRoot = { ...nested, chain: [link("root"), ...nested.chain] }
    assert.strictEqual(Render.whoAsks(withRoot), "review › tests asks", "a chain that starts at the root")
    assert.strictEqual(Render.whoAsks({ ...request, path: "root/a\u202eb" }), "a\\u202eb asks")
  })
})

describe("Receipt: the lines for a person", () => {
  it("every node: how it ended, turns, time, tokens, pids; its last message; queued ones as not started", () => {
    const usage = { input_tokens: 10, output_tokens: 2, total_tokens: 12 }
    const receipt: JsonOutput.ReceiptRecord = {
      deputy: "receipt",
      stopped: "interrupted",
      nodes: [
        {
          node: "root/review",
          reason: "completed",
          last_agent_message: "all good\x1b[2J",
          turns: 1,
          elapsed_ms: 1200,
          usage,
          pids_killed: [41]
        },
        { node: "root/tests", reason: "interrupted", message: "stopped", turns: 1, elapsed_ms: 300, usage },
        { node: "root/lint", reason: "errored", message: "the model failed", turns: 1, elapsed_ms: 90, usage },
        {
          node: "root/docs",
          reason: "not_started",
          turns: 0,
          elapsed_ms: 0,
          usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 }
        }
      ],
      usage: { input_tokens: 20, output_tokens: 4, total_tokens: 24 }
    }
    assert.deepStrictEqual(Receipt.lines(Style.plain, receipt), [
      "── receipt: 4 tasks · stopped (interrupted) · 24 tokens (20 in, 4 out)",
      "review │ ✔ completed · 1 turn · 1.2s · 12 tokens (10 in, 2 out) · stopped pid 41",
      "review │   last: all good\\x1b[2J",
      "tests  │ ■ interrupted · 1 turn · 300ms · 12 tokens (10 in, 2 out)",
      "lint   │ ✘ errored · 1 turn · 90ms · 12 tokens (10 in, 2 out)",
      "lint   │   the model failed",
      "docs   │ · not started"
    ])
    const surviving = { ...receipt, nodes: [{ ...receipt.nodes[0]!, pids_surviving: [42] }] }
    assert.include(Receipt.lines(Style.plain, surviving).join("\n"), "⚠ still running: pid 42")
  })
})

describe("CommandLine.splitValues: --flag=value for repeated flags", () => {
  it("splits a value flag's --flag=value in two, up to --; switches and prompts stay as they are", () => {
    assert.deepStrictEqual(
      CommandLine.splitValues(["run", "--task=a=x y", "--env=TOKEN", "--json", "fix a=b", "--", "--task=z"]),
      ["run", "--task", "a=x y", "--env", "TOKEN", "--json", "fix a=b", "--", "--task=z"]
    )
    assert.deepStrictEqual(CommandLine.splitValues(["--version"]), ["--version"])
  })
})
