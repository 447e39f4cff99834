/**
 * Threads an agent spawned itself (a Codex `spawn_agent` sub-agent), reported with `deputy_thread` events:
 * nodes of the tree under the reporting node, their requests routed with their own path and chain, and a
 * hostile agent's reports (names, parents, floods, threads that never end) contained. The event type is
 * spelled out here (not `Supervisor.threadEventType`) so the test reads as the wire format.
 */
import { AgentSpawner, ApprovalInbox, Supervisor, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { execRequest } from "./helpers.js"

const source = "review" as const
const raw = /[\u0000-\u001f\u007f-\u009f]/

const childOf = (node: string): Effect.Effect<TestAgent.TestAgentChild, never, TestAgent.TestAgent> =>
  Effect.flatMap(TestAgent.TestAgent, (agent) => agent.awaitChild((options) => options.config?.node === node))

const spawnOptions = (name: string, extra: Partial<Supervisor.SpawnNodeOptions> = {}): Supervisor.SpawnNodeOptions =>
  ({ name, source, config: { node: name }, ...extra }) as Supervisor.SpawnNodeOptions

const thread = (event: string, threadId: string, extra: Record<string, unknown> = {}) =>
  ({ type: "deputy_thread", event, thread_id: threadId, ...extra }) as never

/** A request of the thread `threadId` (as `@deputy/codex` names it). */
const threadExec = (callId: string, threadId: string, extra: Record<string, unknown> = {}) =>
  ({ ...execRequest(callId, extra), deputy_thread: { id: threadId } }) as never

/** Polls (bounded) until `check` holds. */
const eventually = <A>(what: string, get: Effect.Effect<A>, check: (value: A) => boolean) =>
  Effect.gen(function*() {
    for (let n = 0; n < 20_000; n++) {
      const value = yield* get
      if (check(value)) return value
      yield* Effect.yieldNow()
    }
    return assert.fail(`never: ${what}`)
  })

const nodeAt = (supervisor: Supervisor.SupervisorService, path: string) =>
  eventually(`node ${path}`, supervisor.node(path), Option.isSome).pipe(
    Effect.map((found) => found.pipe(Option.getOrThrow))
  )

const infoOf = (supervisor: Supervisor.SupervisorService, path: string) =>
  Effect.map(supervisor.nodes, (nodes) => nodes.find((node) => node.path === path))

const answerOf = (child: TestAgent.TestAgentChild, callId: string) =>
  Effect.map(
    child.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === callId),
    (s) => (s.op as { decision?: unknown }).decision
  )

/** The test child, with a way to interrupt its threads (recorded). */
const interruptible = (interrupted: Array<string>) =>
  Layer.effect(
    AgentSpawner.AgentSpawner,
    Effect.map(AgentSpawner.AgentSpawner, (spawner) =>
      AgentSpawner.AgentSpawner.of({
        spawn: (options) =>
          Effect.map(spawner.spawn(options), (agent) => ({
            ...agent,
            interruptThread: (id: string) => Effect.sync(() => interrupted.push(id)).pipe(Effect.as(true))
          }))
      }))
  ).pipe(Layer.provideMerge(TestAgent.layer()))

