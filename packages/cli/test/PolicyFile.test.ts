import { Approvals, ShellCommand } from "@deputy/core"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import * as PolicyFile from "../src/PolicyFile.js"
import * as Requests from "./utils/requests.js"

const examplePath = fileURLToPath(new URL("../examples/policy.json", import.meta.url))

const problem = (text: string) => {
  const result = PolicyFile.parse(text, "p.json")
  assert.isTrue(Either.isLeft(result), "expected a problem")
  return Either.isLeft(result) ? result.left.message : ""
}

beforeAll(async () => {
  await Effect.runPromise(ShellCommand.parser)
})

describe("PolicyFile", () => {
  it("reads the commented example into ordered rules", () => {
    const rules = Either.getOrThrow(PolicyFile.parse(fs.readFileSync(examplePath, "utf8"), examplePath))
    assert.strictEqual(rules.length, 11)
    assert.deepStrictEqual(rules[0], { commandPrefix: ["git", "status"], action: "approve", source: examplePath })
    assert.deepStrictEqual(rules[7], { kind: "patch", pathGlob: "**/src/**", action: "defer", source: examplePath })
    assert.deepStrictEqual(rules[8], { kind: "permissions", network: true, action: "deny", source: examplePath })
    const decide = (request: Parameters<typeof PolicyFile.decidingRule>[1]) =>
      PolicyFile.decidingRule(rules, request, { workspace: "/repo" })
    assert.strictEqual(decide(Requests.command(["git", "status", "--short"])), 0)
    assert.strictEqual(decide(Requests.command(["bash", "-lc", "rm -rf build"])), 4)
    assert.strictEqual(decide(Requests.command(["make"])), undefined)
    assert.strictEqual(decide(Requests.patch()), undefined, "src/ is asked about, and NOTES.md matches nothing")
    assert.strictEqual(decide(Requests.permissions()), 8)
    assert.isTrue(Approvals.ruleMatches(rules[3], Requests.command(["npm", "test"])))
  })

  it("says which line is wrong and what is wrong", () => {
    assert.strictEqual(
      problem(
        `{\n  "rules": [\n    { "commandPrefix": "ls", "action": "approve" },\n    { "commandPrefix": "rm", "action": "allow" }\n  ]\n}`
      ),
      `policy file p.json, line 4: rule 2 ("action"): expected one of approve, approve_for_session, deny, abort, ask; got "allow"`
    )
    assert.strictEqual(
      problem(`{ "rules": [\n  { "comandPrefix": "ls", "action": "approve" }\n] }`),
      `policy file p.json, line 2: rule 1 ("comandPrefix"): is unexpected, expected: "kind" | "commandPrefix" | "pathGlob" | "network" | "host" | "mcpServer" | "mcpTool" | "action"`
    )
    assert.strictEqual(
      problem(`{ "rules": [\n  { "kind": "patch",\n    "commandPrefix": "ls", "action": "approve" }\n] }`),
      `policy file p.json, line 3: rule 1 ("commandPrefix"): commandPrefix only matches command requests; add "command" to kind`
    )
    assert.strictEqual(
      problem(`{ "rules": [\n  { "commandPrefix": "echo 'hi", "action": "deny" }\n] }`),
      `policy file p.json, line 2: rule 1 ("commandPrefix"): a single quote is not closed`
    )
    assert.strictEqual(
      problem(`{ "rules": [\n  { "kind": "shell", "action": "deny" }\n] }`),
      `policy file p.json, line 2: rule 1 ("kind"): expected one of command, patch, permissions, user_input, elicitation; got "shell"`
    )
    assert.strictEqual(
      problem(
        `{ "rules": [\n  { "kind": "permissions", "action": "deny" },\n  { "kind": "permissions",\n    "network": "yes", "action": "deny" }\n] }`
      ),
      `policy file p.json, line 4: rule 2 ("network"): Expected boolean, actual "yes"`
    )
    assert.strictEqual(
      problem(`{ "rules": [\n  { "kind": "patch",\n    "network": true, "action": "deny" }\n] }`),
      `policy file p.json, line 3: rule 1 ("network"): network only matches permissions and command requests; add "permissions" or "command" to kind`
    )
    assert.strictEqual(
      problem(`{ "rules": [\n  { "pathGlob": "src/**",\n    "host": "example.com", "action": "deny" }\n] }`),
      `policy file p.json, line 3: rule 1 ("host"): a rule with host cannot have pathGlob or "network": false (it would never match)`
    )
    assert.strictEqual(problem(`[]`), `policy file p.json, line 1: the file: expected an object {"rules": [...]}`)
    assert.strictEqual(problem(`{}`), `policy file p.json, line 1: "rules": is missing`)
  })

  it("reports JSON syntax errors with their line", () => {
    assert.strictEqual(
      problem(`{\n  "rules": [\n    { "action": "deny" }\n    { "action": "deny" }\n  ]\n}`),
      `policy file p.json, line 4: not valid JSON: expected , or ] in a list, found "{"`
    )
    assert.strictEqual(
      problem(`{ "rules": [ /* unclosed\n ] }`),
      `policy file p.json, line 1: not valid JSON: a /* comment is not closed`
    )
    assert.strictEqual(
      problem(`{\n  'rules': []\n}`),
      `policy file p.json, line 2: not valid JSON: expected a "quoted" field name or }, found "'"`
    )
    assert.strictEqual(
      problem(`{ "rules": [], "rules": [] }`),
      `policy file p.json, line 1: not valid JSON: the field "rules" appears twice`
    )
  })

  it("accepts comments and trailing commas", () => {
    const rules = PolicyFile.parse(
      `{ // rules\n "rules": [ { "kind": ["patch", "permissions"], "pathGlob": "/tmp/**", "action": "approve", }, ], }`,
      "p"
    )
    assert.deepStrictEqual(Either.getOrThrow(rules), [{
      kind: ["patch", "permissions"],
      pathGlob: "/tmp/**",
      action: "approve",
      source: "p"
    }])
  })
})
