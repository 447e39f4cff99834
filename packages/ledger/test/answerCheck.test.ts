import { type ApprovalRequest, Approvals, DecidedBy } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { commandRequest, elicitationRequest } from "./helpers.js"

const form = elicitationRequest({
  mode: "form",
  message: "Which file?",
  requested_schema: {
    type: "object",
    properties: { path: { type: "string" }, count: { type: "integer", minimum: 1 } },
    required: ["path"]
  }
})

const questions: ApprovalRequest.UserInputRequest = {
  id: "d/user_input/u1",
  delegateId: "d",
  turnId: "t1",
  callId: "u1",
  source: "review",
  kind: "user_input",
  event: {
    type: "request_user_input",
    call_id: "u1",
    questions: [
      { id: "q1", header: "Go", question: "Go on?", options: [{ label: "yes", description: "" }] },
      { id: "q2", header: "Other", question: "Which?", isOther: true, options: [{ label: "a", description: "" }] }
    ]
  }
}

const carol: DecidedBy.DecidedBy = { _tag: "Person", channel: "test", name: "carol" }
const memory = Effect.map(Layer.build(ApprovalLedger.layerMemory()), Context.get(ApprovalLedger.ApprovalLedger))
const accept = (content: Record<string, unknown>) =>
  ({ _tag: "Elicitation", response: { action: "accept", content } }) as const
const answers = (given: Record<string, ReadonlyArray<string>>) => ({
  _tag: "UserInput" as const,
  response: Option.some({
    answers: Object.fromEntries(Object.entries(given).map(([id, list]) => [id, { answers: list }]))
  })
})

