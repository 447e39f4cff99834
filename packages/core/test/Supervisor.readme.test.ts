/**
 * A tree of three reviews under one budget and one inbox, as a user would write it (the README's
 * "Run many sub-agents" example runs real processes: packages/cli/test/TreeReadme.test.ts). The children
 * are TestAgents that ask to run a command in their turn.
 */
import { ApprovalInbox, ApprovalRequest, Supervisor, TestAgent } from "@deputy/core"
import { assert, it } from "@effect/vitest"
import { Console, Effect, Stream } from "effect"

// Three reviews, two at a time, under one budget; every request comes to one inbox with who asks.
export const reviews = Effect.gen(function*() {
  const tree = yield* Supervisor.make({
    limits: { maxConcurrent: 2 },
    budget: { turns: 10, wallTime: "10 minutes" },
    policy: [{ kind: "command", commandPrefix: ["rm"], action: "deny" }]
  })
  for (const name of ["api", "ui", "docs"]) {
    yield* tree.spawn({ name, source: "review", input: `review the ${name} changes` })
  }
  yield* tree.pendingChanges().pipe( // one inbox: answer (here: approve) and say who asked
    Stream.flatMap((pending) => Stream.fromIterable(pending)),
    Stream.runForEach(({ request }) =>
      tree.inbox.respond(request.id, ApprovalInbox.decision("approved")).pipe(
        Effect.zipRight(Console.log(`${request.path} asked to ${ApprovalRequest.describe(request)}: approved`)),
        Effect.ignore // already answered
      )
    ),
    Effect.forkScoped
  )
  const receipt = yield* tree.awaitIdle // or tree.stop: every node, its end, usage and pids
  for (const node of receipt.nodes) yield* Console.log(`${node.path}: ${node.reason}, ${node.usage.turns} turn(s)`)
  return receipt
})

const children = TestAgent.layer({
  onSubmission: (submission, child) =>
    submission.op.type === "user_input"
      ? Effect.zipRight(
        child.startTurn(submission.id),
        child.emit({ type: "exec_approval_request", call_id: "c1", command: ["npm", "test"], cwd: "/repo" })
      )
      : submission.op.type === "exec_approval"
      ? child.completeTurn("looks good")
      : Effect.void
})

it.scoped("README: run many sub-agents", () =>
  Effect.gen(function*() {
    const receipt = yield* reviews
    assert.deepStrictEqual(receipt.nodes.map((node) => [node.path, node.reason]), [
      ["root/api", "completed"],
      ["root/ui", "completed"],
      ["root/docs", "completed"]
    ])
    assert.deepStrictEqual(receipt.nodes.map((node) => node.lastAgentMessage), [
      "looks good",
      "looks good",
      "looks good"
    ])
    assert.strictEqual(receipt.usage.turns, 3)
    assert.strictEqual(receipt.usage.approvals, 3)
  }).pipe(Effect.provide(children)))
