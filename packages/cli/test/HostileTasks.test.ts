import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeLabel from "../src/internal/NodeLabel.js"
import * as Style from "../src/internal/Style.js"
import * as Tasks from "../src/internal/Tasks.js"

// A task file may come from a repository, a chain's names from a sub-agent: neither may reach the
// terminal as raw controls (C0, C1 such as the 8-bit CSI \x9b, bidi overrides).
const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/

const problemOf = <A>(either: Either.Either<A, Tasks.TaskProblem>): string => {
  if (Either.isRight(either)) throw new Error(`expected a problem, got ${JSON.stringify(either.right)}`)
  return either.left.message
}

describe("hostile task lists", () => {
  it("task names with ANSI, C1 CSI, bidi or 10k characters are refused, and the message shows them escaped", () => {
    for (const name of ["\x1b[31mred", "a\u009b2J", "a\u202etxt.exe", "a".repeat(10_000), "a\u0007", "x\u2066y"]) {
      const message = problemOf(Tasks.resolve([{ name, prompt: "p" }]))
      assert.isFalse(raw.test(message), JSON.stringify(message))
      assert.isBelow(message.length, 12_000)
    }
  })

  it("a task file's map keys with controls are shown escaped in the messages", () => {
    const message = problemOf(Tasks.parseFile(`"a\\u009b2J\\u202e": 3\n`, "t.yaml"))
    assert.isFalse(raw.test(message), JSON.stringify(message))
  })

  it("a YAML parse error does not echo the file's raw controls", () => {
    const message = problemOf(Tasks.parseFile(`- name: a\n  prompt: [\u001b]0;pwned\u0007\u009b2J\n  : :\n`, "t.yaml"))
    assert.isFalse(raw.test(message), JSON.stringify(message))
  })

  it("a billion-laughs YAML is refused, not expanded", () => {
    const lines = ["a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i)
      const next = String.fromCharCode(97 + i)
      lines.push(`${next}: &${next} [${Array.from({ length: 9 }, () => `*${prev}`).join(",")}]`)
    }
    lines.push("tasks: *j")
    const result = Tasks.parseFile(lines.join("\n"), "bomb.yaml")
    assert.isTrue(Either.isLeft(result))
  })

  it("10,000 tasks are refused with one short message", () => {
    const many = Array.from({ length: 10_000 }, (_, i) => ({ name: `t${i}`, prompt: "p" }))
    const message = problemOf(Tasks.resolve(many))
    assert.isBelow(message.length, 200)
    const file = problemOf(
      Either.flatMap(Tasks.parseFile(JSON.stringify(many), "many.json"), Tasks.resolve)
    )
    assert.isBelow(file.length, 200)
  })

  it("--task without a name keeps every = of the prompt; NAME= takes only the first", () => {
    assert.deepStrictEqual(Tasks.parseTaskFlag("set x=1 and y=2"), { name: undefined, prompt: "set x=1 and y=2" })
    assert.deepStrictEqual(Tasks.parseTaskFlag("a=b=c"), { name: "a", prompt: "b=c" })
    assert.deepStrictEqual(Tasks.parseTaskFlag("==x"), { name: undefined, prompt: "=x" })
    assert.deepStrictEqual(Tasks.parseTaskFlag("\x1b[31m=x"), { name: undefined, prompt: "\x1b[31m=x" })
  })
})

describe("hostile node labels", () => {
  const hostile = ["\x1b]0;pwned\x07", "a\u009b2J", "x\u202eexe.txt", "\u2067y", "z\r\nfake line", "w\u200b"]

  it("labels and who-asks show names escaped, with or without colour", () => {
    for (const style of [Style.plain, Style.make(true)]) {
      for (const name of hostile) {
        const label = NodeLabel.make(style, name, 8)
        assert.isFalse(raw.test(Style.strip(label.prefix)), JSON.stringify(label.prefix))
        assert.isFalse(label.name.includes("\n") || label.name.includes("\r"))
        assert.isFalse(raw.test(label.name))
      }
    }
    const asker = NodeLabel.asker({
      path: "root/a",
      chain: hostile.map((name, i) => ({ path: `root/${i}`, name, delegateId: `d${i}`, source: "review" as const }))
    } as never)
    assert.isDefined(asker)
    assert.isFalse(raw.test(asker!), JSON.stringify(asker))
    const fromPath = NodeLabel.asker({ path: `root/${hostile.join("/")}` } as never)
    assert.isFalse(raw.test(fromPath!), JSON.stringify(fromPath))
  })
})

describe("hostile task files", () => {
  it("a task file that is a pipe (size 0 to stat) past 1 MiB is refused after 1 MiB, not read whole", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-tasks-"))
    try {
      const fifo = path.join(dir, "tasks.yaml")
      execFileSync("mkfifo", [fifo])
      // the writer: 2 MB into the pipe, then it ends (it blocks until the reader opens the pipe)
      const writer = spawn("sh", ["-c", `head -c 2000000 /dev/zero | tr '\\0' 'y' > '${fifo}'`], { stdio: "ignore" })
      try {
        const message = problemOf(Tasks.readFile(fifo, dir))
        assert.include(message, "larger than 1 MiB")
      } finally {
        writer.kill("SIGKILL")
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