describe("Supervisor: threads an agent spawned itself", () => {
  it.scoped("a reported thread is a node under its agent's node; its request carries its path and chain", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      const review = yield* supervisor.spawn(spawnOptions("review"))
      const child = yield* childOf("review")
      yield* child.emit(
        thread("started", "th-1", { name: "Galileo", role: "explorer", turn_id: "turn-1", call_id: "spawn_1" }),
        "t1"
      )
      const nested = yield* nodeAt(supervisor, "root/review/Galileo")
      assert.strictEqual(nested.depth, 2)
      assert.deepStrictEqual(nested.external?.threadId, "th-1")
      const info = (yield* infoOf(supervisor, "root/review/Galileo"))!
      assert.strictEqual(info.state._tag, "Running")
      assert.strictEqual(info.parent, "root/review")
      assert.strictEqual(info.delegateId, review.delegateId, "its requests come through its owner's delegate")
      const delegate = yield* Effect.either(nested.delegate)
      assert.strictEqual(delegate._tag, "Left", "no delegate of its own")
      const spawned = yield* Effect.either(nested.spawn(spawnOptions("x")))
      assert.strictEqual(spawned._tag === "Left" && spawned.left._tag, "AdmissionRefused")

      yield* child.emit(thread("turn_started", "th-1"), "t1")
      yield* child.emit(thread("usage", "th-1", { total_tokens: 500 }), "t1")
      yield* child.emit(threadExec("c1", "th-1"), "t1")
      const pending = yield* supervisor.inbox.awaitPending()
      assert.strictEqual(pending.request.path, "root/review/Galileo")
      assert.deepStrictEqual(pending.request.chain?.map((link) => link.path), ["root/review", "root/review/Galileo"])
      assert.strictEqual(pending.request.chain?.[0]?.callId, "spawn_1", "the owner's call that spawned it")
      assert.strictEqual(pending.request.chain?.[0]?.turnId, "turn-1")
      assert.deepStrictEqual(
        (yield* supervisor.pendingUnder("root/review/Galileo")).map((p) => p.request.id),
        [pending.request.id]
      )
      yield* supervisor.inbox.respond(pending.request.id, ApprovalInbox.decision("approved"))
      assert.strictEqual(yield* answerOf(child, "c1"), "approved")

      yield* child.emit(thread("ended", "th-1", { reason: "completed", last_agent_message: "found it" }), "t1")
      const ended = yield* eventually(
        "ended",
        infoOf(supervisor, "root/review/Galileo"),
        (node) => node?.state._tag === "Ended"
      )
      assert.deepStrictEqual(ended!.state, { _tag: "Ended", reason: "completed" })
      assert.strictEqual(ended!.usage.tokens, 500)
      assert.strictEqual(ended!.usage.turns, 1)
      assert.strictEqual(ended!.usage.approvals, 1)
      const owner = (yield* infoOf(supervisor, "root/review"))!
      assert.strictEqual(owner.subtreeUsage.tokens, 500, "the thread's tokens count in its owner's subtree")
      assert.strictEqual(owner.usage.tokens, 0)
      const receipt = yield* supervisor.stop
      const entry = receipt.nodes.find((node) => node.path === "root/review/Galileo")!
      assert.strictEqual(entry.lastAgentMessage, "found it")
      assert.strictEqual(entry.reason, "completed")
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("a policy narrowed for the owner applies to its threads; a thread's session grant stays its own", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* supervisor.spawn(
        spawnOptions("review", { policy: [{ kind: "command", commandPrefix: ["rm"], action: "deny" }] })
      )
      const child = yield* childOf("review")
      yield* child.emit(thread("started", "th-1", { name: "Galileo" }), "t1")
      yield* nodeAt(supervisor, "root/review/Galileo")
      yield* child.emit(threadExec("rm1", "th-1", { command: ["rm", "-rf", "/"] }), "t1")
      assert.strictEqual(yield* answerOf(child, "rm1"), "denied")
      // granted for the thread's session: asked again from the thread, it is approved; from the owner, asked
      yield* child.emit(threadExec("g1", "th-1"), "t1")
      const first = yield* supervisor.inbox.awaitPending()
      yield* supervisor.inbox.respond(first.request.id, ApprovalInbox.decision("approved_for_session"))
      assert.strictEqual(yield* answerOf(child, "g1"), "approved_for_session")
      yield* child.emit(threadExec("g2", "th-1"), "t1")
      assert.strictEqual(yield* answerOf(child, "g2"), "approved")
      yield* child.emit(execRequest("own"), "t1")
      const own = yield* supervisor.inbox.awaitPending((p) => p.request.callId === "own")
      assert.strictEqual(own.request.path, "root/review", "the grant did not travel up")
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("hostile names: ANSI, newlines and / never reach a path; a taken name gets a suffix", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* supervisor.spawn(spawnOptions("review"))
      const child = yield* childOf("review")
      const names = ["\u001b[31mred\u001b[0m", "a\nb/../../etc", "../../x", "x".repeat(500), "", "dup", "dup"]
      for (const [i, name] of names.entries()) yield* child.emit(thread("started", `th-${i}`, { name }), "t1")
      const nodes = yield* eventually(
        "seven nodes",
        supervisor.nodes,
        (all) => all.filter((node) => node.external !== undefined).length === names.length
      )
      for (const node of nodes.filter((node) => node.external !== undefined)) {
        assert.strictEqual(node.parent, "root/review", node.path)
        assert.isTrue(node.path.startsWith("root/review/"), node.path)
        assert.notInclude(node.name, "/")
        assert.isFalse(raw.test(node.path), JSON.stringify(node.path))
        assert.isAtMost(node.name.length, 64)
      }
      const byThread = new Map(nodes.map((node) => [node.external?.threadId, node]))
      assert.strictEqual(byThread.get("th-1")!.name, "a_b_.._.._etc")
      assert.strictEqual(byThread.get("th-1")!.external?.reportedName, "a\nb/../../etc", "kept as reported")
      assert.strictEqual(byThread.get("th-4")!.name, "thread")
      assert.strictEqual(byThread.get("th-5")!.name, "dup")
      assert.strictEqual(byThread.get("th-6")!.name, "dup~2")
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("a thread naming a parent its agent never reported (or another delegate's) is refused; its requests get the default", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* supervisor.spawn(spawnOptions("a"))
      yield* supervisor.spawn(spawnOptions("b"))
      const a = yield* childOf("a")
      const b = yield* childOf("b")
      yield* b.emit(thread("started", "b-th", { name: "bee" }), "t1")
      yield* nodeAt(supervisor, "root/b/bee")
      yield* a.emit(thread("started", "orphan", { name: "o", parent_thread_id: "nowhere" }), "t1")
      yield* a.emit(thread("started", "sideways", { name: "s", parent_thread_id: "b-th" }), "t1")
      yield* eventually("two refused", infoOf(supervisor, "root/a"), (node) => node?.threadsRefused === 2)
      yield* a.emit(threadExec("o1", "orphan"), "t1")
      yield* a.emit(threadExec("s1", "sideways"), "t1")
      yield* a.emit(threadExec("n1", "never-reported"), "t1")
      assert.strictEqual(yield* answerOf(a, "o1"), "denied")
      assert.strictEqual(yield* answerOf(a, "s1"), "denied")
      assert.strictEqual(yield* answerOf(a, "n1"), "denied")
      assert.deepStrictEqual(yield* supervisor.inbox.pending, [], "none reached the inbox")
      const paths = (yield* supervisor.nodes).map((node) => node.path)
      assert.deepStrictEqual(paths, ["root/a", "root/b", "root/b/bee"])
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("10,000 threads: at most maxThreads become nodes, the rest are counted and interrupted", () => {
    const interrupted: Array<string> = []
    return Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ limits: { maxThreads: 50 } })
      const review = yield* supervisor.spawn(spawnOptions("review"))
      const child = yield* childOf("review")
      // the reports are forwarded to the delegate's reader too: read them (a reader that stops slows the child)
      yield* Effect.forkScoped(Effect.flatMap(review.delegate, (handle) => Stream.runDrain(handle.events)))
      yield* child.emitAll(
        Array.from({ length: 10_000 }, (_, i) => thread("started", `th-${i}`, { name: `n${i}` })),
        "t1"
      )
      const owner = yield* eventually(
        "9,950 refused",
        infoOf(supervisor, "root/review"),
        (node) => node?.threadsRefused === 9_950
      )
      assert.isDefined(owner)
      assert.strictEqual((yield* supervisor.nodes).length, 51)
      yield* eventually("interrupted", Effect.sync(() => interrupted.length), (n) => n === 9_950)
      assert.include(interrupted, "th-50")
      assert.notInclude(interrupted, "th-49")
    }).pipe(Effect.provide(interruptible(interrupted)))
  })

  it.scoped("a thread that never ends ends with its owner", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      const review = yield* supervisor.spawn(spawnOptions("review"))
      const child = yield* childOf("review")
      yield* child.emit(thread("started", "th-1", { name: "forever" }), "t1")
      const nested = yield* nodeAt(supervisor, "root/review/forever")
      yield* child.end
      const receipt = yield* review.ended
      const entry = receipt.nodes.find((node) => node.path === nested.path)!
      assert.strictEqual(entry.reason, "interrupted")
      assert.include(entry.message ?? "", "parent root/review ended")
      // a request the thread sends later is not asked
      assert.deepStrictEqual(yield* supervisor.inbox.pending, [])
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("stop of a thread's node interrupts the thread through its agent; a later request gets the default", () => {
    const interrupted: Array<string> = []
    return Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* supervisor.spawn(spawnOptions("review"))
      const child = yield* childOf("review")
      yield* child.emit(thread("started", "th-1", { name: "Galileo" }), "t1")
      const nested = yield* nodeAt(supervisor, "root/review/Galileo")
      yield* child.emit(threadExec("p1", "th-1"), "t1")
      yield* supervisor.inbox.awaitPending()
      const receipt = yield* nested.stop
      assert.deepStrictEqual(receipt.nodes.map((node) => [node.path, node.reason]), [[
        "root/review/Galileo",
        "interrupted"
      ]])
      assert.deepStrictEqual(interrupted, ["th-1"])
      yield* child.emit(threadExec("p2", "th-1"), "t1")
      assert.strictEqual(yield* answerOf(child, "p2"), "denied")
      const owner = (yield* infoOf(supervisor, "root/review"))!
      assert.strictEqual(owner.state._tag, "Running", "the owner runs on")
    }).pipe(Effect.provide(interruptible(interrupted)))
  })

  it.scoped("without a way to interrupt, stop says so, and the thread's requests get the default", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* supervisor.spawn(spawnOptions("review"))
      const child = yield* childOf("review")
      yield* child.emit(thread("started", "th-1", { name: "Galileo" }), "t1")
      const nested = yield* nodeAt(supervisor, "root/review/Galileo")
      const receipt = yield* nested.stop
      assert.include(receipt.nodes[0]!.message ?? "", "could not interrupt the thread")
      yield* child.emit(threadExec("p2", "th-1"), "t1")
      assert.strictEqual(yield* answerOf(child, "p2"), "denied")
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("maxDepth holds for threads: one deeper than it is refused and interrupted", () => {
    const interrupted: Array<string> = []
    return Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ limits: { maxDepth: 2 } })
      yield* supervisor.spawn(spawnOptions("review"))
      const child = yield* childOf("review")
      yield* child.emit(thread("started", "th-1", { name: "one" }), "t1")
      yield* child.emit(thread("started", "th-2", { name: "two", parent_thread_id: "th-1" }), "t1")
      yield* eventually("refused", infoOf(supervisor, "root/review"), (node) => node?.threadsRefused === 1)
      assert.isTrue(Option.isSome(yield* supervisor.node("root/review/one")))
      assert.isTrue(Option.isNone(yield* supervisor.node("root/review/one/two")))
      yield* eventually("interrupted", Effect.sync(() => interrupted.length), (n) => n === 1)
      assert.deepStrictEqual(interrupted, ["th-2"])
    }).pipe(Effect.provide(interruptible(interrupted)))
  })
})
