/**
 * Request kinds Deputy does not route to the parent (yet) are answered fail-closed at once, with the
 * result Codex expects (not "method not found"), and reported: dynamic tool calls fail without running,
 * MCP elicitations (incl. MCP tool-call approvals) are declined. Network approvals carry their host.
 */
import type { Event } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import { Translator } from "../src/internal/translate.js"

type Json = Record<string, any>

const translator = () => new Translator(() => {}, Date.now, new Set())

const feed = (t: Translator, message: Json) => {
  t.line(Either.right({ line: 1, text: JSON.stringify(message) }))
  return { events: t.takeEvents(), replies: t.takeReplies().map((reply) => JSON.parse(reply) as Json) }
}

const diagnostics = (events: ReadonlyArray<Event>) =>
  events.filter((event) => event.msg.type === "deputy_diagnostic").map((event) => event.msg as Json)

describe("request kinds answered fail-closed by the translator", () => {
  it("an MCP elicitation is declined at once (no content) and reported with its server and message", () => {
    const t = translator()
    const { events, replies } = feed(t, {
      id: 7,
      method: "mcpServer/elicitation/request",
      params: {
        threadId: "th",
        turnId: "tu",
        serverName: "github",
        mode: "form",
        message: "Allow the tool `create_issue` to run?",
        requestedSchema: { type: "object", properties: {} },
        _meta: { persist: ["session", "always"] }
      }
    })
    assert.deepStrictEqual(replies, [{ id: 7, result: { action: "decline", content: null } }])
    const [notice] = diagnostics(events)
    assert.include(notice!.message, "MCP server `github` asked (form)")
    assert.include(notice!.message, "create_issue")
    assert.include(notice!.message, "declined")
    assert.isFalse(t.busy, "nothing stays pending")
  })

  it("a url elicitation is declined too; the url is shown, bounded", () => {
    const t = translator()
    const url = `https://example.com/${"a".repeat(5000)}`
    const { events, replies } = feed(t, {
      id: "e1",
      method: "mcpServer/elicitation/request",
      params: { threadId: "th", turnId: null, serverName: "s", mode: "url", elicitationId: "x", url, message: "log in" }
    })
    assert.deepStrictEqual(replies, [{ id: "e1", result: { action: "decline", content: null } }])
    const [notice] = diagnostics(events)
    assert.include(notice!.message, "(url https://example.com/")
    assert.isBelow(notice!.message.length, 800)
  })

  it("a dynamic tool call fails without running, and names the tool", () => {
    const t = translator()
    const { events, replies } = feed(t, {
      id: 3,
      method: "item/tool/call",
      params: { threadId: "th", turnId: "tu", callId: "c1", namespace: "ns", tool: "deploy", arguments: {} }
    })
    assert.deepStrictEqual(replies, [{
      id: 3,
      result: {
        contentItems: [{
          type: "inputText",
          text: "Deputy has no handler for the dynamic tool `ns.deploy`: the call was not run."
        }],
        success: false
      }
    }])
    assert.include(diagnostics(events)[0]!.message, "dynamic tool `ns.deploy` (call c1)")
  })

  it.prop("whatever the params, every such request gets exactly one fail-closed answer with its id", {
    method: FastCheck.constantFrom("mcpServer/elicitation/request", "item/tool/call"),
    id: FastCheck.oneof(FastCheck.integer({ min: 0, max: 1e6 }), FastCheck.string({ minLength: 1, maxLength: 10 })),
    params: FastCheck.dictionary(
      FastCheck.constantFrom("serverName", "message", "mode", "url", "tool", "namespace", "callId"),
      FastCheck.oneof(FastCheck.string({ maxLength: 400 }), FastCheck.integer(), FastCheck.constant(null))
    )
  }, ({ id, method, params }) => {
    const { events, replies } = feed(translator(), { id, method, params })
    assert.strictEqual(replies.length, 1)
    assert.strictEqual(replies[0]!.id, id)
    const result = replies[0]!.result
    if (method === "item/tool/call") assert.isFalse(result.success)
    else assert.strictEqual(result.action, "decline")
    assert.strictEqual(diagnostics(events).length, 1)
    assert.isBelow(diagnostics(events)[0]!.message.length, 1000)
  })

  it("a network approval carries host, protocol and the decisions Codex accepts", () => {
    const t = translator()
    const { events } = feed(t, {
      id: 1,
      method: "item/commandExecution/requestApproval",
      params: {
        threadId: "th",
        turnId: "tu",
        itemId: "i1",
        command: "curl https://example.com",
        cwd: "/repo",
        networkApprovalContext: { host: "example.com", protocol: "https" },
        availableDecisions: ["accept", "decline"]
      }
    })
    const request = events.find((event) => event.msg.type === "exec_approval_request")!.msg as Json
    assert.deepStrictEqual(request.network_approval_context, { host: "example.com", protocol: "https" })
    assert.deepStrictEqual(request.available_decisions, ["approved", "denied"])
  })
})

describe("nested Codex sub-agents: a thread Codex spawned asks through the delegate", () => {
  const spawned = (id: string, extra: Json = {}) => ({
    method: "thread/started",
    params: { thread: { id, parentThreadId: "main", agentNickname: "Galileo", agentRole: "explorer", ...extra } }
  })
  const approval = (threadId: string, id: number) => ({
    id,
    method: "item/commandExecution/requestApproval",
    params: { threadId, turnId: "tu", itemId: `i${id}`, command: "ls", cwd: "/repo" }
  })

  it("its requests name the thread (nickname, role, parent); the child's own requests do not", () => {
    const t = translator()
    feed(t, spawned("sub-1"))
    const nested = feed(t, approval("sub-1", 1)).events.find((event) => event.msg.type === "exec_approval_request")!
    assert.deepStrictEqual((nested.msg as Json).deputy_thread, {
      id: "sub-1",
      parentId: "main",
      nickname: "Galileo",
      role: "explorer"
    })
    const own = feed(t, approval("main", 2)).events.find((event) => event.msg.type === "exec_approval_request")!
    assert.notProperty(own.msg, "deputy_thread")
  })

  it("a thread without parentThreadId is not nested; a nickname that is not a string is dropped", () => {
    const t = translator()
    feed(t, { method: "thread/started", params: { thread: { id: "other", parentThreadId: null } } })
    feed(t, spawned("sub-2", { agentNickname: 42 }))
    const plain = feed(t, approval("other", 1)).events.find((event) => event.msg.type === "exec_approval_request")!
    assert.notProperty(plain.msg, "deputy_thread")
    const nested = feed(t, approval("sub-2", 2)).events.find((event) => event.msg.type === "exec_approval_request")!
    assert.deepStrictEqual((nested.msg as Json).deputy_thread, { id: "sub-2", parentId: "main", role: "explorer" })
  })
})

describe("item/tool/requestUserInput isBlocking (0.171)", () => {
  it("is carried as is_blocking when Codex says it, absent otherwise (0.169)", () => {
    const ask = (extra: Json) => ({
      id: 9,
      method: "item/tool/requestUserInput",
      params: { threadId: "th", turnId: "tu", itemId: "q1", questions: [], ...extra }
    })
    const of = (extra: Json) =>
      feed(translator(), ask(extra)).events.find((event) => event.msg.type === "request_user_input")!.msg as Json
    assert.strictEqual(of({ isBlocking: false }).is_blocking, false)
    assert.strictEqual(of({ isBlocking: true }).is_blocking, true)
    assert.notProperty(of({}), "is_blocking")
    assert.notProperty(of({ isBlocking: "no" }), "is_blocking")
  })
})
