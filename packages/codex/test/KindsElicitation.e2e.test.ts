/**
 * MCP elicitations with the real Codex and the scripted model. Codex 0.169/0.171 expose MCP tools only
 * through `tool_search` (the scripted model searches, then calls the namespaced tool), and under an approval
 * policy other than `never` Codex first asks the client to approve the MCP tool call (an elicitation with
 * `codex_approval_kind: "mcp_tool_call"` and `persist` choices); the stdio MCP server fixture's tool then asks
 * its own form. Both are routed as `elicitation_request`; the answers reach Codex and the MCP server, and the
 * model sees what the server reported. Driven over raw JSON-RPC, as `Kinds.e2e.test.ts`.
 */
import { CodexHome, ScriptedModel } from "@deputy/codex"
import { ApprovalRequest } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import * as RawAppServer from "./rawAppServer.js"
import { codexVersions, provideNode, tempDir } from "./utils.js"

type Json = RawAppServer.Json

const fixture = path.join(import.meta.dirname, "fixtures", "elicit-mcp-server.mjs")

describe.each(codexVersions)("an MCP elicitation, real Codex $version", ({ binary }) => {
  it.scopedLive(
    "is routed to the parent and its answer reaches the MCP server",
    () =>
      provideNode(Effect.gen(function*() {
        const model = yield* ScriptedModel.make(ScriptedModel.scenario([
          // Codex 0.169/0.171 defer MCP tools behind `tool_search`: the model searches first
          ScriptedModel.raw({
            type: "tool_search_call",
            call_id: "call_search",
            execution: "client",
            status: "completed",
            arguments: { query: "ask user which file", limit: 8 }
          }),
          ScriptedModel.raw({
            type: "function_call",
            call_id: "call_mcp",
            // the namespace and name tool_search returned
            namespace: "mcp__elicit",
            name: "ask_user",
            arguments: "{}"
          }),
          ScriptedModel.message("ok")
        ]))
        const home = yield* CodexHome.make({
          baseUrl: model.baseUrl,
          extraToml: `[mcp_servers.elicit]\ncommand = ${JSON.stringify(process.execPath)}\nargs = [${
            JSON.stringify(fixture)
          }]\n`
        })
        const cwd = yield* tempDir
        const server = yield* RawAppServer.start({
          binary,
          cwd,
          env: { PATH: process.env.PATH ?? "", HOME: cwd, ...home.env },
          onEvent: (msg, { translator }) => {
            if (msg.type !== "elicitation_request") return
            // the parent's answers, as the delegate sends them: allow the tool call, then fill the form
            const toolCall = msg.request._meta?.codex_approval_kind === "mcp_tool_call"
            translator.answer({
              type: "resolve_elicitation",
              server_name: msg.server_name,
              request_id: msg.id,
              decision: "accept",
              ...(toolCall ? {} : { content: { file: "a.txt" } })
            })
          }
        })
        yield* server.initialize
        const { thread } = yield* server.request("thread/start", {
          cwd,
          approvalPolicy: "on-request",
          sandbox: "read-only",
          ephemeral: true
        })
        yield* server.request("turn/start", {
          threadId: thread.id,
          input: [{ type: "text", text: "ask", text_elements: [] }]
        })
        yield* server.turnCompleted
        const events = server.events
        const requests = yield* model.requests
        const asked = events.filter((event) => event.type === "elicitation_request")
        assert.strictEqual(asked.length, 2, JSON.stringify(events.map((event) => event.type)))
        const view = (msg: Json) =>
          ApprovalRequest.elicitation({
            id: "d/elicitation/x",
            delegateId: "d",
            turnId: "t",
            callId: "x",
            source: "review",
            kind: "elicitation",
            event: msg as ApprovalRequest.ElicitationRequest["event"]
          })
        // first Codex's own approval of the MCP tool call, with the persist choices it offers
        assert.deepStrictEqual(view(asked[0]!), {
          _tag: "ToolCall",
          serverName: "elicit",
          message: "Allow the elicit MCP server to run tool \"ask_user\"?",
          toolName: "ask_user",
          persist: ["session", "always"]
        })
        // then the MCP server's own form, its message as sent (the ESC is shown escaped by the prompts)
        const form = view(asked[1]!)
        assert.strictEqual(form._tag, "Form")
        if (form._tag === "Form") {
          assert.strictEqual(form.message, "Which file?\x1b[2K")
          assert.deepStrictEqual(form.fields.map((field) => [field.name, field.required]), [["file", true]])
        }
        // the MCP server received the answer, and the model its report
        const outputs = RawAppServer.callOutputs(requests, "call_mcp")
        assert.include(
          JSON.stringify(outputs),
          "elicitation answered: {\\\"action\\\":\\\"accept\\\",\\\"content\\\":{\\\"file\\\":\\\"a.txt\\\"}}"
        )
      })),
    { timeout: 30_000 }
  )
})
