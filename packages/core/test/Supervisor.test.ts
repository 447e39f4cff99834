/**
 * The supervised tree: paths, one inbox with provenance chains, admission, budgets, grants that stay in
 * their node, narrowing policies, stop with a receipt, sibling failure policy.
 */
import { ApprovalInbox, Delegate, Supervisor, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { execRequest, opTypes } from "./helpers.js"

const source = "review" as const
const testLayer = TestAgent.layer()

/** The test child of the node started with `config: { node }`. */
const childOf = (node: string): Effect.Effect<TestAgent.TestAgentChild, never, TestAgent.TestAgent> =>
  Effect.flatMap(TestAgent.TestAgent, (agent) => agent.awaitChild((options) => options.config?.node === node))

const spawnOptions = (name: string, extra: Partial<Supervisor.SpawnNodeOptions> = {}): Supervisor.SpawnNodeOptions =>
  ({ name, source, config: { node: name }, ...extra }) as Supervisor.SpawnNodeOptions

describe("Supervisor", () => {
  it.scoped("a nested node's request reaches the one inbox with its path and chain; the answer goes back", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      const review = yield* supervisor.spawn(spawnOptions("review"))
      const tests = yield* review.spawn(spawnOptions("tests", { startedIn: { turnId: "t1", callId: "spawn-1" } }))
      assert.strictEqual(tests.path, "root/review/tests")
      const child = yield* childOf("tests")
      yield* child.emit(execRequest("c1"), "turn-1")
      const pending = yield* supervisor.inbox.awaitPending()
      assert.strictEqual(pending.request.path, "root/review/tests")
      assert.deepStrictEqual(pending.request.chain?.map((link) => link.path), ["root/review", "root/review/tests"])
      assert.strictEqual(pending.request.chain?.[0]?.callId, "spawn-1")
      assert.strictEqual(pending.request.chain?.[1]?.delegateId, tests.delegateId)
      assert.deepStrictEqual((yield* supervisor.pendingUnder("root/review")).length, 1)
      assert.deepStrictEqual((yield* supervisor.pendingUnder("root/other")).length, 0)
      yield* supervisor.inbox.respond(pending.request.id, ApprovalInbox.decision("approved"))
      const answer = yield* child.awaitOp("exec_approval")
      assert.strictEqual((answer.op as { decision?: string }).decision, "approved")
    }).pipe(Effect.provide(testLayer)))

  it.scoped("stop stops the subtree, answers pending requests with defaults and lists every node", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      const a = yield* supervisor.spawn(spawnOptions("a"))
      yield* a.spawn(spawnOptions("a1"))
      yield* supervisor.spawn(spawnOptions("b"))
      const a1 = yield* childOf("a1")
      yield* a1.emit({ type: "agent_message", message: "working on it" }, "turn-1")
      yield* a1.emit(execRequest("c1"), "turn-1")
      const pending = yield* supervisor.inbox.awaitPending()
      const receipt = yield* supervisor.stop
      assert.deepStrictEqual(receipt.nodes.map((node) => node.path), ["root/a", "root/a/a1", "root/b"])
      for (const node of receipt.nodes) assert.strictEqual(node.reason, "interrupted")
      assert.strictEqual(receipt.nodes[1]!.lastAgentMessage, "working on it")
      const answer = yield* a1.awaitOp("exec_approval")
      assert.strictEqual((answer.op as { decision?: string }).decision, "abort")
      assert.strictEqual((yield* supervisor.inbox.pending).length, 0)
      assert.strictEqual(pending.request.path, "root/a/a1")
      for (const child of yield* (yield* TestAgent.TestAgent).children) assert.isTrue(yield* child.released)
    }).pipe(Effect.provide(testLayer)))

  it.effect("children drain in parallel: one drain timeout for the whole tree, not one per level", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const supervisor = yield* Supervisor.make({ drainTimeout: "1 second" }).pipe(Scope.extend(scope))
      const a = yield* supervisor.spawn(spawnOptions("a"))
      const a1 = yield* a.spawn(spawnOptions("a1"))
      const a11 = yield* a1.spawn(spawnOptions("a11"))
      yield* supervisor.spawn(spawnOptions("b"))
      yield* a11.delegate
      yield* childOf("b")
      const stopping = yield* Effect.fork(supervisor.stop)
      yield* TestClock.adjust("999 millis")
      assert.isNull(stopping.unsafePoll())
      yield* TestClock.adjust("1 millis")
      const receipt = yield* Fiber.join(stopping)
      assert.deepStrictEqual(receipt.nodes.map((node) => node.reason), [
        "drain_timed_out",
        "drain_timed_out",
        "drain_timed_out",
        "drain_timed_out"
      ])
      assert.isTrue(receipt.drainTimedOut)
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(TestAgent.layer({ hangOnShutdown: true }))))

  it.effect("Supervisor.layer: the tree lives as long as the layer; closing it stops every node", () =>
    Effect.gen(function*() {
      const agent = yield* TestAgent.TestAgent
      yield* Effect.gen(function*() {
        const supervisor = yield* Supervisor.Supervisor
        const a = yield* supervisor.spawn(spawnOptions("a"))
        yield* a.spawn(spawnOptions("a1"))
        yield* childOf("a1")
      }).pipe(Effect.provide(Supervisor.layer()))
      assert.strictEqual(yield* agent.spawned, 2)
      assert.strictEqual(yield* agent.released, 2)
    }).pipe(Effect.provide(testLayer)))

  it.scoped("names: no slash, no control characters, unique among siblings", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* supervisor.spawn(spawnOptions("a"))
      for (const name of ["a", "x/y", "bad\u001b[2J", ""]) {
        const refused = yield* Effect.flip(supervisor.spawn(spawnOptions(name)))
        assert.strictEqual(refused._tag, "InvalidNodeName")
      }
    }).pipe(Effect.provide(testLayer)))

  it.scoped("admission: a FIFO queue with positions; onLimit fail; maxDepth", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ limits: { maxConcurrent: 1 } })
      const a = yield* supervisor.spawn(spawnOptions("a"))
      const b = yield* supervisor.spawn(spawnOptions("b"))
      const c = yield* supervisor.spawn(spawnOptions("c"))
      assert.deepStrictEqual(yield* b.state, { _tag: "Queued", position: 0 })
      assert.deepStrictEqual(yield* c.state, { _tag: "Queued", position: 1 })
      yield* (yield* childOf("a")).end
      yield* a.ended
      yield* b.delegate
      assert.deepStrictEqual(yield* b.state, { _tag: "Running" })
      assert.deepStrictEqual(yield* c.state, { _tag: "Queued", position: 0 })
      // a stopped queued node never starts
      const receipt = yield* c.stop
      assert.strictEqual(receipt.nodes[0]!.started, false)
      assert.strictEqual((yield* Effect.flip(c.delegate))._tag, "NodeNotStarted")
      assert.strictEqual(yield* TestAgent.TestAgent.pipe(Effect.flatMap((t) => t.spawned)), 2)

      const strict = yield* Supervisor.make({ limits: { maxConcurrent: 1, onLimit: "fail", maxDepth: 1 } })
      const x = yield* strict.spawn(spawnOptions("x"))
      const over = yield* Effect.flip(strict.spawn(spawnOptions("y")))
      assert.strictEqual(over._tag === "AdmissionRefused" && over.limit, "maxConcurrent")
      const deep = yield* Effect.flip(x.spawn(spawnOptions("x1")))
      assert.strictEqual(deep._tag === "AdmissionRefused" && deep.limit, "maxDepth")
    }).pipe(Effect.provide(testLayer)))

  it.scoped("concurrent spawns: one name, one node; limits hold", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ limits: { maxConcurrent: 2, onLimit: "fail" } })
      const same = yield* Effect.all(
        Array.from({ length: 5 }, () => Effect.either(supervisor.spawn(spawnOptions("x")))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(same.filter((result) => result._tag === "Right").length, 1)
      const many = yield* Effect.all(
        Array.from({ length: 5 }, (_, i) => Effect.either(supervisor.spawn(spawnOptions(`y${i}`)))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(many.filter((result) => result._tag === "Right").length, 1)
      assert.strictEqual((yield* supervisor.nodes).length, 2)
    }).pipe(Effect.provide(testLayer)))

  it.scoped("maxConcurrentChildren limits one parent's running children", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ limits: { maxConcurrentChildren: 1 } })
      const a = yield* supervisor.spawn(spawnOptions("a"))
      const a1 = yield* a.spawn(spawnOptions("a1"))
      const a2 = yield* a.spawn(spawnOptions("a2"))
      yield* a1.delegate
      assert.strictEqual((yield* a2.state)._tag, "Queued")
      yield* a1.stop
      yield* a2.delegate
      assert.strictEqual((yield* a2.state)._tag, "Running")
      // a node's own limit, lower than the tree's
      const other = yield* Supervisor.make({ name: "other" })
      const b = yield* other.spawn(spawnOptions("b", { limits: { maxConcurrentChildren: 0 } }))
      const b1 = yield* b.spawn(spawnOptions("b1"))
      assert.deepStrictEqual(yield* b1.state, { _tag: "Queued", position: 0 })
    }).pipe(Effect.provide(testLayer)))

  it.scoped("budgets: a child's is carved from its parent's; turns over budget end the subtree budget_exhausted", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ budget: { turns: 5, tokens: 1000 } })
      const a = yield* supervisor.spawn(spawnOptions("a", { budget: { turns: 2, tokens: 5000 } }))
      assert.strictEqual(a.budget.turns, 2)
      assert.strictEqual(a.budget.tokens, 1000)
      const a1 = yield* a.spawn(spawnOptions("a1", { budget: { turns: 10 } }))
      assert.strictEqual(a1.budget.turns, 2)
      const child = yield* childOf("a")
      yield* child.emit({ type: "task_started", turn_id: "t1" }, "t1")
      yield* child.emit({ type: "task_complete", turn_id: "t1", last_agent_message: "one" }, "t1")
      const grandchild = yield* childOf("a1")
      yield* grandchild.emit({ type: "task_started", turn_id: "u1" }, "u1")
      yield* grandchild.emit({ type: "task_started", turn_id: "u2" }, "u2")
      const receipt = yield* a.ended
      assert.deepStrictEqual(receipt.nodes.map((node) => node.reason), ["budget_exhausted", "budget_exhausted"])
      assert.deepStrictEqual(receipt.nodes[0]!.exhausted, { path: "root/a", dimension: "turns", limit: 2, used: 3 })
      assert.strictEqual(receipt.nodes[0]!.subtreeUsage.turns, 3)
      assert.strictEqual(receipt.nodes[1]!.usage.turns, 2)
      assert.strictEqual((yield* supervisor.usage).turns, 3)
      // the tree goes on: a sibling still starts
      yield* (yield* supervisor.spawn(spawnOptions("b"))).delegate
    }).pipe(Effect.provide(testLayer)))

  it.scoped("budgets: tokens from token_count, approvals refused past the budget", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      const a = yield* supervisor.spawn(spawnOptions("a", { budget: { tokens: 100 } }))
      const child = yield* childOf("a")
      const usage = (total: number) => ({
        type: "token_count" as const,
        info: {
          total_token_usage: { input_tokens: total, output_tokens: 0, total_tokens: total },
          last_token_usage: { input_tokens: total, output_tokens: 0, total_tokens: total }
        }
      })
      yield* child.emitAll([usage(60), { type: "agent_message", message: "marker" }], "t1")
      // the marker is forwarded after the token count was observed
      yield* Delegate.readUntil(yield* a.delegate, (event) => event.msg.type === "agent_message")
      assert.strictEqual((yield* a.usage).tokens, 60)
      yield* child.emit(usage(120), "t1")
      const receipt = yield* a.ended
      assert.strictEqual(receipt.nodes[0]!.reason, "budget_exhausted")
      assert.strictEqual(receipt.nodes[0]!.usage.tokens, 120)

      const b = yield* supervisor.spawn(spawnOptions("b", { budget: { approvals: 1 } }))
      const bChild = yield* childOf("b")
      yield* bChild.emit(execRequest("c1"), "t1")
      const first = yield* supervisor.inbox.awaitPending()
      yield* supervisor.inbox.respond(first.request.id, ApprovalInbox.decision("approved"))
      yield* bChild.emit(execRequest("c2"), "t1")
      const second = yield* bChild.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === "c2")
      assert.strictEqual((second.op as { decision?: string }).decision, "denied")
      const bReceipt = yield* b.ended
      assert.strictEqual(bReceipt.nodes[0]!.reason, "budget_exhausted")
      assert.strictEqual(bReceipt.nodes[0]!.usage.approvals, 1)
    }).pipe(Effect.provide(testLayer)))

  it.scoped("budgets: a turn-starting submission past the turns budget is refused and ends the node", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      const a = yield* supervisor.spawn(spawnOptions("a", { budget: { turns: 1 } }))
      const handle = yield* a.delegate
      yield* handle.submit({ type: "user_input", items: [] })
      const refused = yield* Effect.flip(handle.submit({ type: "user_input", items: [] }))
      assert.strictEqual(refused._tag, "DelegateClosed")
      const receipt = yield* a.ended
      assert.strictEqual(receipt.nodes[0]!.reason, "budget_exhausted")
      assert.deepStrictEqual(receipt.nodes[0]!.exhausted, { path: "root/a", dimension: "turns", limit: 1, used: 0 })
      assert.deepStrictEqual(opTypes(yield* (yield* childOf("a")).received).filter((t) => t === "user_input"), [
        "user_input"
      ])
    }).pipe(Effect.provide(testLayer)))

  it.effect("budgets: wall time ends the subtree", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const supervisor = yield* Supervisor.make().pipe(Scope.extend(scope))
      const a = yield* supervisor.spawn(spawnOptions("a", { budget: { wallTime: "10 seconds" } }))
      yield* a.delegate
      const b = yield* a.spawn(spawnOptions("b", { budget: { wallTime: "1 hour" } }))
      yield* b.delegate
      assert.isAtMost(b.budget.wallTimeMs!, 10_000)
      const ended = yield* Effect.fork(a.ended)
      yield* TestClock.adjust("11 seconds")
      const receipt = yield* Fiber.join(ended)
      assert.deepStrictEqual(receipt.nodes.map((node) => node.reason), ["budget_exhausted", "budget_exhausted"])
      assert.strictEqual(receipt.nodes[0]!.exhausted?.dimension, "wallTime")
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(testLayer)))

  it.scoped("approved_for_session stays in its node: siblings, children and parent still ask", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      const a = yield* supervisor.spawn(spawnOptions("a"))
      yield* a.spawn(spawnOptions("a1"))
      yield* supervisor.spawn(spawnOptions("b"))
      const aChild = yield* childOf("a")
      yield* aChild.emit(execRequest("c1"), "t1")
      const first = yield* supervisor.inbox.awaitPending()
      yield* supervisor.inbox.respond(first.request.id, ApprovalInbox.decision("approved_for_session"))
      yield* aChild.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === "c1")
      // the same command again in a: answered from a's session
      yield* aChild.emit(execRequest("c2"), "t1")
      const again = yield* aChild.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === "c2")
      assert.strictEqual((again.op as { decision?: string }).decision, "approved")
      // in b and a1: asked
      for (const name of ["b", "a1"]) {
        const other = yield* childOf(name)
        yield* other.emit(execRequest(`${name}-c1`), "t1")
        const asked = yield* supervisor.inbox.awaitPending((p) =>
          p.request.path === `root/${name === "b" ? "b" : "a/a1"}`
        )
        assert.strictEqual(asked.request.callId, `${name}-c1`)
      }
    }).pipe(Effect.provide(testLayer)))

  it.scoped("policies only narrow down the tree", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({
        policy: [{ kind: "command", commandPrefix: ["rm"], action: "deny" }, {
          kind: "command",
          commandPrefix: ["git", "status"],
          action: "approve"
        }]
      })
      const a = yield* supervisor.spawn(spawnOptions("a", {
        policy: [{ kind: "command", commandPrefix: ["rm"], action: "approve" }, {
          kind: "command",
          commandPrefix: ["git"],
          action: "deny"
        }]
      }))
      const b = yield* supervisor.spawn(spawnOptions("b"))
      void a
      void b
      const aChild = yield* childOf("a")
      const bChild = yield* childOf("b")
      const decisionFor = (child: TestAgent.TestAgentChild, callId: string, command: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          yield* child.emit(execRequest(callId, { command }), "t1")
          const answer = yield* child.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === callId)
          return (answer.op as { decision?: string }).decision
        })
      assert.strictEqual(yield* decisionFor(aChild, "a-rm", ["rm", "-rf", "/"]), "denied") // the root denies
      assert.strictEqual(yield* decisionFor(aChild, "a-git", ["git", "status"]), "denied") // a narrows
      assert.strictEqual(yield* decisionFor(bChild, "b-git", ["git", "status"]), "approved") // b inherits
    }).pipe(Effect.provide(testLayer)))

  it.scoped("policies read shell scripts (the supervisor loads the parser)", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({
        policy: [{ kind: "command", commandPrefix: ["git"], action: "approve" }]
      })
      yield* supervisor.spawn(spawnOptions("a"))
      const child = yield* childOf("a")
      yield* child.emit(execRequest("s1", { command: ["bash", "-lc", "git status && git diff"] }), "t1")
      const answer = yield* child.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === "s1")
      assert.strictEqual((answer.op as { decision?: string }).decision, "approved")
    }).pipe(Effect.provide(testLayer)))

  it.scoped("fail_fast stops the siblings of a failing node; continue lets them run", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ childFailure: "fail_fast" })
      const a = yield* supervisor.spawn(spawnOptions("a"))
      const b = yield* supervisor.spawn(spawnOptions("b"))
      yield* b.spawn(spawnOptions("b1"))
      yield* childOf("b1")
      yield* (yield* childOf("a")).crash({ code: 3 })
      const receipt = yield* supervisor.awaitIdle
      assert.deepStrictEqual(
        receipt.nodes.map((node) => [node.path, node.reason]),
        [["root/a", "agent_exited"], ["root/b", "interrupted"], ["root/b/b1", "interrupted"]]
      )
      assert.match(receipt.nodes[1]!.message ?? "", /sibling root\/a failed/)
      void a

      const relaxed = yield* Supervisor.make({ name: "other" })
      const c = yield* relaxed.spawn(spawnOptions("c"))
      const d = yield* relaxed.spawn(spawnOptions("d"))
      yield* (yield* childOf("c")).crash()
      yield* c.ended
      assert.deepStrictEqual(yield* d.state, { _tag: "Running" })
    }).pipe(Effect.provide(testLayer)))

  it.scoped("the inbox's not now: a deferred request stays pending, behind the others", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* supervisor.spawn(spawnOptions("a"))
      const child = yield* childOf("a")
      yield* child.emit(execRequest("c1"), "t1")
      yield* child.emit(execRequest("c2"), "t1")
      yield* supervisor.inbox.awaitPending((p) => p.request.callId === "c2")
      const [first] = yield* supervisor.pendingUnder()
      yield* supervisor.inbox.defer(first!.request.id)
      const after = yield* supervisor.pendingUnder()
      assert.deepStrictEqual(after.map((p) => p.request.callId), ["c2", "c1"])
      assert.isDefined(after[1]!.deferredAt)
      assert.notInclude(opTypes(yield* child.received), "exec_approval")
    }).pipe(Effect.provide(testLayer)))

  it.scoped("a node's delegate ending ends its children (they never outlive it)", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      const a = yield* supervisor.spawn(spawnOptions("a"))
      yield* a.spawn(spawnOptions("a1"))
      yield* childOf("a1")
      yield* (yield* childOf("a")).end
      const receipt = yield* a.ended
      assert.deepStrictEqual(receipt.nodes.map((node) => node.reason), ["agent_exited", "interrupted"])
      assert.match(receipt.nodes[1]!.message ?? "", /parent root\/a ended/)
      assert.isTrue(Option.isSome(yield* supervisor.node("root/a/a1")))
      const refused = yield* Effect.flip(a.spawn(spawnOptions("late")))
      assert.strictEqual(refused._tag === "AdmissionRefused" && refused.limit, "parent_ended")
    }).pipe(Effect.provide(testLayer)))
})
