import { ApprovalInbox, ApprovalRequest, Approvals, Delegate, TestAgent } from "@deputy/core"
import type { Op } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Inbox from "../src/ApprovalInbox.js"
import type { ApprovalSettlement } from "../src/ApprovalRequest.js"
import { route } from "../src/internal/requests.js"

const origin = { delegateId: "d", source: "review" as const, sequence: 0 }

const form = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 10 },
    size: { type: "integer", minimum: 1, maximum: 5 },
    color: { type: "string", enum: ["red", "blue"] }
  },
  required: ["name"]
}

const event = (request: Record<string, unknown>, server = "files", id: string | number = 7) => ({
  type: "elicitation_request",
  server_name: server,
  id,
  request: { mode: "form", message: "Which file?", ...request }
})

const elicitation = (request: Record<string, unknown>, server?: string): ApprovalRequest.ElicitationRequest =>
  route({ id: "t", msg: event(request, server) as any }, origin)!.request as ApprovalRequest.ElicitationRequest

const toolCall = (persist: unknown = ["session", "always"]) =>
  elicitation({
    requested_schema: { type: "object", properties: {} },
    _meta: { codex_approval_kind: "mcp_tool_call", persist, tool_name: "delete_file" }
  })

describe("reading an elicitation (untrusted: checked and bounded)", () => {
  it("a form's fields, a URL (never opened), a tool-call approval with its persist choices", () => {
    const view = ApprovalRequest.elicitation(elicitation({ requested_schema: form }))
    assert.strictEqual(view._tag, "Form")
    if (view._tag === "Form") {
      assert.deepStrictEqual(view.fields.map((field) => [field.name, field.type, field.required]), [
        ["name", "string", true],
        ["size", "integer", false],
        ["color", "enum", false]
      ])
    }
    const url = ApprovalRequest.elicitation(elicitation({ mode: "url", url: "https://x.test/a", elicitation_id: "e" }))
    assert.deepStrictEqual(url, { _tag: "Url", serverName: "files", message: "Which file?", url: "https://x.test/a" })
    const tool = ApprovalRequest.elicitation(toolCall())
    assert.deepStrictEqual(tool, {
      _tag: "ToolCall",
      serverName: "files",
      message: "Which file?",
      toolName: "delete_file",
      persist: ["session", "always"]
    })
    assert.deepStrictEqual((ApprovalRequest.elicitation(toolCall("forever")) as { persist: unknown }).persist, [])
  })

  it("hostile: a 1 MB schema, a __proto__ field, an unknown mode, a schema that is not flat are refused", () => {
    const huge = { type: "object", properties: { a: { type: "string", description: "x".repeat(1_000_000) } } }
    const proto = JSON.parse(`{"type":"object","properties":{"__proto__":{"type":"string"}}}`)
    const refused = (request: Record<string, unknown>) => {
      const view = ApprovalRequest.elicitation(elicitation(request))
      assert.strictEqual(view._tag, "Refused", JSON.stringify(view).slice(0, 200))
      return view._tag === "Refused" ? view.problem : ""
    }
    assert.match(refused({ requested_schema: huge }), /characters \(at most 16384\)/)
    assert.match(refused({ requested_schema: proto }), /__proto__/)
    assert.match(refused({ mode: "telepathy" }), /mode Deputy does not know \("telepathy"\)/)
    assert.match(refused({ requested_schema: { type: "object", properties: { a: { type: "object" } } } }), /type/)
    assert.match(refused({ requested_schema: "yes" }), /flat object schema/)
  })

  it("hostile: ANSI and newlines in the server name and message stay visible in describe", () => {
    const text = ApprovalRequest.describe(
      elicitation({ message: "ok\n\x1b[2K✔ approved", requested_schema: form }, "evil\x1b[31m\nsrv")
    )
    assert.notInclude(text, "\n")
    assert.notInclude(text, "\x1b")
    assert.include(text, "\\u001b[31m\\nsrv")
  })

  it("an answer carries only what the schema allows", () => {
    const view = ApprovalRequest.elicitation(elicitation({ requested_schema: form }))
    const check = (content: Record<string, unknown>) =>
      ApprovalRequest.checkElicitationResponse(view, { action: "accept", content })
    assert.deepStrictEqual(check({ name: "a.txt", size: 2 }), {
      _tag: "Valid",
      response: { action: "accept", content: { name: "a.txt", size: 2 } }
    })
    assert.strictEqual(check({ size: 2 })._tag, "Invalid") // required name missing
    assert.strictEqual(check({ name: "a", extra: 1 })._tag, "Invalid")
    assert.strictEqual(check({ name: "a", size: 9 })._tag, "Invalid")
    assert.strictEqual(check({ name: "a", size: 1.5 })._tag, "Invalid")
    assert.strictEqual(check({ name: "a", color: "green" })._tag, "Invalid")
    assert.strictEqual(check({ name: "a".repeat(11) })._tag, "Invalid")
    assert.strictEqual(check(JSON.parse(`{"name":"a","__proto__":{"polluted":true}}`))._tag, "Invalid")
    const tool = ApprovalRequest.elicitation(toolCall(["session"]))
    assert.strictEqual(
      ApprovalRequest.checkElicitationResponse(tool, { action: "accept", persist: "always" })._tag,
      "Invalid"
    )
    assert.strictEqual(
      ApprovalRequest.checkElicitationResponse(tool, { action: "accept", persist: "session" })._tag,
      "Valid"
    )
  })
})

