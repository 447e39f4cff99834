/**
 * The real Codex binary (`codex app-server`) against the scripted model, at the `Agent` level: approval
 * requests and their answers. Offline (loopback only); every run writes in temporary directories.
 */
import { ScriptedModel } from "@deputy/codex"
import type { Event, Op, ReviewDecision } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  awaitNoLeftovers,
  codexVersions,
  envSeenByCommand,
  isTurnEnd,
  provideNode,
  reader,
  requestToolsArgs,
  spawnScripted as spawnPinned,
  text,
  withParentEnv
} from "./utils.js"

type Json = Record<string, any>

const decide = (decision: ReviewDecision.ReviewDecision) => (event: Event.Event): Op.Op | undefined =>
  event.msg.type === "exec_approval_request"
    ? {
      type: "exec_approval",
      id: String(event.msg.approval_id ?? event.msg.call_id),
      turn_id: event.id,
      decision
    }
    : event.msg.type === "apply_patch_approval_request"
    ? { type: "patch_approval", id: String(event.msg.call_id), decision }
    : undefined

const ofType = (events: ReadonlyArray<Event.Event>, type: string) => events.filter((event) => event.msg.type === type)

/** The input items of the model's requests after the given one (what Codex told the model). */
const outputsSent = (requests: ReadonlyArray<ScriptedModel.RecordedRequest>) =>
  requests.flatMap((request) =>
    ((request.body as Json).input as Array<Json>).filter((item) => item.type.endsWith("_call_output"))
  )

