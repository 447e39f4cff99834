/**
 * A thread an agent spawned itself lives across its turns: a turn's end (`turn_ended`, e.g. a Codex
 * sub-agent's `turn/completed`) leaves its node running, so a later turn of the same thread (Codex's
 * `followup_task`) asks through the tree inbox with the thread's path and chain again (not the default
 * answer). The node ends when the thread does (`ended`: Codex's `thread/closed`) or with its owner; then it
 * ends with the outcome of its last turn if it was idle, `interrupted` if a turn was in progress.
 */
import { ApprovalInbox, Supervisor, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { execRequest } from "./helpers.js"

const childOf = (node: string): Effect.Effect<TestAgent.TestAgentChild, never, TestAgent.TestAgent> =>
  Effect.flatMap(TestAgent.TestAgent, (agent) => agent.awaitChild((options) => options.config?.node === node))

const spawnReview = (supervisor: Supervisor.SupervisorService) =>
  supervisor.spawn({ name: "review", source: "review", config: { node: "review" } })

const thread = (event: string, threadId: string, extra: Record<string, unknown> = {}) =>
  ({ type: "deputy_thread", event, thread_id: threadId, ...extra }) as never

const threadExec = (callId: string, threadId: string) =>
  ({ ...execRequest(callId), deputy_thread: { id: threadId } }) as never

const answerOf = (child: TestAgent.TestAgentChild, callId: string) =>
  Effect.map(
    child.awaitSubmission((s) => s.op.type === "exec_approval" && s.op.id === callId),
    (s) => (s.op as { decision?: unknown }).decision
  )

const infoOf = (supervisor: Supervisor.SupervisorService, path: string) =>
  Effect.map(supervisor.nodes, (nodes) => nodes.find((node) => node.path === path))

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

/** Asks from the thread and answers through the tree inbox; returns the request as the inbox saw it. */
const askAndApprove = (supervisor: Supervisor.SupervisorService, child: TestAgent.TestAgentChild, callId: string) =>
  Effect.gen(function*() {
    yield* child.emit(threadExec(callId, "th-1"), "t1")
    const pending = yield* supervisor.inbox.awaitPending((p) => p.request.callId === callId)
    yield* supervisor.inbox.respond(pending.request.id, ApprovalInbox.decision("approved"))
    assert.strictEqual(yield* answerOf(child, callId), "approved", `${callId} answered by the inbox`)
    return pending.request
  })

describe("Supervisor: a thread's node lives across its turns", () => {
  it.scoped("a second turn of the thread (a follow-up task) asks through the inbox with its path and chain", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* spawnReview(supervisor)
      const child = yield* childOf("review")
      yield* child.emit(thread("started", "th-1", { name: "galileo", turn_id: "turn-1", call_id: "spawn_1" }), "t1")
      yield* eventually("node", supervisor.node("root/review/galileo"), Option.isSome)

      yield* child.emit(thread("turn_started", "th-1"), "t1")
      const first = yield* askAndApprove(supervisor, child, "c1")
      assert.strictEqual(first.path, "root/review/galileo")
      yield* child.emit(thread("turn_ended", "th-1", { reason: "completed", last_agent_message: "sub done" }), "t1")
      // the thread is idle, not gone: its node runs on and a report after the turn's end is still counted
      yield* child.emit(thread("usage", "th-1", { total_tokens: 220 }), "t1")
      yield* eventually("usage", infoOf(supervisor, "root/review/galileo"), (node) => node?.usage.tokens === 220)
      assert.deepStrictEqual((yield* infoOf(supervisor, "root/review/galileo"))!.state, { _tag: "Running" })

      yield* child.emit(thread("turn_started", "th-1"), "t1")
      const second = yield* askAndApprove(supervisor, child, "c2")
      assert.strictEqual(second.path, "root/review/galileo", "the follow-up turn's request is the thread's")
      assert.deepStrictEqual(second.chain?.map((link) => link.path), ["root/review", "root/review/galileo"])
      assert.strictEqual(second.chain?.[0]?.callId, "spawn_1")
      yield* child.emit(thread("turn_ended", "th-1", { reason: "completed", last_agent_message: "sub done 2" }), "t1")

      yield* child.emit(thread("ended", "th-1"), "t1")
      const ended = yield* eventually(
        "ended",
        infoOf(supervisor, "root/review/galileo"),
        (node) => node?.state._tag === "Ended"
      )
      assert.deepStrictEqual(ended!.state, { _tag: "Ended", reason: "completed" }, "its last turn's outcome")
      assert.strictEqual(ended!.usage.turns, 2)
      assert.strictEqual(ended!.usage.approvals, 2)
      const receipt = yield* supervisor.stop
      const entry = receipt.nodes.find((node) => node.path === "root/review/galileo")!
      assert.strictEqual(entry.lastAgentMessage, "sub done 2")
      assert.strictEqual(entry.reason, "completed")
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("an interrupted or failed turn does not end the thread's node either", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* spawnReview(supervisor)
      const child = yield* childOf("review")
      yield* child.emit(thread("started", "th-1", { name: "galileo" }), "t1")
      yield* child.emit(thread("turn_started", "th-1"), "t1")
      yield* child.emit(thread("turn_ended", "th-1", { reason: "interrupted" }), "t1")
      yield* child.emit(thread("turn_started", "th-1"), "t1")
      yield* child.emit(thread("turn_ended", "th-1", { reason: "errored" }), "t1")
      yield* child.emit(thread("turn_started", "th-1"), "t1")
      const third = yield* askAndApprove(supervisor, child, "c3")
      assert.strictEqual(third.path, "root/review/galileo")
      assert.strictEqual((yield* infoOf(supervisor, "root/review/galileo"))!.usage.turns, 3)
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("the changes stream shows no end between the thread's turns, only when it ends", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* spawnReview(supervisor)
      const child = yield* childOf("review")
      const seen: Array<string> = []
      const subscribed = yield* Deferred.make<void>()
      const done = yield* Deferred.make<void>()
      yield* supervisor.changes.pipe(
        Stream.runForEach((change) =>
          Effect.suspend(() => {
            if (change._tag === "Snapshot") return Deferred.succeed(subscribed, undefined)
            if (change._tag === "StateChanged" && change.path === "root/review/galileo") {
              seen.push(change.state._tag)
              if (change.state._tag === "Ended") return Deferred.succeed(done, undefined)
            }
            return Effect.void
          })
        ),
        Effect.forkScoped
      )
      yield* Deferred.await(subscribed)
      yield* child.emit(thread("started", "th-1", { name: "galileo" }), "t1")
      for (let n = 0; n < 2; n++) {
        yield* child.emit(thread("turn_started", "th-1"), "t1")
        yield* child.emit(thread("turn_ended", "th-1", { reason: "completed" }), "t1")
      }
      yield* child.emit(thread("ended", "th-1"), "t1")
      yield* Deferred.await(done)
      assert.deepStrictEqual(seen, ["Stopping", "Ended"], "one end, after the thread's")
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("the owner ends: an idle thread ends with its last turn's outcome, a thread mid-turn interrupted", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      const review = yield* spawnReview(supervisor)
      const child = yield* childOf("review")
      yield* child.emit(thread("started", "idle", { name: "idle" }), "t1")
      yield* child.emit(thread("turn_started", "idle"), "t1")
      yield* child.emit(thread("turn_ended", "idle", { reason: "completed", last_agent_message: "all done" }), "t1")
      yield* child.emit(thread("started", "busy", { name: "busy" }), "t1")
      yield* child.emit(thread("turn_started", "busy"), "t1")
      yield* child.emit(thread("started", "fresh", { name: "fresh" }), "t1")
      yield* eventually("three nodes", supervisor.nodes, (nodes) => nodes.length === 4)
      yield* child.end
      const receipt = yield* review.ended
      const byPath = Object.fromEntries(receipt.nodes.map((node) => [node.path, node]))
      assert.strictEqual(byPath["root/review/idle"]?.reason, "completed")
      assert.strictEqual(byPath["root/review/idle"]?.lastAgentMessage, "all done")
      assert.include(byPath["root/review/idle"]?.message ?? "", "idle")
      assert.strictEqual(byPath["root/review/busy"]?.reason, "interrupted")
      assert.include(byPath["root/review/busy"]?.message ?? "", "parent root/review ended")
      assert.strictEqual(byPath["root/review/fresh"]?.reason, "interrupted", "it never ran a turn")
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("after the thread ends, its requests get the default answer", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      yield* spawnReview(supervisor)
      const child = yield* childOf("review")
      yield* child.emit(thread("started", "th-1", { name: "galileo" }), "t1")
      yield* child.emit(thread("turn_started", "th-1"), "t1")
      yield* child.emit(thread("turn_ended", "th-1", { reason: "completed" }), "t1")
      yield* child.emit(thread("ended", "th-1"), "t1")
      yield* eventually(
        "ended",
        infoOf(supervisor, "root/review/galileo"),
        (node) => node?.state._tag === "Ended"
      )
      yield* child.emit(threadExec("late", "th-1"), "t1")
      assert.strictEqual(yield* answerOf(child, "late"), "denied")
      assert.deepStrictEqual(yield* supervisor.inbox.pending, [])
    }).pipe(Effect.provide(TestAgent.layer())))
})
