/**
 * `deputy answer` and `deputy approve --persist` across two real processes (the `deputy` bin, SQLite on
 * disk): a `deputy run --approval inbox` whose sub-agent (test/fixtures/answer-agent.mjs) asks an MCP form,
 * an MCP tool-call approval or questions waits in the ledger; `deputy inbox --json` shows what each accepts;
 * an answer that does not fit is refused (exit code 5) and nothing is recorded; the answer that fits reaches
 * the sub-agent exactly as given, and the chain verifies.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach } from "vitest"
import * as Cli from "./utils/cli.js"

const answerAgent = fileURLToPath(new URL("./fixtures/answer-agent.mjs", import.meta.url))

const jsonLines = (text: string): Array<Record<string, unknown>> =>
  text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line) as Record<string, unknown>)

/** Starts `deputy run --approval inbox` on `prompt`; resolves with the id of the request it waits on. */
const waitingRun = (dir: string, ledger: string, prompt: string) => {
  const child = Cli.spawnDeputy([
    "run",
    "--json",
    "--approval",
    "inbox",
    "--ledger",
    `sqlite:${ledger}`,
    "--cwd",
    dir,
    "--agent-command",
    `${JSON.stringify(process.execPath)} ${JSON.stringify(answerAgent)}`,
    prompt
  ])
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (data) => (stdout += data))
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve))
  const id = new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (data) => {
      stderr += data
      // the notice names the command that answers it: approve, or answer for a form and questions
      const found = /answer it with: deputy (?:approve|answer) (\S+)/.exec(stderr)
      if (found !== null) resolve(found[1]!)
    })
    child.on("close", () => reject(new Error(`deputy ended before a request waited:\n${stderr}`)))
  })
  child.stdin.end()
  return { id, exited, output: () => ({ stdout, stderr }) }
}

const received = (dir: string): Array<Record<string, unknown>> =>
  fs.existsSync(path.join(dir, "answers.jsonl"))
    ? jsonLines(fs.readFileSync(path.join(dir, "answers.jsonl"), "utf8"))
    : []

const entryTypes = async (ledger: string) => {
  const log = await Cli.run(["log", "--json", "--ledger", `sqlite:${ledger}`])
  assert.strictEqual(log.code, 0, log.stderr)
  return jsonLines(log.stdout).map((entry) => entry.type)
}

