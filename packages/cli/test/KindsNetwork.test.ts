import type { ApprovalRequest } from "@deputy/core"
import { DecidedBy } from "@deputy/core"
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
  const approvals = yield* TerminalApprovals.make({ cwd: "/repo", onInterrupt: Deferred.succeed(interrupted, undefined) })
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

describe("network approvals at the terminal and in --json", () => {
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
    assert.strictEqual(JsonOutput.approvalRecord({
      request: Requests.command(),
      outcome: "denied",
      decidedBy: { _tag: "Default", why: "end of input" },
      waitedMs: 3,
      answer: { type: "exec_approval", id: "call-1", decision: "denied" }
    }).network, undefined)
    assert.match(Render.describeRequest(request, "/repo"), /^reach example\.com \(https\) to run `curl/)
  })
})
