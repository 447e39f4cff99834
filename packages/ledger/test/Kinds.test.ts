import { assert, describe, it } from "@effect/vitest"
import { decodeAnswer, defaultAnswer, encodeAnswer, resolve } from "../src/internal/answers.js"
import { elicitationRequest } from "./helpers.js"

const toolCall = elicitationRequest({
  mode: "form",
  message: "Delete?",
  requested_schema: { type: "object", properties: {} },
  _meta: { codex_approval_kind: "mcp_tool_call", persist: ["session"] }
})

describe("the ledger records MCP elicitations", () => {
  it("an answer resolves to the op the delegate sends; one that does not fit goes out declined", () => {
    assert.deepStrictEqual(
      resolve(toolCall, { _tag: "Elicitation", response: { action: "accept", persist: "session" } }),
      {
        op: {
          type: "resolve_elicitation",
          server_name: "files",
          request_id: 7,
          decision: "accept",
          meta: { persist: "session" }
        },
        outcome: "approved_for_session"
      }
    )
    assert.deepStrictEqual(
      resolve(toolCall, { _tag: "Elicitation", response: { action: "accept", persist: "always" } })?.op,
      { type: "resolve_elicitation", server_name: "files", request_id: 7, decision: "decline" }
    )
    assert.strictEqual(resolve(toolCall, { _tag: "Decision", decision: "approved" }), undefined)
  })

  it("the default is decline, and answers survive their JSON form", () => {
    assert.deepStrictEqual(defaultAnswer(toolCall), { _tag: "Elicitation", response: { action: "decline" } })
    const answer = { _tag: "Elicitation" as const, response: { action: "accept" as const, content: { a: 1 } } }
    assert.deepStrictEqual(decodeAnswer(JSON.parse(JSON.stringify(encodeAnswer(answer)))), answer)
  })
})
