import { ApprovalRequest, Approvals } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"

const command = (
  argv: ReadonlyArray<string>,
  network?: { host: string; protocol: unknown }
): ApprovalRequest.CommandApproval => ({
  id: "d/command/c",
  delegateId: "d",
  turnId: "t",
  callId: "c",
  source: "review",
  kind: "command",
  event: {
    type: "exec_approval_request",
    call_id: "c",
    command: argv,
    cwd: "/work",
    parsed_cmd: [],
    ...(network === undefined ? {} : { network_approval_context: network })
  } as ApprovalRequest.CommandApproval["event"]
})

const decide = (rules: ReadonlyArray<Approvals.PolicyRule>, request: ApprovalRequest.ApprovalRequest) =>
  Option.match(Approvals.firstMatch(rules, request, { workspace: "/work" }), {
    onNone: () => "none",
    onSome: (rule) => rule.action
  })

const npm = { host: "registry.npmjs.org", protocol: "https" }

describe("network approvals: the host a command asks to reach", () => {
  it("networkAccess reads Codex's networkApprovalContext, and only on commands", () => {
    assert.deepStrictEqual(ApprovalRequest.networkAccess(command(["curl", "x"], npm)), npm)
    assert.deepStrictEqual(
      ApprovalRequest.networkAccess(command(["curl"], { host: "h", protocol: { socks5: {} } })),
      { host: "h", protocol: "unknown" }
    )
    assert.strictEqual(ApprovalRequest.networkAccess(command(["ls"])), undefined)
    assert.match(ApprovalRequest.describe(command(["npm", "ci"], npm)), /^reach registry\.npmjs\.org \(https\) to run/)
  })

  it("hostMatches: the same name, or a subdomain of a *. pattern; never the apex nor a lookalike", () => {
    assert.isTrue(Approvals.hostMatches("registry.npmjs.org", "Registry.NPMJS.org."))
    assert.isTrue(Approvals.hostMatches("*.npmjs.org", "registry.npmjs.org"))
    assert.isFalse(Approvals.hostMatches("*.npmjs.org", "npmjs.org"))
    assert.isFalse(Approvals.hostMatches("*.npmjs.org", "evilnpmjs.org"))
    assert.isFalse(Approvals.hostMatches("npmjs.org", "registry.npmjs.org"))
    assert.isFalse(Approvals.hostMatches("npmjs.org", "npmjs.org.evil.com"))
    assert.isFalse(Approvals.hostMatches("*", "example.com"))
    assert.isFalse(Approvals.hostMatches("example.com", ""))
  })

  it.prop("a *.suffix pattern matches exactly the hosts that end with .suffix and are longer", {
    label: FastCheck.stringMatching(/^[a-z0-9-]{1,8}$/),
    suffix: FastCheck.stringMatching(/^[a-z0-9-]{1,8}(\.[a-z]{1,4})?$/),
    host: FastCheck.stringMatching(/^([a-z0-9-]{1,8}\.){0,3}[a-z0-9-]{1,8}$/)
  }, ({ host, label, suffix }) => {
    assert.isTrue(Approvals.hostMatches(`*.${suffix}`, `${label}.${suffix}`))
    assert.strictEqual(Approvals.hostMatches(`*.${suffix}`, host), host.endsWith(`.${suffix}`))
    assert.strictEqual(Approvals.hostMatches(suffix, host), host === suffix)
  })

  it("a host rule decides a network request to that host only", () => {
    const rules: ReadonlyArray<Approvals.PolicyRule> = [{ host: "*.npmjs.org", action: "approve" }]
    assert.strictEqual(decide(rules, command(["npm", "ci"], npm)), "approve")
    assert.strictEqual(decide(rules, command(["npm", "ci"], { host: "evil.example", protocol: "https" })), "none")
    assert.strictEqual(decide(rules, command(["npm", "ci"])), "none")
  })

  it("an approving commandPrefix rule approves network access only when it says network or names the host", () => {
    const prefix: ReadonlyArray<Approvals.PolicyRule> = [{ commandPrefix: ["curl"], action: "approve" }]
    assert.strictEqual(decide(prefix, command(["curl", "https://x"])), "approve")
    assert.strictEqual(decide(prefix, command(["curl", "https://x"], npm)), "none")
    const network: ReadonlyArray<Approvals.PolicyRule> = [{ commandPrefix: ["curl"], network: true, action: "approve" }]
    assert.strictEqual(decide(network, command(["curl", "https://x"], npm)), "approve")
    assert.strictEqual(decide(network, command(["curl", "https://x"])), "none")
    const host: ReadonlyArray<Approvals.PolicyRule> = [
      { commandPrefix: ["curl"], host: "registry.npmjs.org", action: "approve" }
    ]
    assert.strictEqual(decide(host, command(["curl", "https://x"], npm)), "approve")
    assert.strictEqual(decide(host, command(["wget", "https://x"], npm)), "none")
    // a deny rule still catches the command, network or not
    assert.strictEqual(decide([{ commandPrefix: ["curl"], action: "deny" }], command(["curl"], npm)), "deny")
  })

  it("network on command rules: true matches network requests, false the others", () => {
    const rules: ReadonlyArray<Approvals.PolicyRule> = [
      { kind: "command", network: true, action: "deny" },
      { kind: "command", network: false, action: "approve" }
    ]
    assert.strictEqual(decide(rules, command(["ls"], npm)), "deny")
    assert.strictEqual(decide(rules, command(["ls"])), "approve")
  })

  it("a network-free policy never approves a network request by prefix (fail closed), property", () => {
    FastCheck.assert(FastCheck.property(
      FastCheck.array(FastCheck.stringMatching(/^[a-z]{1,4}$/), { minLength: 1, maxLength: 3 }),
      FastCheck.stringMatching(/^[a-z]{1,6}\.[a-z]{2,3}$/),
      (argv, hostName) => {
        const rules: ReadonlyArray<Approvals.PolicyRule> = [{ commandPrefix: [argv[0]!], action: "approve" }]
        // a program the policy reads as running code (`fc`, `eval`, `sh`, `env`…) is never approved by prefix
        // anyway: the property is about the commands the rule does approve
        FastCheck.pre(decide(rules, command(argv)) === "approve")
        assert.strictEqual(decide(rules, command(argv, { host: hostName, protocol: "https" })), "none")
      }
    ))
  })
})