describe("policy rules for elicitations", () => {
  const decide = (rules: ReadonlyArray<Approvals.PolicyRule>, request: ApprovalRequest.ApprovalRequest) =>
    Option.match(Approvals.firstMatch(rules, request, { workspace: "/w" }), {
      onNone: () => "none",
      onSome: (r) => r.action
    })

  it("mcpServer and mcpTool match exactly; an approve rule never fills a form or opens a URL", () => {
    assert.strictEqual(
      decide([{ mcpServer: "files", mcpTool: "delete_file", action: "approve" }], toolCall()),
      "approve"
    )
    assert.strictEqual(decide([{ mcpServer: "Files", action: "approve" }], toolCall()), "none")
    assert.strictEqual(decide([{ mcpTool: "delete", action: "approve" }], toolCall()), "none")
    assert.strictEqual(
      decide([{ mcpServer: "files", action: "approve" }], elicitation({ requested_schema: form })),
      "none"
    )
    assert.strictEqual(
      decide([{ mcpServer: "files", action: "deny" }], elicitation({ requested_schema: form })),
      "deny"
    )
    assert.strictEqual(
      decide([{ kind: "elicitation", action: "approve" }], elicitation({ mode: "url", url: "u" })),
      "none"
    )
    assert.strictEqual(decide([{ mcpServer: "files", action: "approve" }], elicitation({}, "x")), "none")
    assert.strictEqual(decide([{ commandPrefix: ["ls"], action: "approve" }], toolCall()), "none")
  })
})

const emitForm = (child: TestAgent.TestAgentService, request: Record<string, unknown> = { requested_schema: form }) =>
  child.emit(event(request) as any, "child-turn")

const settledWith = (settled: Deferred.Deferred<ApprovalSettlement>) => ({
  source: "review" as const,
  onSettled: (settlement: ApprovalSettlement) => Deferred.succeed(settled, settlement)
})

