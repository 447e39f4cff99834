/**
 * Request kinds: dynamic tool calls (not routed) fail at once without running, reported; MCP elicitations
 * (incl. MCP tool-call approvals) are routed as `elicitation_request`, or declined at once when they cannot
 * be read (unknown mode, oversized schema). Network approvals carry their host.
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

const diagnostics = (events: ReadonlyArray<Event.Event>) =>
  events.filter((event) => event.msg.type === "deputy_diagnostic").map((event) => event.msg as Json)

describe("request kinds: routed, or answered fail-closed by the translator", () => {
  const elicit = (id: string | number, params: Json) => ({
    id,
    method: "mcpServer/elicitation/request",
    params: { threadId: "th", turnId: "tu", serverName: "github", mode: "form", message: "Which repo?", ...params }
  })
  const requestOf = (events: ReadonlyArray<Event.Event>) =>
    events.find((event) => event.msg.type === "elicitation_request")?.msg as Json | undefined

  it("an MCP elicitation is routed (an elicitation_request, pending) and answered with what the parent sent", () => {
    const t = translator()
    const schema = { type: "object", properties: { repo: { type: "string" } }, required: ["repo"] }
    const { events, replies } = feed(t, elicit(7, { requestedSchema: schema }))
    assert.deepStrictEqual(replies, [])
    assert.deepStrictEqual(requestOf(events), {
      type: "elicitation_request",
      turn_id: "tu",
      server_name: "github",
      id: 7,
      request: { mode: "form", message: "Which repo?", requested_schema: schema }
    })
    assert.isTrue(t.busy)
    t.answer({
      type: "resolve_elicitation",
      server_name: "github",
      request_id: 7,
      decision: "accept",
      content: { repo: "x" }
    })
    assert.deepStrictEqual(t.takeReplies().map((reply) => JSON.parse(reply)), [
      { id: 7, result: { action: "accept", content: { repo: "x" }, _meta: null } }
    ])
    assert.isFalse(t.busy)
  })

  it("an MCP tool-call approval keeps its _meta; a persist choice goes back as _meta; a string id stays apart from a number", () => {
    const t = translator()
    const meta = { codex_approval_kind: "mcp_tool_call", persist: ["session", "always"], tool_name: "create_issue" }
    const { events } = feed(t, elicit("7", { requestedSchema: { type: "object", properties: {} }, _meta: meta }))
    assert.deepStrictEqual((requestOf(events)!.request as Json)._meta, meta)
    t.answer({ type: "resolve_elicitation", server_name: "github", request_id: 7, decision: "accept" })
    assert.deepStrictEqual(t.takeReplies(), [], "the number 7 does not answer the request \"7\"")
    assert.match(diagnostics(t.takeEvents())[0]!.message, /ignored/)
    t.answer({
      type: "resolve_elicitation",
      server_name: "github",
      request_id: "7",
      decision: "accept",
      meta: { persist: "session" }
    })
    assert.deepStrictEqual(t.takeReplies().map((reply) => JSON.parse(reply)), [
      { id: "7", result: { action: "accept", content: null, _meta: { persist: "session" } } }
    ])
  })

  it("hostile: an unknown mode or a 1 MB schema is declined at once, with a bounded diagnostic", () => {
    for (
      const params of [
        { mode: "telepathy\x1b[2K" },
        {
          requestedSchema: { type: "object", properties: { a: { type: "string", description: "x".repeat(1_000_000) } } }
        },
        { serverName: 42 }
      ]
    ) {
      const t = translator()
      const { events, replies } = feed(t, elicit(1, params))
      assert.deepStrictEqual(replies, [{ id: 1, result: { action: "decline", content: null } }])
      assert.strictEqual(requestOf(events), undefined)
      const [notice] = diagnostics(events)
      assert.match(
        notice!.message,
        /declined at once: (its mode is not one|its requested schema is 1000|it names no MCP server)/
      )
      assert.isBelow(notice!.message.length, 1000)
      assert.isFalse(t.busy)
    }
  })

  it("a url elicitation is routed with its url (Deputy never opens it); withdrawn by serverRequest/resolved", () => {
    const t = translator()
    const { events } = feed(t, elicit("e1", { mode: "url", elicitationId: "x", url: "https://example.com/login" }))
    assert.strictEqual((requestOf(events)!.request as Json).url, "https://example.com/login")
    const withdrawn = feed(t, { method: "serverRequest/resolved", params: { threadId: "th", requestId: "e1" } }).events
    assert.deepStrictEqual(
      withdrawn.map((event) => [event.msg.type, (event.msg as Json).kind, (event.msg as Json).call_id]),
      [
        ["deputy_request_withdrawn", "elicitation", "github#\"e1\""]
      ]
    )
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
    const t = translator()
    const { events, replies } = feed(t, { id, method, params })
    if (
      method === "mcpServer/elicitation/request" && events.some((event) => event.msg.type === "elicitation_request")
    ) {
      // routed: no answer yet; the parent's answer goes out exactly once
      assert.deepStrictEqual(replies, [])
      const request = events.find((event) => event.msg.type === "elicitation_request")!.msg as Json
      const answer = {
        type: "resolve_elicitation",
        server_name: request.server_name,
        request_id: id,
        decision: "decline"
      }
      t.answer(answer)
      t.answer(answer)
      assert.deepStrictEqual(t.takeReplies().map((reply) => JSON.parse(reply).id), [id])
      return
    }
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
