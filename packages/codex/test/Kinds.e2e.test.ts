/**
 * A dynamic tool call with the real Codex and the scripted model: Codex asks the client to run a tool
 * (`item/tool/call`); the translator answers fail-closed (`success: false` and why), and the model is told.
 * Driven over raw JSON-RPC, since only a client that declares `dynamicTools` at `thread/start` gets one.
 */
import { CodexHome, ScriptedModel } from "@deputy/codex"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as childProcess from "node:child_process"
import * as readline from "node:readline"
import type { Outcome } from "../src/internal/translate.js"
import { Translator } from "../src/internal/translate.js"
import { codexVersions, provideNode, tempDir } from "./utils.js"

type Json = Record<string, any>

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
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          childProcess.spawn(binary, ["app-server"], {
            cwd,
            env: { PATH: process.env.PATH ?? "", HOME: cwd, ...home.env },
            stdio: ["pipe", "pipe", "ignore"]
          })
        ),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      const responses = new Map<unknown, Outcome>()
      const notifications: Array<Json> = []
      const translator = new Translator((id, outcome) => responses.set(id, outcome), Date.now, new Set())
      const send = (message: Json) => child.stdin.write(`${JSON.stringify(message)}\n`)
      let line = 0
      const done = new Promise<void>((resolve, reject) => {
        child.on("exit", (code) => reject(new Error(`codex app-server exited (${code})`)))
        readline.createInterface({ input: child.stdout }).on("line", (text) => {
          const message = JSON.parse(text) as Json
          if (typeof message.method === "string" && message.id === undefined) notifications.push(message)
          translator.line(Either.right({ line: ++line, text }))
          for (const reply of translator.takeReplies()) child.stdin.write(`${reply}\n`)
          translator.takeEvents()
          if (message.method === "turn/completed") resolve()
        })
      })
      const result = (id: number) =>
        Effect.promise(async () => {
          for (let i = 0; i < 500 && !responses.has(id); i++) await new Promise((r) => setTimeout(r, 10))
          const outcome = responses.get(id)
          if (outcome?._tag !== "Success") throw new Error(`request ${id}: ${JSON.stringify(outcome)}`)
          return outcome.result as Json
        })
      send({
        method: "initialize",
        id: 0,
        params: { clientInfo: { name: "kinds_test", version: "0.0.1" }, capabilities: { experimentalApi: true } }
      })
      yield* result(0)
      send({ method: "initialized" })
      send({
        method: "thread/start",
        id: 1,
        params: {
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
        }
      })
      const thread = (yield* result(1)).thread
      send({
        method: "turn/start",
        id: 2,
        params: { threadId: thread.id, input: [{ type: "text", text: "ask", text_elements: [] }] }
      })
      yield* Effect.promise(() => done)
      const outputs = (yield* model.requests).flatMap((request) =>
        ((request.body as Json).input as Array<Json>).filter((item) =>
          item.call_id === "call_dyn" && item.type.endsWith("_output")
        )
      )
      assert.strictEqual(outputs.length, 1)
      assert.include(JSON.stringify(outputs[0]), "Deputy has no handler for the dynamic tool `ask_parent`")
      const completed = notifications.find((message) =>
        message.method === "item/completed" && message.params.item.type === "dynamicToolCall"
      )!
      assert.strictEqual(completed.params.item.success, false)
    })), { timeout: 60_000 })
})
