import { type ApprovalRequest, DecidedBy } from "@deputy/core"
import * as Terminal from "@effect/platform/Terminal"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as JsonOutput from "../src/JsonOutput.js"
import { Output } from "../src/Output.js"
import * as Render from "../src/Render.js"
import * as TerminalApprovals from "../src/TerminalApprovals.js"
import * as MockTerminal from "./utils/MockTerminal.js"
import * as RecordingOutput from "./utils/RecordingOutput.js"
import * as Requests from "./utils/requests.js"

const setup = Effect.gen(function*() {
  const mock = yield* MockTerminal.make
  const recorded = yield* RecordingOutput.make()
  const interrupted = yield* Deferred.make<void>()
  const approvals = yield* TerminalApprovals.make({
    cwd: "/repo",
    onInterrupt: Deferred.succeed(interrupted, undefined)
  })
    .pipe(Effect.provideService(Terminal.Terminal, mock.terminal), Effect.provideService(Output, recorded.output))
  return { ...mock, ...recorded, approvals }
})

const network = (
  host: string,
  available?: ApprovalRequest.CommandApproval["event"]["available_decisions"]
): ApprovalRequest.CommandApproval => {
  const request = Requests.command(["curl", "https://example.com"])
  return {
    ...request,
    event: {
      ...request.event,
      network_approval_context: { host, protocol: "https" },
      ...(available === undefined ? {} : { available_decisions: available })
    }
  }
}

/** A network approval as the real Codex sends it: no command and no directory of its own. */
const bareNetwork = (host: string): ApprovalRequest.CommandApproval => {
  const request = network(host)
  return { ...request, event: { ...request.event, command: [], cwd: "" } }
}