describe("deputy answer: from another process", () => {
  afterEach(Cli.stopAll)

  it(
    "an MCP form: inbox shows its fields; a value of the wrong type or an unknown field is refused (exit 5, " +
      "nothing recorded); the answer that fits reaches the sub-agent exactly",
    async () => {
      const dir = Cli.tempDir()
      const ledger = path.join(dir, "ledger.db")
      const run = waitingRun(dir, ledger, "form:")
      const id = await run.id
      const at = ["--ledger", `sqlite:${ledger}`]

      const inbox = await Cli.run(["inbox", "--json", ...at])
      assert.strictEqual(inbox.code, 0, inbox.stderr)
      const [record] = jsonLines(inbox.stdout)
      const accepts = record?.accepts as { answer: string; commands: Array<string>; fields: Array<{ name: string }> }
      assert.strictEqual(accepts.answer, "form")
      assert.deepStrictEqual(accepts.commands, ["answer", "deny"])
      // the ledger keeps the request as canonical JSON: the schema's properties come back sorted by name
      assert.deepStrictEqual(accepts.fields.map((field) => field.name), ["count", "mode", "overwrite", "path"])
      const text = await Cli.run(["inbox", ...at])
      assert.include(text.stdout, `deputy answer ${id} --field count=INTEGER --field mode=ENUM`)

      const approve = await Cli.run(["approve", id, ...at])
      assert.strictEqual(approve.code, 2, approve.stderr)
      assert.include(approve.stderr, "fill it with deputy answer")

      const wrongType = await Cli.run(["answer", id, "--field", "path=src/a.ts", "--field", "count=many", ...at])
      assert.strictEqual(wrongType.code, 5, wrongType.stderr)
      assert.include(wrongType.stderr, `field "count" takes a number`)
      assert.include(wrongType.stderr, "nothing was recorded")
      const unknown = await Cli.run(["answer", id, "--field", "path=src/a.ts", "--field", "colour=red", ...at])
      assert.strictEqual(unknown.code, 5, unknown.stderr)
      assert.include(unknown.stderr, `the form has no field "colour"`)
      const missing = await Cli.run(["answer", id, "--data", `{"count": 2}`, ...at])
      assert.strictEqual(missing.code, 5, missing.stderr)
      assert.include(missing.stderr, `field "path" is required`)
      const remember = await Cli.run(["answer", id, "--field", "path=x", "--persist", "session", ...at])
      assert.strictEqual(remember.code, 5, remember.stderr)
      assert.deepStrictEqual(await entryTypes(ledger), ["pending"], "a refused answer records nothing")
      assert.deepStrictEqual(received(dir), [], "nothing reached the sub-agent")

      const answered = await Cli.run([
        "answer",
        id,
        "--field",
        "path=src/a b.ts",
        "--field",
        "count=3",
        "--field",
        "overwrite=yes",
        "--field",
        "mode=2",
        "--as",
        "dana",
        "--json",
        ...at
      ])
      assert.strictEqual(answered.code, 0, answered.stderr)
      const content = { path: "src/a b.ts", count: 3, overwrite: true, mode: "safe" }
      assert.deepStrictEqual((JSON.parse(answered.stdout) as { answer: unknown }).answer, {
        _tag: "Elicitation",
        response: { action: "accept", content }
      })
      assert.strictEqual(await run.exited, 0, run.output().stderr)
      assert.deepStrictEqual(received(dir), [{
        type: "resolve_elicitation",
        server_name: "files",
        request_id: 7,
        decision: "accept",
        content
      }])
      const [approval] = jsonLines(run.output().stdout).filter((line) => line.deputy === "approval")
      assert.strictEqual(approval?.outcome, "approved")
      assert.deepStrictEqual(approval?.decided_by, { _tag: "Person", channel: "deputy answer", name: "dana" })
      const log = await Cli.run(["log", "--json", ...at])
      const decidedAt = Number(jsonLines(log.stdout).find((entry) => entry.type === "decided")?.at)
      const receivedAt = fs.statSync(path.join(dir, "answers.jsonl")).mtimeMs
      console.log(
        `ledger-cli: elicitation answer committed -> the sub-agent received it: ${
          Math.round(receivedAt - decidedAt)
        } ms`
      )

      const late = await Cli.run(["answer", id, "--decline", ...at])
      assert.strictEqual(late.code, 1, late.stderr)
      assert.match(late.stderr, /already decided by .*dana/)
      assert.deepStrictEqual(await entryTypes(ledger), ["pending", "decided", "settled", "rejected"])
      const verified = await Cli.run(["log", "--verify", ...at])
      assert.strictEqual(verified.code, 0, verified.stdout + verified.stderr)
    },
    60_000
  )

  it(
    "an MCP tool-call approval: inbox shows the persist choices it offers; one it does not offer is refused; " +
      "approve --persist session reaches the sub-agent as meta.persist",
    async () => {
      const dir = Cli.tempDir()
      const ledger = path.join(dir, "ledger.db")
      const run = waitingRun(dir, ledger, "tool:")
      const id = await run.id
      const at = ["--ledger", `sqlite:${ledger}`]

      const inbox = await Cli.run(["inbox", "--json", ...at])
      const [record] = jsonLines(inbox.stdout)
      assert.deepStrictEqual(record?.accepts, {
        answer: "tool_call",
        commands: ["approve", "deny"],
        server: "files",
        message: "Allow the files server to run delete_file?",
        tool_name: "delete_file",
        persist: ["session"]
      })
      const always = await Cli.run(["approve", id, "--persist", "always", ...at])
      assert.strictEqual(always.code, 5, always.stderr)
      assert.include(always.stderr, "does not offer to remember (always)")
      assert.deepStrictEqual(await entryTypes(ledger), ["pending"])

      const approved = await Cli.run(["approve", id, "--persist", "session", ...at])
      assert.strictEqual(approved.code, 0, approved.stderr)
      assert.strictEqual(await run.exited, 0, run.output().stderr)
      assert.deepStrictEqual(received(dir), [{
        type: "resolve_elicitation",
        server_name: "files",
        request_id: 8,
        decision: "accept",
        meta: { persist: "session" }
      }])
      const [approval] = jsonLines(run.output().stdout).filter((line) => line.deputy === "approval")
      assert.strictEqual(approval?.outcome, "approved_for_session")
      const verified = await Cli.run(["log", "--verify", ...at])
      assert.strictEqual(verified.code, 0, verified.stdout)
    },
    60_000
  )

  it(
    "questions (request_user_input): an option it does not list or a question it does not ask is refused; " +
      "an option by number and a free text reach the sub-agent as answers by question id",
    async () => {
      const dir = Cli.tempDir()
      const ledger = path.join(dir, "ledger.db")
      const run = waitingRun(dir, ledger, "ask:")
      const id = await run.id
      const at = ["--ledger", `sqlite:${ledger}`]

      const inbox = await Cli.run(["inbox", "--json", ...at])
      const accepts = jsonLines(inbox.stdout)[0]?.accepts as { answer: string; questions: Array<unknown> }
      assert.strictEqual(accepts.answer, "questions")
      assert.deepStrictEqual(accepts.questions, [
        {
          id: "q1",
          header: "Go on?",
          question: "Shall I go on?",
          options: ["yes", "no"],
          free_text: false,
          secret: false
        },
        { id: "q2", header: "Why", question: "Why?", free_text: true, secret: false }
      ])

      const maybe = await Cli.run(["answer", id, "--field", "q1=maybe", ...at])
      assert.strictEqual(maybe.code, 5, maybe.stderr)
      assert.include(maybe.stderr, `question "q1" takes one of its options ("yes", "no"), not "maybe"`)
      const other = await Cli.run(["answer", id, "--field", "q9=x", ...at])
      assert.strictEqual(other.code, 5, other.stderr)
      assert.include(other.stderr, `it asks no question "q9"`)
      const empty = await Cli.run(["answer", id, ...at])
      assert.strictEqual(empty.code, 2, empty.stderr)
      assert.include(empty.stderr, "--field q1=TEXT --field q2=TEXT")
      assert.deepStrictEqual(await entryTypes(ledger), ["pending"])

      const answered = await Cli.run(["answer", id, "--field", "q1=2", "--field", "q2=it is late", ...at])
      assert.strictEqual(answered.code, 0, answered.stderr)
      assert.strictEqual(await run.exited, 0, run.output().stderr)
      const [op] = received(dir)
      assert.deepStrictEqual(op?.response, { answers: { q1: { answers: ["no"] }, q2: { answers: ["it is late"] } } })
      assert.strictEqual(op?.type, "user_input_answer")
      const verified = await Cli.run(["log", "--verify", ...at])
      assert.strictEqual(verified.code, 0, verified.stdout)
    },
    60_000
  )
})
