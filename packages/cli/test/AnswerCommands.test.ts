import type { ApprovalRequest } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as LedgerCommands from "../src/internal/LedgerCommands.js"

const elicitation = (request: Record<string, unknown>): ApprovalRequest.ElicitationRequest => ({
  id: "d/elicitation/files#7",
  delegateId: "d",
  turnId: "t",
  callId: "files#7",
  source: "review",
  kind: "elicitation",
  event: {
    type: "elicitation_request",
    server_name: "files",
    id: 7,
    request: { mode: "form", message: "Fill it", ...request }
  }
})

const form = elicitation({
  requested_schema: {
    type: "object",
    properties: {
      tags: { type: "array", items: { enum: ["a", "b", "c"] } },
      size: { type: "number" },
      name: { type: "string" }
    }
  }
})

const input = (over: Partial<LedgerCommands.AnswerInput>): LedgerCommands.AnswerInput => ({
  fields: [],
  data: Option.none(),
  decline: false,
  cancel: false,
  persist: Option.none(),
  ...over
})

const right = <A>(either: Either.Either<A, string>): A => {
  if (Either.isLeft(either)) throw new Error(either.left)
  return either.right
}

describe("deputy answer: what the command line says", () => {
  it("a multi-select field repeated becomes a list; numbers and option numbers are typed; the check passes", () => {
    const answer = right(LedgerCommands.answerOf(
      form,
      input({ fields: ["tags=a", "tags=3", "size=1.5", "name=x=y"] })
    ))
    assert.deepStrictEqual(answer, {
      _tag: "Elicitation",
      response: { action: "accept", content: { tags: ["a", "c"], size: 1.5, name: "x=y" } }
    })
    assert.strictEqual(ApprovalLedger.checkAnswer(form, answer)._tag, "Valid")
  })

  it("a value that is not of its field's type is passed as given, for the ledger's check to refuse", () => {
    const answer = right(LedgerCommands.answerOf(form, input({ fields: ["size=big"] })))
    const checked = ApprovalLedger.checkAnswer(form, answer)
    assert.deepStrictEqual(checked, { _tag: "Invalid", problem: `field "size" takes a number` })
  })

  it("a field named __proto__ stays data (and the check refuses it)", () => {
    const answer = right(LedgerCommands.answerOf(form, input({ data: Option.some(`{"__proto__": {"x": 1}}`) })))
    assert.deepStrictEqual(
      answer._tag === "Elicitation" ? Object.keys(answer.response.content ?? {}) : [],
      ["__proto__"]
    )
    assert.strictEqual(ApprovalLedger.checkAnswer(form, answer)._tag, "Invalid")
  })

  it("what the command line cannot say is an error before the ledger is asked", () => {
    const problems = [
      input({ fields: ["name"] }),
      input({ fields: ["name=a"], data: Option.some("{}") }),
      input({ data: Option.some("{not json") }),
      input({ decline: true, cancel: true }),
      input({ decline: true, fields: ["name=a"] }),
      input({ fields: ["name=a", "name=b"] }),
      input({})
    ].map((given) => LedgerCommands.answerOf(form, given))
    for (const problem of problems) assert.isTrue(Either.isLeft(problem), JSON.stringify(problem))
    assert.isTrue(Either.isLeft(LedgerCommands.answerOf(undefined, input({ decline: true }))))
  })

  it("approve: a tool-call approval remembers with --persist or --for-session; a form with fields needs answer", () => {
    const toolCall = elicitation({
      requested_schema: { type: "object", properties: {} },
      _meta: { codex_approval_kind: "mcp_tool_call", persist: ["session", "always"] }
    })
    const options = { forSession: false, reason: Option.none(), persist: Option.some("always" as const) }
    assert.deepStrictEqual(right(LedgerCommands.answerFor(toolCall, "approve", options)), {
      _tag: "Elicitation",
      response: { action: "accept", persist: "always" }
    })
    assert.deepStrictEqual(
      right(LedgerCommands.answerFor(toolCall, "approve", { forSession: true, reason: Option.none() })),
      { _tag: "Elicitation", response: { action: "accept", persist: "session" } }
    )
    assert.deepStrictEqual(
      right(LedgerCommands.answerFor(form, "deny", { forSession: false, reason: Option.none() })),
      { _tag: "Elicitation", response: { action: "decline" } }
    )
    const refused = LedgerCommands.answerFor(form, "approve", { forSession: false, reason: Option.none() })
    assert.isTrue(Either.isLeft(refused) && refused.left.includes("deputy answer"))
    assert.deepStrictEqual(LedgerCommands.acceptsOf(toolCall), {
      answer: "tool_call",
      commands: ["approve", "deny"],
      server: "files",
      message: "Fill it",
      persist: ["session", "always"]
    })
  })
})