describe("an elicitation through a delegate", () => {
  it.scoped("routed to the inbox; the accepted form reaches the child as resolve_elicitation with its content", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const child = yield* TestAgent.TestAgent
      yield* Delegate.interactive({ source: "review" })
      yield* emitForm(child)
      const pending = yield* inbox.awaitPending()
      assert.strictEqual(pending.request.kind, "elicitation")
      assert.match(pending.request.id, /\/elicitation\/files#7$/)
      yield* inbox.respond(pending.request.id, Inbox.elicitation({ action: "accept", content: { name: "a.txt" } }))
      const answer = yield* child.awaitOp("resolve_elicitation")
      assert.deepStrictEqual(answer.op, {
        type: "resolve_elicitation",
        server_name: "files",
        request_id: 7,
        decision: "accept",
        content: { name: "a.txt" }
      } as Op.Op)
    }).pipe(Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))))

  it.scoped("an answer with a field the form lacks is declined, with why", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const child = yield* TestAgent.TestAgent
      const settled = yield* Deferred.make<ApprovalSettlement>()
      yield* Delegate.interactive(settledWith(settled))
      yield* emitForm(child)
      const pending = yield* inbox.awaitPending()
      yield* inbox.respond(
        pending.request.id,
        Inbox.elicitation({ action: "accept", content: { name: "a", pwd: "x" } })
      )
      const answer = yield* child.awaitOp("resolve_elicitation")
      assert.strictEqual((answer.op as { decision: string }).decision, "decline")
      assert.notProperty(answer.op, "content")
      const settlement = yield* Deferred.await(settled)
      assert.strictEqual(settlement.outcome, "denied")
      assert.match(settlement.reason ?? "", /no field "pwd"/)
    }).pipe(Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))))

  it.scoped("an Approvals without an elicitation method: declined by the default, nobody asked", () =>
    Effect.gen(function*() {
      const child = yield* TestAgent.TestAgent
      const settled = yield* Deferred.make<ApprovalSettlement>()
      yield* Delegate.interactive(settledWith(settled))
      yield* emitForm(child)
      const answer = yield* child.awaitOp("resolve_elicitation")
      assert.strictEqual((answer.op as { decision: string }).decision, "decline")
      const settlement = yield* Deferred.await(settled)
      assert.deepStrictEqual(settlement.decidedBy, ApprovalRequest.noElicitation)
    }).pipe(Effect.provide(Layer.merge(
      TestAgent.layer(),
      Layer.succeed(Approvals.Approvals, {
        command: () => Effect.succeed("approved" as const),
        patch: () => Effect.succeed("approved" as const),
        permissions: () => Effect.succeedNone,
        userInput: () => Effect.succeedNone
      })
    ))))

  it.scoped("an unknown mode is declined without asking, with the problem as the reason", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const child = yield* TestAgent.TestAgent
      const settled = yield* Deferred.make<ApprovalSettlement>()
      yield* Delegate.interactive(settledWith(settled))
      yield* emitForm(child, { mode: "telepathy" })
      const answer = yield* child.awaitOp("resolve_elicitation")
      assert.strictEqual((answer.op as { decision: string }).decision, "decline")
      assert.match((yield* Deferred.await(settled)).reason ?? "", /mode Deputy does not know/)
      assert.deepStrictEqual(yield* inbox.pending, [])
    }).pipe(Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))))

  it.scoped("a tool-call approval remembered for the session goes out as meta.persist", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const child = yield* TestAgent.TestAgent
      yield* Delegate.interactive({ source: "review" })
      yield* emitForm(child, {
        requested_schema: { type: "object", properties: {} },
        _meta: { codex_approval_kind: "mcp_tool_call", persist: ["session"] }
      })
      const pending = yield* inbox.awaitPending()
      yield* inbox.respond(pending.request.id, Inbox.elicitation({ action: "accept", persist: "session" }))
      const answer = yield* child.awaitOp("resolve_elicitation")
      assert.deepStrictEqual((answer.op as { meta?: unknown }).meta, { persist: "session" })
    }).pipe(Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))))

  it.scoped("the delegate stops while it is pending: the child gets cancel and the inbox entry is gone", () =>
    Effect.gen(function*() {
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const child = yield* TestAgent.TestAgent
      const handle = yield* Delegate.interactive({ source: "review", drainTimeout: "50 millis" })
      yield* emitForm(child)
      yield* inbox.awaitPending()
      yield* Effect.fork(handle.shutdown)
      const answer = yield* child.awaitOp("resolve_elicitation")
      assert.strictEqual((answer.op as { decision: string }).decision, "cancel")
      assert.deepStrictEqual(yield* inbox.pending, [])
    }).pipe(Effect.provide(Layer.merge(TestAgent.layer(), ApprovalInbox.layer))))
})
