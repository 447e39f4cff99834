/**
 * A network approval as the real Codex sends it (the params below are those of 0.171.0 and 0.169.0,
 * recorded in `Network.e2e`): no `command` and no `cwd` of its own, the host and protocol, the amendments
 * Codex proposes and the decisions it accepts. Deputy makes up no command for it, says what it asks in
 * words, and sends the amendment back as Codex offered it.
 */
import { ApprovalRequest } from "@deputy/core"
import type { Event } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import * as HomeOverlay from "../src/internal/homeOverlay.js"
import { Translator } from "../src/internal/translate.js"
import { provideNode, tempDir } from "./utils.js"

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
  const event = t.takeEvents().find((event: Event.Event) => event.msg.type === "exec_approval_request")!
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

describe("the rule Codex writes for an amendment, through Deputy's overlay of its home", () => {
  const codexWritesRule = (real: string) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const overlay = yield* HomeOverlay.make({ CODEX_HOME: real }, false).pipe(Scope.extend(scope))
      const dir = overlay.env.CODEX_HOME!
      // what Codex does for applyNetworkPolicyAmendment: append to rules/default.rules, making rules/ if missing
      fs.mkdirSync(path.join(dir, "rules"), { recursive: true })
      fs.appendFileSync(path.join(dir, "rules", "default.rules"), rule)
      yield* Scope.close(scope, Exit.void)
      return fs.readFileSync(path.join(real, "rules", "default.rules"), "utf8")
    })
  const rule = "network_rule(host=\"127.0.0.1\", protocol=\"http\", decision=\"allow\")\n"

  it.scoped("is kept in the real home when the home had no rules directory (Codex would have made it there)", () =>
    Effect.gen(function*() {
      const real = fs.realpathSync(yield* tempDir)
      fs.writeFileSync(path.join(real, "config.toml"), "model = \"m\"\n")
      assert.strictEqual(yield* codexWritesRule(real), rule)
      assert.deepStrictEqual(fs.readdirSync(path.join(real, "rules")), ["default.rules"])
    }).pipe(provideNode))

  it.scoped("is written through to the real home's rules, next to the user's own", () =>
    Effect.gen(function*() {
      const real = fs.realpathSync(yield* tempDir)
      fs.mkdirSync(path.join(real, "rules"))
      fs.writeFileSync(path.join(real, "rules", "default.rules"), "prefix_rule(pattern=[\"ls\"])\n")
      assert.strictEqual(yield* codexWritesRule(real), `prefix_rule(pattern=["ls"])\n${rule}`)
    }).pipe(provideNode))

  it.scoped("nothing is made when Codex wrote no rule", () =>
    Effect.gen(function*() {
      const real = fs.realpathSync(yield* tempDir)
      const scope = yield* Scope.make()
      yield* HomeOverlay.make({ CODEX_HOME: real }, false).pipe(Scope.extend(scope))
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(fs.readdirSync(real), [])
    }).pipe(provideNode))
})
