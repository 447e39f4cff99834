/**
 * A network approval as the real Codex sends it (the params below are those of 0.171.0 and 0.169.0,
 * recorded in `Network.e2e`): no `command` and no `cwd` of its own, the host and protocol, the amendments
 * Codex proposes and the decisions it accepts. Deputy makes up no command for it, says what it asks in
 * words, and sends the amendment back as Codex offered it.
 */
import { ApprovalRequest } from "@deputy/core"
import type { Event } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { Translator } from "../src/internal/translate.js"

type Json = Record<string, any>

const recorded = {
  id: 0,
  method: "item/commandExecution/requestApproval",
  params: {
    kind: "command",
    threadId: "th",
    turnId: "tu",
    itemId: "network#local#http#127.0.0.1#36373#50686124-e559-468e-a9ee-0675c95610cd",
    startedAtMs: 1796219889549,
    environmentId: "local",
    reason: "Network access to 127.0.0.1 requires approval",
    networkApprovalContext: { host: "127.0.0.1", protocol: "http" },
    proposedNetworkPolicyAmendments: [{ host: "127.0.0.1", action: "allow" }, { host: "127.0.0.1", action: "deny" }],
    availableDecisions: [
      "accept",
      "acceptForSession",
      { applyNetworkPolicyAmendment: { network_policy_amendment: { host: "127.0.0.1", action: "allow" } } },
      "cancel"
    ]
  }
}

const translate = () => {
  const t = new Translator(() => {}, Date.now, new Set())
  t.line(Either.right({ line: 1, text: JSON.stringify(recorded) }))
  const event = t.takeEvents().find((event: Event) => event.msg.type === "exec_approval_request")!
  return { t, event, msg: event.msg as Json }
}

describe("a network approval from the real Codex", () => {
  it("carries the host, protocol, proposals and offered decisions, and no made-up command", () => {
    const { msg } = translate()
    assert.deepStrictEqual(msg.command, [])
    assert.deepStrictEqual(msg.network_approval_context, { host: "127.0.0.1", protocol: "http" })
    assert.deepStrictEqual(msg.proposed_network_policy_amendments, recorded.params.proposedNetworkPolicyAmendments)
    assert.deepStrictEqual(msg.available_decisions, [
      "approved",
      "approved_for_session",
      { network_policy_amendment: { network_policy_amendment: { host: "127.0.0.1", action: "allow" } } },
      "abort"
    ])
    assert.strictEqual(msg.call_id, recorded.params.itemId)
  })

  it("is described by what it asks: the host and protocol (a command request still shows its command)", () => {
    const { event, msg } = translate()
    const request = {
      kind: "command",
      id: event.id,
      event: msg
    } as unknown as ApprovalRequest.CommandApproval
    assert.strictEqual(ApprovalRequest.describe(request), "reach 127.0.0.1 (http)")
    const withCommand = { ...request, event: { ...request.event, command: ["curl", "x"], cwd: "/w" } }
    assert.strictEqual(ApprovalRequest.describe(withCommand), "reach 127.0.0.1 (http) to run `curl x` in /w")
  })

  it("approve and remember goes back as the amendment Codex offered", () => {
    const { msg, t } = translate()
    t.answer({
      type: "exec_approval",
      id: msg.call_id,
      turn_id: "tu",
      decision: msg.available_decisions[2]
    })
    assert.deepStrictEqual(t.takeReplies().map((reply) => JSON.parse(reply)), [
      { id: 0, result: { decision: recorded.params.availableDecisions[2] } }
    ])
  })
})
