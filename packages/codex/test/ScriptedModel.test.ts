/**
 * The scripted Responses API server on its own (plain HTTP requests, no Codex), and the Codex home.
 */
import { CodexHome, ScriptedModel } from "@deputy/codex"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { provideNode } from "./utils.js"

interface Frame {
  readonly event: string
  readonly data: Record<string, any>
}

const parseFrames = (text: string): Array<Frame> =>
  text.split("\n\n").filter((block) => block.trim() !== "").map((block) => {
    const lines = block.split("\n")
    return {
      event: lines.find((line) => line.startsWith("event: "))!.slice(7),
      data: JSON.parse(lines.find((line) => line.startsWith("data: "))!.slice(6))
    }
  })

/** POSTs a request the way Codex does (thread and turn in headers). */
const post = (
  model: ScriptedModel.ScriptedModel["Type"],
  options: { readonly thread?: string; readonly turn?: string; readonly input?: ReadonlyArray<unknown> }
) =>
  Effect.promise(async () => {
    const response = await fetch(`${model.baseUrl}/responses`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(options.thread === undefined ? {} : { "thread-id": options.thread }),
        ...(options.turn === undefined ? {} : { "x-codex-turn-metadata": JSON.stringify({ turn_id: options.turn }) })
      },
      body: JSON.stringify({ model: "gpt-5.5", stream: true, input: options.input ?? [] })
    })
    const text = await response.text()
    return { status: response.status, text, frames: response.status === 200 ? parseFrames(text) : [] }
  })

const output = (callId: string) => ({ type: "function_call_output", call_id: callId, output: "ok" })

const items = (frames: ReadonlyArray<Frame>) =>
  frames.filter((frame) => frame.event === "response.output_item.done").map((frame) => frame.data.item)