describe("network approvals at the terminal and in --json", () => {
  it.scoped("a network request with no command reads as what it asks: the host and protocol, no empty command", () =>
    Effect.gen(function*() {
      assert.strictEqual(Render.describeRequest(bareNetwork("example.com"), "/repo"), "reach example.com (https)")
      const t = yield* setup
      yield* t.send(MockTerminal.key("d"))
      yield* t.approvals.command(bareNetwork("example.com"))
      const shown = t.stderr()
      assert.include(shown, "    ⚠ network: example.com over https")
      assert.notInclude(shown, "``")
      assert.notMatch(shown, /\$ *\n/, "no empty command line")
    }))

  it.scoped("the prompt says the host and protocol, escaped, and who asks to reach the network", () =>
    Effect.gen(function*() {
      const t = yield* setup
      yield* t.send(MockTerminal.key("a"))
      const decision = yield* t.approvals.command(network("evil\x1b[2J.example"))
      assert.strictEqual(DecidedBy.split(decision, "test").value, "approved")
      const shown = t.stderr()
      assert.include(shown, "? The sub-agent asks to reach the network")
      assert.include(shown, "    ⚠ network: evil\\x1b[2J.example over https")
      assert.notInclude(shown, "\x1b[2J")
    }))

  it.scoped("only the decisions Codex lists are offered (deny always); another key gets the hint", () =>
    Effect.gen(function*() {
      const t = yield* setup
      yield* t.send(MockTerminal.key("s"), MockTerminal.key("x"), MockTerminal.key("a"))
      const decision = yield* t.approvals.command(network("example.com", ["approved", "denied"]))
      assert.strictEqual(DecidedBy.split(decision, "test").value, "approved")
      const shown = t.stderr()
      assert.include(shown, "a approve · d deny ›")
      assert.notInclude(shown, "approve for session")
      assert.include(shown, "press a or d")
    }))

  it.scoped("the end of input denies a network request (the default on cancel)", () =>
    Effect.gen(function*() {
      const t = yield* setup
      yield* t.send(MockTerminal.key("d", { ctrl: true }))
      const decision = yield* t.approvals.command(network("example.com"))
      assert.deepStrictEqual(decision, DecidedBy.decided("denied", { _tag: "Default", why: "end of input" }))
    }))

  it("the --json record and the settled line carry the host", () => {
    const request = network("example.com")
    const record = JsonOutput.approvalRecord({
      request,
      outcome: "denied",
      decidedBy: { _tag: "Default", why: "end of input" },
      waitedMs: 3,
      answer: { type: "exec_approval", id: "call-1", decision: "denied" }
    })
    assert.deepStrictEqual(record.network, { host: "example.com", protocol: "https" })
    assert.strictEqual(
      JsonOutput.approvalRecord({
        request: Requests.command(),
        outcome: "denied",
        decidedBy: { _tag: "Default", why: "end of input" },
        waitedMs: 3,
        answer: { type: "exec_approval", id: "call-1", decision: "denied" }
      }).network,
      undefined
    )
    assert.match(Render.describeRequest(request, "/repo"), /^reach example\.com \(https\) to run `curl/)
  })
})

const rememberingSetup = Effect.gen(function*() {
  const mock = yield* MockTerminal.make
  const recorded = yield* RecordingOutput.make()
  const { approvals, remembered } = yield* TerminalApprovals.makeRemembering({ cwd: "/repo", onInterrupt: Effect.void })
    .pipe(Effect.provideService(Terminal.Terminal, mock.terminal), Effect.provideService(Output, recorded.output))
  return { ...mock, ...recorded, approvals, remembered }
})

describe("approve and remember (Codex's proposed rules, for the session)", () => {
  it.scoped("r remembers exactly the proposed prefix: Codex gets a plain approve, the next match is not asked", () =>
    Effect.gen(function*() {
      const t = yield* rememberingSetup
      yield* t.send(MockTerminal.key("r"))
      const first = yield* t.approvals.command(Requests.proposing(["npm", "test"], ["npm", "test"]))
      assert.deepStrictEqual(first, DecidedBy.decided("approved", { _tag: "Person", channel: "terminal", key: "r" }))
      assert.include(t.stderr(), "r approve and remember `npm test`")
      assert.deepStrictEqual(yield* t.remembered.rules, [
        {
          kind: "command",
          commandPrefix: ["npm", "test"],
          action: "approve",
          source: TerminalApprovals.rememberedSource
        }
      ])
      // the same prefix: decided by the remembered rule, no prompt
      const before = t.stderr()
      const again = yield* t.approvals.command(Requests.command(["npm", "test", "--watch"]))
      assert.strictEqual(DecidedBy.split(again, "test").value, "approved")
      assert.strictEqual(DecidedBy.split(again, "test").decidedBy._tag, "PolicyRule")
      assert.strictEqual(t.stderr(), before)
      // never broader: another command, or the same one reaching the network, is asked
      yield* t.send(MockTerminal.key("d"))
      assert.strictEqual(
        DecidedBy.split(yield* t.approvals.command(Requests.command(["npm", "publish"])), "t").value,
        "denied"
      )
      yield* t.send(MockTerminal.key("d"))
      assert.strictEqual(
        DecidedBy.split(yield* t.approvals.command(network("example.com")), "t").value,
        "denied"
      )
      // revocable: once forgotten, it is asked again
      assert.isTrue(yield* t.remembered.forget(0))
      assert.isFalse(yield* t.remembered.forget(0))
      yield* t.send(MockTerminal.key("d"))
      assert.strictEqual(
        DecidedBy.split(yield* t.approvals.command(Requests.command(["npm", "test"])), "t").value,
        "denied"
      )
    }))

  it.scoped("h remembers the proposed host (that host only); without a proposal there is no remember key", () =>
    Effect.gen(function*() {
      const t = yield* rememberingSetup
      yield* t.send(MockTerminal.key("h"))
      const request = network("example.com", [
        "approved",
        { network_policy_amendment: { network_policy_amendment: { host: "example.com", action: "allow" } } },
        "denied"
      ])
      assert.strictEqual(DecidedBy.split(yield* t.approvals.command(request), "t").value, "approved")
      assert.include(t.stderr(), "h allow example.com and remember")
      const again = yield* t.approvals.command(network("example.com"))
      assert.strictEqual(DecidedBy.split(again, "t").value, "approved")
      yield* t.send(MockTerminal.key("r"), MockTerminal.key("d"))
      assert.strictEqual(DecidedBy.split(yield* t.approvals.command(network("other.example.com")), "t").value, "denied")
      // no remember key for a request without a proposal (m lists the rules held, since one is)
      assert.include(t.stderr(), "press a, s, d, x or m")
    }))
})

describe("nested Codex sub-agents in prompts and records", () => {
  it("who asks ends with the nested thread's nickname (escaped); the record carries the thread", () => {
    const request = {
      ...Requests.command(),
      thread: { id: "0123456789", parentId: "main", nickname: "Gali\x1b[2Jleo" }
    }
    assert.strictEqual(Render.whoAsks(request), "The sub-agent › Gali\\x1b[2Jleo asks")
    assert.strictEqual(
      Render.whoAsks({ ...request, thread: { id: "0123456789abcdef" } }),
      "The sub-agent › sub-agent 01234567 asks"
    )
    const record = JsonOutput.approvalRecord({
      request,
      outcome: "approved",
      decidedBy: { _tag: "Script" },
      waitedMs: 1,
      answer: { type: "exec_approval", id: "call-1", decision: "approved" }
    })
    assert.deepStrictEqual(record.thread, { id: "0123456789", parent_id: "main", nickname: "Gali\x1b[2Jleo" })
  })
})

describe("questions the sub-agent does not wait for (isBlocking: false)", () => {
  it.scoped("the prompt says so; the record says blocking: false; blocking ones say nothing", () =>
    Effect.gen(function*() {
      const t = yield* setup
      const base = Requests.userInput()
      const nonBlocking = { ...base, event: { ...base.event, is_blocking: false } } as typeof base
      yield* t.send(MockTerminal.key("d", { ctrl: true }))
      yield* t.approvals.userInput(nonBlocking)
      assert.include(t.stderr(), "(the sub-agent does not wait for this answer)")
      const settle = (request: typeof base) =>
        JsonOutput.approvalRecord({
          request,
          outcome: "denied",
          decidedBy: { _tag: "Default", why: "end of input" },
          waitedMs: 0,
          answer: { type: "user_input_answer", id: "t", response: { answers: {} } }
        })
      assert.strictEqual(settle(nonBlocking).blocking, false)
      assert.strictEqual(settle(base).blocking, undefined)
      yield* t.send(MockTerminal.key("d", { ctrl: true }))
      const before = t.stderr().length
      yield* t.approvals.userInput(base)
      assert.notInclude(t.stderr().slice(before), "does not wait")
    }))
})
