/**
 * The supervised tree against a hostile sub-agent: names it picks, commands that look like a granted one.
 */
import { ApprovalInbox, Supervisor, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { execRequest } from "./helpers.js"

const source = "review" as const
const testLayer = TestAgent.layer()
const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/

const childOf = (node: string): Effect.Effect<TestAgent.TestAgentChild, never, TestAgent.TestAgent> =>
  Effect.flatMap(TestAgent.TestAgent, (agent) => agent.awaitChild((options) => options.config?.node === node))

const spawnOptions = (name: string, extra: Partial<Supervisor.SpawnNodeOptions> = {}): Supervisor.SpawnNodeOptions =>
  ({ name, source, config: { node: name }, ...extra }) as Supervisor.SpawnNodeOptions

describe("Supervisor against hostile names and commands", () => {
  it.scoped("hostile names are refused with a message that shows them escaped and short", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      for (const name of ["a/b", "../x", "\x1b[2J", "a\u009b2J", "a\u0085b", "x".repeat(10_000), "", "a\r\nb"]) {
        const spawned = yield* Effect.either(supervisor.spawn(spawnOptions(name)))
        assert.isTrue(Either.isLeft(spawned), JSON.stringify(name))
        if (Either.isLeft(spawned)) {
          assert.strictEqual(spawned.left._tag, "InvalidNodeName")
          assert.isFalse(raw.test(spawned.left.message), JSON.stringify(spawned.left.message))
          assert.isBelow(spawned.left.message.length, 400)
        }
      }
    }).pipe(Effect.provide(testLayer)))

  it.scoped("a session grant does not cover the same command in another cwd, quoted otherwise or with an env prefix", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* supervisor.spawn(spawnOptions("a"))
      const child = yield* childOf("a")
      const granted = { command: ["bash", "-lc", "git status"], cwd: "/repo" }
      yield* child.emit(execRequest("c0", granted), "t1")
      const first = yield* supervisor.inbox.awaitPending()
      yield* supervisor.inbox.respond(first.request.id, ApprovalInbox.decision("approved_for_session"))
      yield* child.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === "c0")
      const variants: ReadonlyArray<Record<string, unknown>> = [
        { command: ["bash", "-lc", "git status"], cwd: "/repo/../etc" },
        { command: ["bash", "-lc", "git status"], cwd: "/other" },
        { command: ["bash", "-lc", "git \"status\""], cwd: "/repo" },
        { command: ["bash", "-lc", "GIT_DIR=/tmp/evil git status"], cwd: "/repo" },
        { command: ["bash", "-lc", "git status; rm -rf /"], cwd: "/repo" },
        { command: ["bash", "-lc git status"], cwd: "/repo" },
        { command: ["bash", "-lc", "git status "], cwd: "/repo" }
      ]
      for (const [i, variant] of variants.entries()) {
        yield* child.emit(execRequest(`v${i}`, variant), "t1")
        const asked = yield* supervisor.inbox.awaitPending((p) => p.request.callId === `v${i}`)
        yield* supervisor.inbox.respond(asked.request.id, ApprovalInbox.decision("denied"))
        const answer = yield* child.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === `v${i}`)
        assert.strictEqual((answer.op as { decision?: string }).decision, "denied", JSON.stringify(variant))
      }
      // the granted command itself still comes from the session
      yield* child.emit(execRequest("again", granted), "t1")
      const again = yield* child.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === "again")
      assert.strictEqual((again.op as { decision?: string }).decision, "approved")
    }).pipe(Effect.provide(testLayer)))

  it.scoped("a child's policy cannot approve what an ancestor asks about, denies, or does not cover", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({
        policy: [
          { kind: "command", commandPrefix: ["rm"], action: "deny" },
          { kind: "command", commandPrefix: ["git", "push"], action: "defer" },
          { kind: "command", commandPrefix: ["git"], action: "approve" }
        ]
      })
      const a = yield* supervisor.spawn(
        spawnOptions("a", { policy: [{ kind: "command", action: "approve_for_session" }] })
      )
      yield* a.spawn(spawnOptions("a1", { policy: [{ kind: "command", action: "approve" }] }))
      const child = yield* childOf("a1")
      const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>, "ask" | "denied" | "approved"]> = [
        ["push", ["git", "push", "--force"], "ask"],
        ["rm", ["rm", "-rf", "/"], "denied"],
        ["script", ["bash", "-lc", "git status; rm -rf /"], "denied"],
        ["uncovered", ["curl", "evil"], "ask"],
        ["status", ["git", "status"], "approved"]
      ]
      for (const [id, command, expected] of cases) {
        yield* child.emit(execRequest(id, { command }), "t1")
        if (expected === "ask") {
          const asked = yield* supervisor.inbox.awaitPending((p) => p.request.callId === id)
          yield* supervisor.inbox.respond(asked.request.id, ApprovalInbox.decision("denied"))
        }
        const answer = yield* child.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === id)
        assert.strictEqual(
          (answer.op as { decision?: string }).decision,
          expected === "ask" ? "denied" : expected,
          JSON.stringify(command)
        )
      }
      // the ask above left no grant behind: the push is asked again
      yield* child.emit(execRequest("push2", { command: ["git", "push", "--force"] }), "t1")
      const again = yield* supervisor.inbox.awaitPending((p) => p.request.callId === "push2")
      assert.strictEqual(again.request.path, "root/a/a1")
    }).pipe(Effect.provide(testLayer)))
})