describe.each(codexVersions)("CodexAgent: approvals with the real Codex $version", ({ binary }) => {
  const spawnScripted = (...[scenario, options, spawnOptions]: Parameters<typeof spawnPinned>) =>
    spawnPinned(scenario, { binary, ...options }, spawnOptions)
  it.scopedLive("a message-only turn", () =>
    Effect.gen(function*() {
      const { agent } = yield* spawnScripted(ScriptedModel.messageScenario("Nothing to do."))
      const events = yield* reader(agent)
      const id = yield* agent.submit(text("hello"))
      const seen = yield* events.until(isTurnEnd)
      const configured = ofType(seen, "session_configured")[0]!
      assert.strictEqual(configured.id, "")
      assert.strictEqual((configured.msg as Json).session_id, agent.threadId)
      const turn = seen.slice(seen.findIndex((event) => event.msg.type === "task_started"))
      assert.deepStrictEqual(
        turn.map((event) => event.msg.type).filter((type) => type !== "codex_notification"),
        ["task_started", "agent_message_delta", "agent_message", "token_count", "task_complete"]
      )
      assert.isTrue(turn.every((event) => event.id === id))
      assert.strictEqual((seen.at(-1)!.msg as Json).last_agent_message, "Nothing to do.")
      assert.deepStrictEqual(yield* agent.status, { completed: "Nothing to do." })
    }).pipe(provideNode))

  it.scopedLive("a command approved runs (it writes a file in the working directory)", () =>
    Effect.gen(function*() {
      const { agent, cwd } = yield* spawnScripted(ScriptedModel.scenario([
        ScriptedModel.exec("echo approved > approved.txt"),
        ScriptedModel.message("ran it")
      ]))
      const events = yield* reader(agent)
      yield* agent.submit(text("write the file"))
      const seen = yield* events.until(isTurnEnd, decide("approved"))
      const request = ofType(seen, "exec_approval_request")[0]!.msg as Json
      assert.deepStrictEqual(request.command.at(-1), "echo approved > approved.txt")
      assert.strictEqual(request.cwd, cwd)
      assert.strictEqual(request.call_id, "call_0_0_0")
      assert.include(request.available_decisions, "approved")
      const end = ofType(seen, "exec_command_end")[0]!.msg as Json
      assert.strictEqual(end.exit_code, 0)
      assert.strictEqual(fs.readFileSync(path.join(cwd, "approved.txt"), "utf8"), "approved\n")
      assert.strictEqual(seen.at(-1)!.msg.type, "task_complete")
    }).pipe(provideNode))

  it.scopedLive("a command denied does not run, and the turn goes on", () =>
    Effect.gen(function*() {
      const { agent, cwd, model } = yield* spawnScripted(ScriptedModel.scenario([
        ScriptedModel.exec("echo denied > denied.txt"),
        ScriptedModel.message("it was denied")
      ]))
      const events = yield* reader(agent)
      yield* agent.submit(text("write the file"))
      const seen = yield* events.until(isTurnEnd, decide("denied"))
      assert.isFalse(fs.existsSync(path.join(cwd, "denied.txt")))
      assert.strictEqual((ofType(seen, "exec_command_end")[0]!.msg as Json).status, "declined")
      assert.strictEqual(seen.at(-1)!.msg.type, "task_complete")
      assert.strictEqual((seen.at(-1)!.msg as Json).last_agent_message, "it was denied")
      const outputs = outputsSent(yield* model.requests)
      assert.deepStrictEqual(outputs.map((item) => item.call_id), ["call_0_0_0"])
    }).pipe(provideNode))

  it.scopedLive("a command aborted does not run, and the turn ends interrupted", () =>
    Effect.gen(function*() {
      const { agent, cwd, model } = yield* spawnScripted(ScriptedModel.scenario([
        ScriptedModel.exec("echo aborted > aborted.txt"),
        ScriptedModel.message("never sent")
      ]))
      const events = yield* reader(agent)
      yield* agent.submit(text("write the file"))
      const seen = yield* events.until(isTurnEnd, decide("abort"))
      assert.deepStrictEqual(seen.at(-1)!.msg.type, "turn_aborted")
      assert.deepStrictEqual((seen.at(-1)!.msg as Json).reason, "interrupted")
      assert.isFalse(fs.existsSync(path.join(cwd, "aborted.txt")))
      assert.strictEqual((yield* model.requests).length, 1)
      assert.strictEqual(yield* agent.status, "interrupted")
    }).pipe(provideNode))

  it.scopedLive("a patch approved is applied; its changes are in the request", () =>
    Effect.gen(function*() {
      const { agent, cwd } = yield* spawnScripted(ScriptedModel.scenario([
        ScriptedModel.patch(ScriptedModel.addFilePatch("notes.md", "# Notes\nhello\n")),
        ScriptedModel.message("patched")
      ]))
      const events = yield* reader(agent)
      yield* agent.submit(text("add notes"))
      const seen = yield* events.until(isTurnEnd, decide("approved"))
      const request = ofType(seen, "apply_patch_approval_request")[0]!.msg as Json
      assert.deepStrictEqual(request.changes, {
        [path.join(cwd, "notes.md")]: { type: "add", content: "# Notes\nhello\n" }
      })
      assert.isTrue((ofType(seen, "patch_apply_end")[0]!.msg as Json).success)
      assert.strictEqual(fs.readFileSync(path.join(cwd, "notes.md"), "utf8"), "# Notes\nhello\n")
    }).pipe(provideNode))

  it.scopedLive("a patch denied is not applied, and the turn goes on", () =>
    Effect.gen(function*() {
      const { agent, cwd } = yield* spawnScripted(ScriptedModel.scenario([
        ScriptedModel.patch(ScriptedModel.addFilePatch("notes.md", "nope\n")),
        ScriptedModel.message("not patched")
      ]))
      const events = yield* reader(agent)
      yield* agent.submit(text("add notes"))
      const seen = yield* events.until(isTurnEnd, decide("denied"))
      assert.isFalse(fs.existsSync(path.join(cwd, "notes.md")))
      assert.isFalse((ofType(seen, "patch_apply_end")[0]!.msg as Json).success)
      assert.strictEqual((seen.at(-1)!.msg as Json).last_agent_message, "not patched")
    }).pipe(provideNode))

  it.scopedLive("approved for the session: the same command is not asked again in the next turn", () =>
    Effect.gen(function*() {
      const command = "echo again >> log.txt"
      const { agent, cwd } = yield* spawnScripted(ScriptedModel.scenario([
        ScriptedModel.exec(command),
        ScriptedModel.message("logged")
      ]))
      const events = yield* reader(agent)
      yield* agent.submit(text("log once"))
      const first = yield* events.until(isTurnEnd, decide("approved_for_session"))
      assert.strictEqual(ofType(first, "exec_approval_request").length, 1)
      yield* agent.submit(text("log twice"))
      const second = yield* events.until(isTurnEnd, decide("denied"))
      assert.strictEqual(ofType(second, "exec_approval_request").length, 0)
      assert.strictEqual((ofType(second, "exec_command_end")[0]!.msg as Json).exit_code, 0)
      assert.strictEqual(fs.readFileSync(path.join(cwd, "log.txt"), "utf8"), "again\nagain\n")
    }).pipe(provideNode))

  it.scopedLive("user input and permissions requests: the answers reach the model", () =>
    Effect.gen(function*() {
      const { agent, model } = yield* spawnScripted(
        ScriptedModel.scenario([
          ScriptedModel.raw({
            type: "function_call",
            call_id: "call_ask",
            name: "request_user_input",
            arguments: JSON.stringify({
              questions: [{
                id: "color",
                header: "Color",
                question: "Which color?",
                options: [{ label: "Red", description: "warm" }, { label: "Blue", description: "cold" }]
              }]
            })
          }),
          ScriptedModel.raw({
            type: "function_call",
            call_id: "call_net",
            name: "request_permissions",
            arguments: JSON.stringify({ reason: "fetch a page", permissions: { network: { enabled: true } } })
          }),
          ScriptedModel.message("thanks")
        ]),
        { args: requestToolsArgs }
      )
      const events = yield* reader(agent)
      yield* agent.submit(text("ask me"))
      const seen = yield* events.until(isTurnEnd, (event) =>
        event.msg.type === "request_user_input"
          ? { type: "user_input_answer", id: event.id, response: { answers: { color: { answers: ["Blue"] } } } }
          : event.msg.type === "request_permissions"
          ? {
            type: "request_permissions_response",
            id: String(event.msg.call_id),
            response: { permissions: { network: { enabled: true } }, scope: "turn" }
          }
          : undefined)
      const question = ofType(seen, "request_user_input")[0]!.msg as Json
      assert.strictEqual(question.call_id, "call_ask")
      assert.strictEqual(question.questions[0].question, "Which color?")
      const permissions = ofType(seen, "request_permissions")[0]!.msg as Json
      assert.deepStrictEqual(permissions.permissions, { network: { enabled: true }, file_system: null })
      assert.strictEqual(permissions.reason, "fetch a page")
      const outputs = outputsSent(yield* model.requests)
      const answerOf = (callId: string) => JSON.parse(outputs.find((item) => item.call_id === callId)!.output)
      assert.deepStrictEqual(answerOf("call_ask"), { answers: { color: { answers: ["Blue"] } } })
      assert.deepStrictEqual(answerOf("call_net").permissions.network, { enabled: true })
      assert.strictEqual(seen.at(-1)!.msg.type, "task_complete")
    }).pipe(provideNode))

  it.live("leaves no Codex process behind", () =>
    Effect.map(awaitNoLeftovers, (left) => assert.deepStrictEqual(left, [])))
})

