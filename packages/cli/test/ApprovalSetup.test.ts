import { type ApprovalRequest, Approvals, DecidedBy } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as ApprovalSetup from "../src/ApprovalSetup.js"
import * as PolicyFile from "../src/PolicyFile.js"
import * as Requests from "./utils/requests.js"

/** A fixed-mode set-up never touches the terminal or the output, so the test provides neither. */
const approvalsOf = (setup: ApprovalSetup.ApprovalSetup) =>
  ApprovalSetup.layer(setup, { cwd: "/repo", onInterrupt: Effect.void }) as unknown as Layer.Layer<Approvals.Approvals>

const ask = (setup: ApprovalSetup.ApprovalSetup, request: ApprovalRequest.CommandApproval) =>
  Effect.flatMap(Approvals.Approvals, (approvals) => approvals.command(request)).pipe(
    Effect.map((answer) => DecidedBy.split(answer, "bare")),
    Effect.provide(approvalsOf(setup))
  )

const settlement = (
  request: ApprovalRequest.ApprovalRequest,
  decidedBy: DecidedBy.DecidedBy
): ApprovalRequest.ApprovalSettlement => ({
  request,
  outcome: "denied",
  decidedBy,
  waitedMs: 1,
  answer: { type: "exec_approval", id: "c", decision: "denied" }
})

describe("ApprovalSetup: who decided is carried, never re-derived", () => {
  it.effect("--approval approve|deny is Fixed; a default without a terminal is Default", () =>
    Effect.gen(function*() {
      const approve = yield* ask({ mode: "approve", defaulted: false, rules: [] }, Requests.command())
      assert.deepStrictEqual(approve, DecidedBy.decided("approved", { _tag: "Fixed", setting: "--approval approve" }))
      const deny = yield* ask({ mode: "deny", defaulted: false, rules: [] }, Requests.command())
      assert.deepStrictEqual(deny, DecidedBy.decided("denied", { _tag: "Fixed", setting: "--approval deny" }))
      const defaulted = yield* ask({ mode: "deny", defaulted: true, rules: [] }, Requests.command())
      assert.deepStrictEqual(defaulted, DecidedBy.decided("denied", { _tag: "Default", why: "no terminal" }))
    }))

  it.effect("a policy rule's answer names its index, the rule and the file; what it defers, the mode", () =>
    Effect.gen(function*() {
      const rules = Either.getOrThrow(PolicyFile.parse(
        `{ "rules": [ { "commandPrefix": "npm test", "action": "approve" }, { "commandPrefix": "rm", "action": "deny" } ] }`,
        "rules.json"
      ))
      const setup: ApprovalSetup.ApprovalSetup = { mode: "deny", defaulted: true, rules }
      const denied = yield* ask(setup, Requests.command(["bash", "-lc", "npm test && rm -rf /"]))
      assert.deepStrictEqual(denied.decidedBy, {
        _tag: "PolicyRule",
        index: 1,
        rule: { commandPrefix: ["rm"], action: "deny" },
        file: "rules.json"
      })
      assert.strictEqual(denied.value, "denied")
      assert.strictEqual(DecidedBy.describe(denied.decidedBy), "policy rule 2 of rules.json")
      const deferred = yield* ask(setup, Requests.command(["make"]))
      assert.deepStrictEqual(deferred.decidedBy, { _tag: "Default", why: "no terminal" })
    }))

  it("the deprecated decidedBy reads the settlement: an end-of-input deny is not 'you' nor a rule", () => {
    const rules = Either.getOrThrow(PolicyFile.parse(`{ "rules": [ { "action": "approve" } ] }`, "p"))
    const setup: ApprovalSetup.ApprovalSetup = { mode: "ask", defaulted: true, rules }
    const request = Requests.command()
    const endOfInput = ApprovalSetup.decidedBy(setup, settlement(request, { _tag: "Default", why: "end of input" }))
    assert.strictEqual(ApprovalSetup.describeDecider(endOfInput), "default (end of input)")
    const person = ApprovalSetup.decidedBy(
      setup,
      settlement(request, { _tag: "Person", channel: "terminal", key: "d" })
    )
    assert.strictEqual(ApprovalSetup.describeDecider(person), "you")
    const fixed = ApprovalSetup.decidedBy(setup, settlement(request, { _tag: "Fixed", setting: "--approval deny" }))
    assert.deepStrictEqual(fixed?._tag === "Mode" && [fixed.mode, fixed.defaulted], ["deny", false])
    const inbox = ApprovalSetup.decidedBy(setup, settlement(request, { _tag: "InboxClient", client: "web" }))
    assert.strictEqual(ApprovalSetup.describeDecider(inbox), "inbox client web")
  })
})
