/**
 * A dynamic tool call with the real Codex and the scripted model: Codex asks the client to run a tool
 * (`item/tool/call`); the translator answers fail-closed (`success: false` and why), and the model is told.
 * Driven over raw JSON-RPC, since only a client that declares `dynamicTools` at `thread/start` gets one.
 */
import { CodexHome, ScriptedModel } from "@deputy/codex"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as RawAppServer from "./rawAppServer.js"
import { codexVersions, provideNode, tempDir } from "./utils.js"

describe.each(codexVersions)("a dynamic tool call, real Codex $version", ({ binary }) => {
  it.scopedLive("fails without running: the model gets Deputy's refusal", () =>
    provideNode(Effect.gen(function*() {
      const model = yield* ScriptedModel.make(ScriptedModel.scenario([
        ScriptedModel.raw({
          type: "function_call",
          call_id: "call_dyn",
          name: "ask_parent",
          arguments: JSON.stringify({ question: "May I delete build/?" })
        }),
        ScriptedModel.message("ok")
      ]))
      const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
      const cwd = yield* tempDir
      const server = yield* RawAppServer.start({
        binary,
        cwd,
        env: { PATH: process.env.PATH ?? "", HOME: cwd, ...home.env }
      })
      yield* server.initialize
      const { thread } = yield* server.request("thread/start", {
        cwd,
        approvalPolicy: "never",
        sandbox: "read-only",
        ephemeral: true,
        dynamicTools: [{
          type: "function",
          name: "ask_parent",
          description: "Ask the parent agent a question.",
          inputSchema: { type: "object", properties: { question: { type: "string" } }, required: ["question"] }
        }]
      })
      yield* server.request("turn/start", {
        threadId: thread.id,
        input: [{ type: "text", text: "ask", text_elements: [] }]
      })
      yield* server.turnCompleted
      const outputs = RawAppServer.callOutputs(yield* model.requests, "call_dyn")
      assert.strictEqual(outputs.length, 1)
      assert.include(JSON.stringify(outputs[0]), "Deputy has no handler for the dynamic tool `ask_parent`")
      const completed = server.notifications.find((message) =>
        message.method === "item/completed" && message.params.item.type === "dynamicToolCall"
      )!
      assert.strictEqual(completed.params.item.success, false)
    })), { timeout: 60_000 })
})