describe("answers from another process are checked against the request", () => {
  it.scoped("an elicitation answer that does not fit fails with AnswerInvalid and records nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* memory
      yield* ledger.recordPending(form)
      for (
        const [answer, problem] of [
          [accept({ path: "a", count: 0 }), `field "count" is below 1`],
          [accept({ count: 2 }), `field "path" is required`],
          [accept({ path: "a", colour: "red" }), `the form has no field "colour"`],
          [
            { _tag: "Elicitation", response: { action: "accept", content: { path: "a" }, persist: "session" } },
            "remember"
          ]
        ] as const
      ) {
        const error = yield* Effect.flip(ledger.answer(form.id, answer, carol))
        assert.strictEqual(error._tag, "AnswerInvalid")
        assert.include(error.message, problem)
      }
      assert.deepStrictEqual((yield* ledger.list()).map((entry) => entry.type), ["pending"])
      assert.strictEqual((yield* ledger.pending()).length, 1, "it still waits")
    }))

  it.scoped("the answer recorded is the checked one; the waiting middleware returns exactly it", () =>
    Effect.gen(function*() {
      const ledger = yield* memory
      const never = { ...Approvals.Approvals.of(yield* Effect.provide(Approvals.Approvals, Approvals.layerDenyAll)) }
      const approvals = ledger.approvals({ ...never, elicitation: () => Effect.never }, { remote: true })
      const waiting = yield* Effect.fork(approvals.elicitation!(form))
      yield* ledger.awaitChange(0) // recorded pending: the handshake, no sleep
      const decision = yield* ledger.answer(form.id, accept({ path: "src/a.ts", count: 2 }), carol)
      assert.deepStrictEqual(decision.answer, accept({ path: "src/a.ts", count: 2 }))
      const answered = yield* Fiber.join(waiting)
      assert.deepStrictEqual(
        answered,
        DecidedBy.decided({ action: "accept", content: { path: "src/a.ts", count: 2 } }, carol)
      )
      const settled = (yield* ledger.list({ type: "settled" }))[0]
      assert.deepStrictEqual(settled?.data.op, {
        type: "resolve_elicitation",
        server_name: "files",
        request_id: 7,
        decision: "accept",
        content: { path: "src/a.ts", count: 2 }
      })
      assert.strictEqual(settled?.outcome, "approved")
    }))

  it.scoped("a decline from elsewhere is recorded without the content given with it", () =>
    Effect.gen(function*() {
      const ledger = yield* memory
      yield* ledger.recordPending(form)
      const decision = yield* ledger.answer(
        form.id,
        { _tag: "Elicitation", response: { action: "decline", content: { path: "x" } } },
        carol
      )
      assert.deepStrictEqual(decision.answer, { _tag: "Elicitation", response: { action: "decline" } })
    }))

  it.scoped("user-input answers: only questions it asks, only its options unless it takes free text", () =>
    Effect.gen(function*() {
      const ledger = yield* memory
      yield* ledger.recordPending(questions)
      for (
        const [given, problem] of [
          [{ q9: ["x"] }, `it asks no question "q9"`],
          [{ q1: ["no"] }, `question "q1" takes one of its options ("yes"), not "no"`],
          [{ q1: [] }, `question "q1" takes one or more answers`]
        ] as const
      ) {
        const error = yield* Effect.flip(ledger.answer(questions.id, answers(given), carol))
        assert.strictEqual(error._tag, "AnswerInvalid")
        assert.include(error.message, problem)
      }
      assert.deepStrictEqual((yield* ledger.list()).map((entry) => entry.type), ["pending"])
      const decision = yield* ledger.answer(questions.id, answers({ q1: ["yes"], q2: ["my own"] }), carol)
      assert.deepStrictEqual(decision.answer, answers({ q1: ["yes"], q2: ["my own"] }))
      assert.strictEqual(decision.entry.outcome, "approved")
    }))

  it.scoped("a command's approval only as the child lists it (available_decisions); a denial always goes", () =>
    Effect.gen(function*() {
      const ledger = yield* memory
      const base = commandRequest(2)
      const request = { ...base, event: { ...base.event, available_decisions: ["approved", "abort"] as const } }
      yield* ledger.recordPending(request)
      const error = yield* Effect.flip(
        ledger.answer(request.id, { _tag: "Decision", decision: "approved_for_session" }, carol)
      )
      assert.strictEqual(error._tag, "AnswerInvalid")
      assert.include(error.message, `does not offer "approved_for_session" (it offers approved, abort)`)
      assert.deepStrictEqual((yield* ledger.list()).map((entry) => entry.type), ["pending"])
      const denied = { _tag: "Decision", decision: { denied: { rejection: "no" } } } as const
      assert.deepStrictEqual(ApprovalLedger.checkAnswer(request, denied), { _tag: "Valid", answer: denied })
      const decision = yield* ledger.answer(request.id, { _tag: "Decision", decision: "approved" }, carol)
      assert.strictEqual(decision.entry.outcome, "approved")
    }))

  it("checkAnswer: decisions and grants pass as given", () => {
    const answer = { _tag: "Decision", decision: "approved" } as const
    assert.deepStrictEqual(ApprovalLedger.checkAnswer(commandRequest(1), answer), { _tag: "Valid", answer })
  })
})

const root = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-ledger-adopt-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

describe("AnchorOptions.adoptExisting", () => {
  it.scoped("a ledger with entries and no anchor: reported missing, unless adopted at its head", () =>
    Effect.gen(function*() {
      const filename = path.join(root, "ledger.db")
      const open = (anchor: { readonly adoptExisting?: boolean }) =>
        Effect.map(
          Layer.build(ApprovalLedger.layerSqlite({ filename, anchor })),
          Context.get(ApprovalLedger.ApprovalLedger)
        )
      yield* Effect.scoped(Effect.flatMap(open({}), (ledger) => ledger.recordPending(commandRequest(1))))
      fs.rmSync(`${filename}.anchor`)
      const missing = yield* Effect.scoped(Effect.flatMap(open({}), (ledger) => ledger.verify))
      assert.strictEqual(missing._tag, "AnchorMismatch")
      const adopted = yield* Effect.scoped(Effect.flatMap(open({ adoptExisting: true }), (ledger) => ledger.verify))
      assert.deepStrictEqual(adopted._tag, "Intact")
      assert.isTrue(fs.existsSync(`${filename}.anchor`))
    }))
})
