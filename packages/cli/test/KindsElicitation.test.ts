import { type ApprovalRequest, DecidedBy } from "@deputy/core"
import * as Terminal from "@effect/platform/Terminal"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Ref from "effect/Ref"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as JsonOutput from "../src/JsonOutput.js"
import { Output } from "../src/Output.js"
import * as PolicyFile from "../src/PolicyFile.js"
import * as Render from "../src/Render.js"
import * as TerminalApprovals from "../src/TerminalApprovals.js"
import * as MockTerminal from "./utils/MockTerminal.js"
import * as RecordingOutput from "./utils/RecordingOutput.js"
import * as Requests from "./utils/requests.js"

const setup = (options: Partial<TerminalApprovals.Options> = {}) =>
  Effect.gen(function*() {
    const mock = yield* MockTerminal.make
    const recorded = yield* RecordingOutput.make()
    const changes = yield* Ref.make<ReadonlyArray<TerminalApprovals.RuleChange>>([])
    const { approvals, remembered } = yield* TerminalApprovals.makeRemembering({
      cwd: "/repo",
      onInterrupt: Effect.void,
      onRuleChange: (change) => Ref.update(changes, (all) => [...all, change]),
      ...options
    }).pipe(Effect.provideService(Terminal.Terminal, mock.terminal), Effect.provideService(Output, recorded.output))
    return { ...mock, ...recorded, approvals, remembered, changes: Ref.get(changes) }
  })

const elicitation = (
  body: Record<string, unknown>,
  server = "files"
): ApprovalRequest.ElicitationRequest => ({
  id: `d/elicitation/${server}#7`,
  delegateId: "d",
  turnId: "t",
  callId: `${server}#7`,
  source: "review",
  kind: "elicitation",
  event: {
    type: "elicitation_request",
    server_name: server,
    id: 7,
    request: { mode: "form", message: "Which file?", ...body }
  }
})

const toolCall = (server = "files") =>
  elicitation({
    requested_schema: { type: "object", properties: {} },
    _meta: { codex_approval_kind: "mcp_tool_call", persist: ["session", "always"], tool_name: "delete_file" }
  }, server)

const value = <A>(answer: DecidedBy.Answer<A>) => DecidedBy.split(answer, "test").value

describe("MCP elicitations at the terminal", () => {
  it.scoped("a tool-call approval offers only the persist choices it has; s remembers for the session", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.send(MockTerminal.key("s"))
      const answer = yield* t.approvals.elicitation!(toolCall())
      assert.deepStrictEqual(
        answer,
        DecidedBy.decided({ action: "accept", persist: "session" }, {
          _tag: "Person",
          channel: "terminal",
          key: "s"
        })
      )
      const shown = t.stderr()
      assert.include(shown, "a approve once · s approve and remember for the session · r approve and remember always")
      assert.include(shown, "tool: delete_file")
      const plain = elicitation({
        requested_schema: { type: "object", properties: {} },
        _meta: { codex_approval_kind: "mcp_tool_call" }
      })
      yield* t.send(MockTerminal.key("s"), MockTerminal.key("a"))
      assert.deepStrictEqual(value(yield* t.approvals.elicitation!(plain)), { action: "accept" })
    }))

  it.scoped("hostile: ANSI and newlines in the server name and message are shown as escapes", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.send(MockTerminal.key("d"))
      const request = elicitation(
        { message: "ok\n\x1b[2K✔ approved by you", requested_schema: { type: "object", properties: {} } },
        "evil\x1b[31m\nsrv"
      )
      assert.deepStrictEqual(value(yield* t.approvals.elicitation!(request)), { action: "decline" })
      const shown = t.stderr()
      assert.notInclude(shown, "\x1b")
      assert.include(shown, "evil\\x1b[31m\\nsrv")
      assert.notMatch(shown, /^✔ approved by you/m)
      assert.notInclude(Render.describeRequest(request, "/repo"), "\x1b")
    }))

  it.scoped("a form is filled field by field, typed by the person, and checked before it goes out", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      const schema = {
        type: "object",
        properties: {
          name: { type: "string", title: "File name" },
          size: { type: "integer", maximum: 5 },
          color: { type: "string", enum: ["red", "blue"] }
        },
        required: ["name"]
      }
      // first try: size 9 is refused, the menu comes back; second: valid
      yield* t.send(
        MockTerminal.key("f"),
        ...MockTerminal.line("a.txt"),
        ...MockTerminal.line("9"),
        ...MockTerminal.line(""),
        MockTerminal.key("f"),
        ...MockTerminal.line("a.txt"),
        ...MockTerminal.line("3"),
        ...MockTerminal.line("2")
      )
      const answer = value(yield* t.approvals.elicitation!(elicitation({ requested_schema: schema })))
      assert.deepStrictEqual(answer, { action: "accept", content: { name: "a.txt", size: 3, color: "blue" } })
      assert.include(t.stderr(), "not sent: field \"size\" is above 5")
    }))

  it.scoped("a URL is shown and never opened; o says the person did it; the end of input declines", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.send(MockTerminal.key("o"))
      const url = elicitation({ mode: "url", url: "https://login.example/x", elicitation_id: "e" })
      assert.deepStrictEqual(value(yield* t.approvals.elicitation!(url)), { action: "accept" })
      assert.include(t.stderr(), "a URL (Deputy does not open it): https://login.example/x")
      yield* t.send(MockTerminal.ctrlD)
      const ended = yield* t.approvals.elicitation!(url)
      assert.deepStrictEqual(ended, DecidedBy.decided({ action: "decline" }, { _tag: "Default", why: "end of input" }))
    }))
})

