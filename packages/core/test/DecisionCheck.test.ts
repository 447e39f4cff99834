import { ApprovalRequest, Approvals, Delegate, TestAgent } from "@deputy/core"
import type { ReviewDecision } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const base = {
  id: "d/command/c1",
  delegateId: "d",
  turnId: "t",
  callId: "c1",
  source: "review"
} as const

const command = (
  extra: Partial<ApprovalRequest.CommandApproval["event"]> = {}
): ApprovalRequest.CommandApproval => ({
  ...base,
  kind: "command",
  event: { type: "exec_approval_request", call_id: "c1", command: ["npm", "test"], cwd: "/w", ...extra }
})

const patch: ApprovalRequest.PatchApproval = {
  ...base,
  id: "d/patch/c1",
  kind: "patch",
  event: { type: "apply_patch_approval_request", call_id: "c1", changes: {} }
}

const allowHost = (host: string): ReviewDecision.ReviewDecision => ({
  network_policy_amendment: { network_policy_amendment: { host, action: "allow" } }
})
const rememberPrefix = (prefix: ReadonlyArray<string>): ReviewDecision.ReviewDecision => ({
  approved_execpolicy_amendment: { proposed_execpolicy_amendment: prefix }
})

describe("ApprovalRequest.decisionProblem: only what the child offers", () => {
  it("a decision that runs nothing always fits", () => {
    const offered = command({ available_decisions: ["approved"] })
    for (const decision of ["denied", "abort", "timed_out", { denied: { rejection: "no" } }] as const) {
      assert.isUndefined(ApprovalRequest.decisionProblem(offered, decision), JSON.stringify(decision))
      assert.isUndefined(ApprovalRequest.decisionProblem(patch, decision))
    }
  })

  it("with a list: only a listed decision, an amendment compared whole", () => {
    const request = command({
      command: [],
      available_decisions: ["approved", allowHost("127.0.0.1"), "abort"]
    })
    assert.isUndefined(ApprovalRequest.decisionProblem(request, "approved"))
    assert.isUndefined(ApprovalRequest.decisionProblem(request, allowHost("127.0.0.1")))
    assert.match(ApprovalRequest.decisionProblem(request, "approved_for_session")!, /does not offer/)
    assert.match(ApprovalRequest.decisionProblem(request, allowHost("evil.example"))!, /does not offer/)
    assert.match(ApprovalRequest.decisionProblem(request, allowHost("127.0.0.1.evil.example"))!, /does not offer/)
    assert.match(ApprovalRequest.decisionProblem(request, rememberPrefix(["npm"]))!, /does not offer/)
  })

  it("without a list: plain approvals fit, a rule only as proposed, never broader", () => {
    const request = command({ proposed_execpolicy_amendment: ["npm", "test"] })
    assert.isUndefined(ApprovalRequest.decisionProblem(request, "approved"))
    assert.isUndefined(ApprovalRequest.decisionProblem(request, "approved_for_session"))
    assert.isUndefined(ApprovalRequest.decisionProblem(request, rememberPrefix(["npm", "test"])))
    assert.match(ApprovalRequest.decisionProblem(request, rememberPrefix(["npm"]))!, /does not offer/)
    assert.match(ApprovalRequest.decisionProblem(command(), rememberPrefix(["npm", "test"]))!, /does not offer/)
    assert.match(ApprovalRequest.decisionProblem(command(), allowHost("a.example"))!, /does not offer/)
  })

  it("the delegate's check (plain: any) passes a plain decision not listed, never a rule not offered", () => {
    const request = command({ available_decisions: ["approved", "abort"] })
    assert.isUndefined(ApprovalRequest.decisionProblem(request, "approved_for_session", { plain: "any" }))
    assert.match(ApprovalRequest.decisionProblem(request, rememberPrefix(["npm"]), { plain: "any" })!, /does not offer/)
    assert.match(ApprovalRequest.decisionProblem(request, "approved_for_session")!, /does not offer/)
  })

  it("a patch takes plain decisions only", () => {
    assert.isUndefined(ApprovalRequest.decisionProblem(patch, "approved_for_session"))
    assert.match(ApprovalRequest.decisionProblem(patch, rememberPrefix(["rm"]))!, /does not offer/)
  })
})

describe("through a delegate: an answer the child does not offer goes out as a denial", () => {
  it.effect("a network rule for another host than the one asked: denied, by the default, saying why", () =>
    Effect.gen(function*() {
      const settled: Array<ApprovalRequest.ApprovalSettlement> = []
      const child = yield* TestAgent.TestAgent
      const handle = yield* Delegate.interactive({
        source: "review",
        onSettled: (settlement) => Effect.sync(() => settled.push(settlement))
      })
      yield* child.emit({
        type: "exec_approval_request",
        call_id: "c1",
        command: [],
        cwd: "",
        network_approval_context: { host: "127.0.0.1", protocol: "http" },
        available_decisions: ["approved", allowHost("127.0.0.1"), "abort"]
      }, "t")
      const answer = yield* child.awaitOp("exec_approval")
      assert.deepStrictEqual((answer.op as { decision: unknown }).decision, "denied")
      yield* handle.shutdown
      assert.strictEqual(settled[0]?.outcome, "denied")
      assert.strictEqual(settled[0]?.decidedBy._tag, "Default")
      assert.match(settled[0]?.reason ?? "", /does not offer/)
    }).pipe(
      Effect.scoped,
      Effect.provide(TestAgent.layer()),
      Effect.provide(Layer.succeed(
        Approvals.Approvals,
        Approvals.Approvals.of({
          command: () => Effect.succeed(allowHost("evil.example")),
          patch: () => Effect.succeed("approved"),
          permissions: () => Effect.succeedNone,
          userInput: () => Effect.succeedNone
        })
      ))
    ))
})