describe("CodexAgent: the environment of the commands Codex runs", () => {
  const secrets = {
    AWS_SECRET_ACCESS_KEY: "deputy-test-aws-secret",
    GITHUB_TOKEN: "deputy-test-github-token",
    DATABASE_URL: "postgres://deputy:secret@localhost/test"
  }
  /** The secrets in the parent's environment (the one Codex is spawned from) while the scope lives. */
  const secretsInParent = withParentEnv(secrets)

  it.scopedLive("a command run by Codex does not see the parent's secrets; what the caller passes it does", () =>
    Effect.gen(function*() {
      yield* secretsInParent
      const seen = yield* envSeenByCommand({ env: { DEPUTY_PASSED: "passed on purpose" } })
      for (const [name, value] of Object.entries(secrets)) {
        assert.notInclude(seen, `${name}=`)
        assert.notInclude(seen, value)
      }
      assert.include(seen, "DEPUTY_PASSED=passed on purpose")
      assert.match(seen, /^PATH=/m)
    }).pipe(provideNode))

  it.scopedLive("inheritEnv: true passes the parent's whole environment (today's behaviour, on request)", () =>
    Effect.gen(function*() {
      yield* secretsInParent
      const seen = yield* envSeenByCommand({ inheritEnv: true })
      assert.include(seen, `GITHUB_TOKEN=${secrets.GITHUB_TOKEN}`)
    }).pipe(provideNode))
})