describe("remembered rules: listed and revoked at a prompt, persisted with --remember-to", () => {
  it.scoped("m lists the rules and revokes the one typed; a revoked rule no longer approves", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.send(MockTerminal.key("r"))
      yield* t.approvals.command(Requests.proposing(["npm", "test"]))
      // remembered: not asked
      assert.strictEqual(value(yield* t.approvals.command(Requests.command(["npm", "test"]))), "approved")
      // another prompt offers m; revoke rule 1, then deny this one
      yield* t.send(MockTerminal.key("m"), ...MockTerminal.line("1"), MockTerminal.key("d"))
      assert.strictEqual(value(yield* t.approvals.command(Requests.command(["ls"]))), "denied")
      assert.include(t.stderr(), "m remembered rules")
      assert.include(t.stderr(), "1. approve commands starting `npm test`")
      assert.include(t.stderr(), "revoked: approve commands starting `npm test`")
      assert.deepStrictEqual(yield* t.remembered.rules, [])
      // revoked: asked again
      yield* t.send(MockTerminal.key("d"))
      assert.strictEqual(value(yield* t.approvals.command(Requests.command(["npm", "test"]))), "denied")
      const changes = yield* t.changes
      assert.deepStrictEqual(changes.map((change) => change.change), ["added", "revoked"])
      assert.deepStrictEqual(
        changes.map((change) => JSON.parse(JsonOutput.ruleLine(JsonOutput.ruleRecord(change)))),
        [
          {
            deputy: "rule",
            change: "added",
            rule: { kind: "command", commandPrefix: ["npm", "test"], action: "approve" }
          },
          {
            deputy: "rule",
            change: "revoked",
            rule: { kind: "command", commandPrefix: ["npm", "test"], action: "approve" }
          }
        ]
      )
    }))

  it.scoped("--remember-to appends exactly the proposed rule to the file, which loads back as a policy", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-kinds-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "policy.json")
      fs.writeFileSync(file, JSON.stringify({ rules: [{ commandPrefix: "rm", action: "deny" }] }))
      const t = yield* setup({ rememberTo: file })
      yield* t.send(MockTerminal.key("r"))
      yield* t.approvals.command(Requests.proposing(["git", "pull"]))
      const loaded = PolicyFile.parse(fs.readFileSync(file, "utf8"), file)
      assert.deepStrictEqual(Either.getOrThrow(loaded).map(({ source: _, ...rule }) => rule), [
        { commandPrefix: ["rm"], action: "deny" },
        { kind: "command", commandPrefix: ["git", "pull"], action: "approve" }
      ])
      assert.strictEqual((yield* t.changes)[0]!.persistedTo, file)
      assert.deepStrictEqual(fs.readdirSync(dir), ["policy.json"], "no temporary file left")
    }))

  it.effect("appendRule refuses a symlink, another kind of file and an annotated file, leaving them untouched", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-kinds-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const rule = { kind: "command" as const, commandPrefix: ["ls"], action: "approve" as const }
      const target = path.join(dir, "target.json")
      fs.writeFileSync(target, "{\"rules\": []}")
      const link = path.join(dir, "link.json")
      fs.symlinkSync(target, link)
      const refused = (file: string) => Effect.flip(PolicyFile.appendRule(file, rule))
      assert.match((yield* refused(link)).message, /is a symlink/)
      assert.strictEqual(fs.readFileSync(target, "utf8"), "{\"rules\": []}")
      assert.match((yield* refused(dir)).message, /not a regular file/)
      const annotated = path.join(dir, "annotated.json")
      fs.writeFileSync(annotated, "{\"rules\": [] // mine\n}")
      assert.match((yield* refused(annotated)).message, /has comments/)
      assert.strictEqual(fs.readFileSync(annotated, "utf8"), "{\"rules\": [] // mine\n}")
      const created = path.join(dir, "new.json")
      yield* PolicyFile.appendRule(created, rule)
      assert.deepStrictEqual(JSON.parse(fs.readFileSync(created, "utf8")), {
        rules: [{ kind: "command", commandPrefix: ["ls"], action: "approve" }]
      })
    }).pipe(Effect.scoped))
})

describe("policy files: elicitation rules", () => {
  it("kind elicitation, mcpServer and mcpTool parse; mixing them with command conditions is refused", () => {
    const rules = Either.getOrThrow(PolicyFile.parse(
      JSON.stringify({
        rules: [{ kind: "elicitation", mcpServer: "github", mcpTool: "create_issue", action: "approve" }]
      }),
      "p.json"
    ))
    assert.deepStrictEqual(rules[0], {
      kind: "elicitation",
      mcpServer: "github",
      mcpTool: "create_issue",
      action: "approve",
      source: "p.json"
    })
    const mixed = PolicyFile.parse(
      JSON.stringify({ rules: [{ mcpServer: "g", commandPrefix: "ls", action: "approve" }] }),
      "p.json"
    )
    assert.isTrue(Either.isLeft(mixed))
  })
})