describe("ScriptedModel", () => {
  it.scoped("steps advance as the tool calls get outputs; turns advance per turn id", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel.make(ScriptedModel.scenario(
        [
          ScriptedModel.exec("echo hi", { justification: "to say hi" }),
          ScriptedModel.patch(ScriptedModel.addFilePatch("a.txt", "one\ntwo\n")),
          ScriptedModel.message("done")
        ],
        [ScriptedModel.message("second turn")]
      ))
      const first = yield* post(model, { thread: "t1", turn: "a" })
      assert.deepStrictEqual(items(first.frames), [{
        type: "function_call",
        call_id: "call_0_0_0",
        name: "exec_command",
        arguments: JSON.stringify({
          cmd: "echo hi",
          login: false,
          sandbox_permissions: "require_escalated",
          justification: "to say hi"
        })
      }])
      assert.deepStrictEqual(first.frames.map((frame) => frame.event), [
        "response.created",
        "response.output_item.done",
        "response.completed"
      ])
      const second = yield* post(model, { thread: "t1", turn: "a", input: [output("call_0_0_0")] })
      assert.deepStrictEqual(items(second.frames), [{
        type: "custom_tool_call",
        call_id: "call_0_1_0",
        name: "apply_patch",
        input: "*** Begin Patch\n*** Add File: a.txt\n+one\n+two\n*** End Patch\n"
      }])
      const third = yield* post(model, { thread: "t1", turn: "a", input: [output("call_0_0_0"), output("call_0_1_0")] })
      assert.deepStrictEqual(third.frames.map((frame) => frame.event), [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed"
      ])
      assert.strictEqual(third.frames[2]!.data.delta, "done")
      assert.strictEqual(third.frames[4]!.data.response.usage.total_tokens, 110)
      // A new turn of the same thread, then another thread starting at its own first turn.
      const next = yield* post(model, { thread: "t1", turn: "b", input: [output("call_0_0_0")] })
      assert.strictEqual(items(next.frames)[0].content[0].text, "second turn")
      const other = yield* post(model, { thread: "t2", turn: "z" })
      assert.strictEqual(items(other.frames)[0].name, "exec_command")
      // Past the end of the scenario: its last turn again; outputs of other calls do not count.
      const again = yield* post(model, { thread: "t1", turn: "c" })
      assert.strictEqual(items(again.frames)[0].content[0].text, "second turn")
      const past = yield* post(model, {
        thread: "t1",
        turn: "a",
        input: [output("call_0_0_0"), output("call_0_1_0"), output("unrelated")]
      })
      assert.strictEqual(items(past.frames)[0].content[0].text, "done")
      const requests = yield* model.requests
      assert.deepStrictEqual(requests.map((request) => [request.thread, request.turn, request.step]), [
        ["t1", 0, 0],
        ["t1", 0, 1],
        ["t1", 0, 2],
        ["t1", 1, 0],
        ["t2", 0, 0],
        ["t1", 2, 0],
        ["t1", 0, 2]
      ])
    }))

  it.scoped("a turn whose tool calls are all answered ends with a short message", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel.make(ScriptedModel.scenario([ScriptedModel.exec("true")]))
      const after = yield* post(model, { thread: "t", turn: "1", input: [output("call_0_0_0")] })
      assert.strictEqual(items(after.frames)[0].content[0].text, "(scripted model: end of turn)")
      assert.deepStrictEqual((yield* model.requests).map((request) => request.step), [1])
    }))

  it.scoped("failures: HTTP error, response.failed, a stream cut before response.completed", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel.make(ScriptedModel.scenario(
        [ScriptedModel.httpError(503, "overloaded")],
        [ScriptedModel.responseFailed("nope")],
        [ScriptedModel.cutStream(ScriptedModel.message("partial"))]
      ))
      const http = yield* post(model, { thread: "t", turn: "1" })
      assert.strictEqual(http.status, 503)
      assert.strictEqual(JSON.parse(http.text).error.message, "overloaded")
      const failed = yield* post(model, { thread: "t", turn: "2" })
      assert.deepStrictEqual(failed.frames.map((frame) => frame.event), ["response.created", "response.failed"])
      assert.strictEqual(failed.frames[1]!.data.response.error.message, "nope")
      const cut = yield* post(model, { thread: "t", turn: "3" })
      assert.deepStrictEqual(cut.frames.map((frame) => frame.event).at(-1), "response.output_item.done")
    }))

  it.scoped("a stalled stream stays open until the client hangs up; other routes are 404; requests are recorded", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel.make(ScriptedModel.scenario([ScriptedModel.stall]))
      const controller = new AbortController()
      const stalled = yield* Effect.promise(async () => {
        const response = await fetch(`${model.baseUrl}/responses`, {
          method: "POST",
          body: JSON.stringify({ input: [] }),
          signal: controller.signal
        })
        const reader = response.body!.getReader()
        const first = new TextDecoder().decode((await reader.read()).value)
        const more = await Promise.race([
          reader.read().then(() => "more"),
          new Promise((resolve) => setTimeout(() => resolve("still open"), 100))
        ])
        controller.abort()
        return { first, more }
      })
      assert.isTrue(stalled.first.startsWith("event: response.created"))
      assert.strictEqual(stalled.more, "still open")
      const missing = yield* Effect.promise(() => fetch(`${model.baseUrl}/models`).then((response) => response.status))
      assert.strictEqual(missing, 404)
      const requests = yield* model.requests
      assert.deepStrictEqual(requests.map((request) => [request.method, request.path, request.thread]), [
        ["POST", "/v1/responses", "default"],
        ["GET", "/v1/models", ""]
      ])
    }))

  it.scoped("the demo scenario: a command, a patch, a report", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel.make(ScriptedModel.demoScenario)
      const first = yield* post(model, { thread: "d", turn: "1" })
      assert.strictEqual(items(first.frames)[0].name, "exec_command")
      const second = yield* post(model, { thread: "d", turn: "1", input: [output("call_0_0_0")] })
      assert.strictEqual(items(second.frames)[0].name, "apply_patch")
      const third = yield* post(model, { thread: "d", turn: "1", input: [output("call_0_0_0"), output("call_0_1_0")] })
      assert.strictEqual(items(third.frames)[0].type, "message")
    }))
})

describe("CodexHome", () => {
  it.scoped("writes config.toml for the scripted provider in a temporary directory, removed with the scope", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.scoped(Effect.gen(function*() {
        const home = yield* CodexHome.make({
          baseUrl: "http://127.0.0.1:4321/v1",
          extraToml: "[tui]\nanimations = false"
        })
        const toml = fs.readFileSync(path.join(home.path, "config.toml"), "utf8")
        assert.include(toml, "model_provider = \"scripted\"")
        assert.include(toml, "base_url = \"http://127.0.0.1:4321/v1\"")
        assert.include(toml, "env_key = \"SCRIPTED_MODEL_KEY\"")
        assert.include(toml, "request_max_retries = 0")
        assert.include(toml, "[tui]\nanimations = false")
        assert.deepStrictEqual(home.env, { CODEX_HOME: home.path, SCRIPTED_MODEL_KEY: "scripted" })
        return home.path
      }))
      assert.isFalse(fs.existsSync(dir))
    }).pipe(provideNode))

  it.scoped("`scripted` points at the ScriptedModel in context", () =>
    Effect.gen(function*() {
      const model = yield* ScriptedModel.ScriptedModel
      const home = yield* CodexHome.scripted()
      assert.include(fs.readFileSync(path.join(home.path, "config.toml"), "utf8"), model.baseUrl)
    }).pipe(Effect.provide(ScriptedModel.layer(ScriptedModel.messageScenario())), provideNode))
})
