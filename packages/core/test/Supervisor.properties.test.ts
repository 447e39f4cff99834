/**
 * Property tests over random trees (depth ≤ 4, width ≤ 5) with random budgets, policies, limits, spawn
 * failures, turns, requests, answers ("not now" included), crashes and cancel points: every routed request
 * settles exactly once and its child gets exactly one answer; no session grant is used outside the node
 * it was given to; nothing an ancestor's policy denies is approved; no node goes over its turn budget by
 * more than one turn nor over its approvals budget; the receipt lists every node; every child is released.
 * Runs: DEPUTY_PROPERTY_RUNS (default 60).
 */
import { ApprovalInbox, type ApprovalRequest, Errors, Supervisor, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import { execRequest } from "./helpers.js"

const runs = Number(process.env.DEPUTY_PROPERTY_RUNS ?? 60)

interface Spec {
  readonly budget: { readonly turns?: number; readonly approvals?: number; readonly tokens?: number } | undefined
  readonly approvesRm: boolean
  readonly failSpawn: boolean
  readonly failFast: boolean
  readonly children: ReadonlyArray<Spec>
}

const budgetArb = FastCheck.option(
  FastCheck.record({
    turns: FastCheck.nat({ max: 3 }),
    approvals: FastCheck.nat({ max: 4 }),
    tokens: FastCheck.nat({ max: 300 })
  }, { requiredKeys: [] }),
  { nil: undefined }
)

const specAt = (depth: number): FastCheck.Arbitrary<Spec> =>
  FastCheck.record({
    budget: budgetArb,
    approvesRm: FastCheck.boolean(),
    failSpawn: FastCheck.integer({ min: 0, max: 9 }).map((n) => n === 0),
    failFast: FastCheck.boolean(),
    children: depth >= 4
      ? FastCheck.constant([])
      : FastCheck.array(FastCheck.oneof({ depthSize: "small" }, specAt(depth + 1)), {
        maxLength: depth === 1 ? 5 : 3,
        size: "xsmall"
      })
  })

/** The most tokens one `token_count` report adds. */
const maxReport = 100

const commands: ReadonlyArray<ReadonlyArray<string>> = [["git", "status"], ["ls"], ["rm", "-rf", "x"]]

type Step =
  | { readonly _tag: "Turn"; readonly node: number }
  | { readonly _tag: "Request"; readonly node: number; readonly command: number }
  | { readonly _tag: "Answer"; readonly decision: "approved" | "approved_for_session" | "denied" }
  | { readonly _tag: "Defer" }
  | { readonly _tag: "Crash"; readonly node: number }
  | { readonly _tag: "Tokens"; readonly node: number; readonly tokens: number }
  | { readonly _tag: "Stop"; readonly node: number }

const stepArb: FastCheck.Arbitrary<Step> = FastCheck.oneof(
  { arbitrary: FastCheck.record({ _tag: FastCheck.constant("Turn" as const), node: FastCheck.nat(40) }), weight: 3 },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Request" as const),
      node: FastCheck.nat(40),
      command: FastCheck.nat(commands.length - 1)
    }),
    weight: 5
  },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Answer" as const),
      decision: FastCheck.constantFrom("approved" as const, "approved_for_session" as const, "denied" as const)
    }),
    weight: 5
  },
  { arbitrary: FastCheck.record({ _tag: FastCheck.constant("Defer" as const) }), weight: 1 },
  { arbitrary: FastCheck.record({ _tag: FastCheck.constant("Crash" as const), node: FastCheck.nat(40) }), weight: 1 },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Tokens" as const),
      node: FastCheck.nat(40),
      tokens: FastCheck.integer({ min: 1, max: maxReport })
    }),
    weight: 2
  },
  { arbitrary: FastCheck.record({ _tag: FastCheck.constant("Stop" as const), node: FastCheck.nat(40) }), weight: 1 }
)

const scenarioArb = FastCheck.record({
  roots: FastCheck.array(specAt(1), { minLength: 1, maxLength: 5, size: "xsmall" }),
  rootBudget: budgetArb,
  maxConcurrent: FastCheck.option(FastCheck.integer({ min: 1, max: 6 }), { nil: undefined }),
  steps: FastCheck.array(stepArb, { maxLength: 60 })
})

const decisionOf = (settlement: ApprovalRequest.ApprovalSettlement): string | undefined =>
  (settlement.answer as { decision?: string }).decision

const runScenario = (scenario: typeof scenarioArb extends FastCheck.Arbitrary<infer A> ? A : never) =>
  Effect.gen(function*() {
    const agent = yield* TestAgent.TestAgent
    const settlements: Array<ApprovalRequest.ApprovalSettlement> = []
    const supervisor = yield* Supervisor.make({
      budget: scenario.rootBudget,
      limits: { maxConcurrent: scenario.maxConcurrent },
      policy: [{ kind: "command", commandPrefix: ["rm"], action: "deny" }]
    })
    const nodes: Array<Supervisor.Node> = []
    const spawnAll = (
      spawn: (options: Supervisor.SpawnNodeOptions) => Effect.Effect<Supervisor.Node, Supervisor.SpawnRefused>,
      list: ReadonlyArray<Spec>,
      prefix: string
    ): Effect.Effect<void> =>
      Effect.forEach(list, (spec, i) =>
        Effect.gen(function*() {
          const name = `n${i}`
          const node = yield* spawn({
            name,
            source: "review",
            config: { node: `${prefix}/${name}`, failSpawn: spec.failSpawn },
            budget: spec.budget,
            childFailure: spec.failFast ? "fail_fast" : "continue",
            policy: spec.approvesRm ? [{ kind: "command", commandPrefix: ["rm"], action: "approve" }] : undefined,
            onSettled: (settlement) => Effect.sync(() => void settlements.push(settlement))
          }).pipe(Effect.orDie)
          nodes.push(node)
          yield* spawnAll(node.spawn, spec.children, node.path)
        }), { discard: true })
    yield* spawnAll(supervisor.spawn, scenario.roots, supervisor.name)

    const childOf = (node: Supervisor.Node): Effect.Effect<TestAgent.TestAgentChild | undefined> =>
      Effect.map(agent.children, (children) => children.find((child) => child.spawnOptions.config?.node === node.path))
    const running = (node: Supervisor.Node) => Effect.map(node.state, (state) => state._tag === "Running")

    // what the test gave approved_for_session to, by node path and command
    const granted = new Map<string, Set<string>>()
    let callIds = 0
    const totals = new Map<string, number>()
    for (const step of scenario.steps) {
      const node = "node" in step ? nodes[step.node % nodes.length]! : undefined
      switch (step._tag) {
        case "Turn": {
          if (!(yield* running(node!))) break
          const handle = yield* node!.delegate.pipe(Effect.orDie)
          yield* Effect.ignore(handle.submit({ type: "user_input", items: [] }))
          break
        }
        case "Request": {
          const child = (yield* running(node!)) ? yield* childOf(node!) : undefined
          if (child === undefined || (yield* child.released)) break
          yield* child.emit(execRequest(`call-${callIds++}`, { command: commands[step.command] }), "turn")
          break
        }
        case "Answer": {
          const [oldest] = yield* supervisor.pendingUnder()
          if (oldest === undefined) break
          const respond = supervisor.inbox.respond(oldest.request.id, ApprovalInbox.decision(step.decision))
          const delivered = yield* respond.pipe(Effect.as(true), Effect.catchAll(() => Effect.succeed(false)))
          if (delivered && step.decision === "approved_for_session" && oldest.request.kind === "command") {
            const path = oldest.request.path!
            const set = granted.get(path) ?? new Set()
            set.add(JSON.stringify(oldest.request.event.command))
            granted.set(path, set)
          }
          break
        }
        case "Defer": {
          const [oldest] = yield* supervisor.pendingUnder()
          if (oldest !== undefined) yield* Effect.ignore(supervisor.inbox.defer(oldest.request.id))
          break
        }
        case "Tokens": {
          const child = (yield* running(node!)) ? yield* childOf(node!) : undefined
          if (child === undefined || (yield* child.released)) break
          const total = (totals.get(node!.path) ?? 0) + step.tokens
          totals.set(node!.path, total)
          const usage = { input_tokens: total, output_tokens: 0, total_tokens: total }
          yield* child.emit(
            { type: "token_count", info: { total_token_usage: usage, last_token_usage: usage } },
            "turn"
          )
          break
        }
        case "Crash": {
          const child = yield* childOf(node!)
          if (child !== undefined) yield* child.crash()
          break
        }
        case "Stop":
          yield* node!.stop
          break
      }
      yield* Effect.yieldNow()
    }
    const receipt = yield* supervisor.stop

    // the receipt lists every node, once, parents first
    assert.deepStrictEqual(receipt.nodes.map((entry) => entry.path), nodes.map((node) => node.path))
    // every routed request settled exactly once, and its child got exactly one answer
    const ids = settlements.map((settlement) => settlement.request.id)
    assert.strictEqual(new Set(ids).size, ids.length, "a request settled twice")
    for (const child of yield* agent.children) {
      const answers = (yield* child.received).filter((submission) => submission.op.type === "exec_approval")
      const answerIds = answers.map((submission) => (submission.op as { id: string }).id)
      assert.strictEqual(new Set(answerIds).size, answerIds.length, "a child got two answers for one request")
      const path = child.spawnOptions.config?.node
      const settledHere = settlements.filter((settlement) => settlement.request.path === path)
      // an answer reaches the child only through a settlement (a child that crashed misses its answer)
      const settledCalls = new Set(settledHere.map((settlement) => settlement.request.callId))
      for (const id of answerIds) assert.isTrue(settledCalls.has(id), `${path} got an answer for ${id} never settled`)
      assert.isTrue(yield* child.released, `${path}'s child was not released`)
    }
    assert.strictEqual((yield* supervisor.inbox.pending).length, 0)
    for (const settlement of settlements) {
      const request = settlement.request
      assert.strictEqual(request.chain?.[request.chain.length - 1]?.path, request.path)
      // a session grant answers only in the node it was given to, only for what was granted there
      if (
        settlement.decidedBy._tag === "Fixed" && settlement.decidedBy.setting.startsWith("approved for the session")
      ) {
        assert.strictEqual(settlement.decidedBy.setting, `approved for the session of ${request.path}`)
        assert.isTrue(
          request.kind === "command" && granted.get(request.path!)?.has(JSON.stringify(request.event.command)) === true,
          `a grant leaked into ${request.path}`
        )
      }
      // the root's policy denies rm: no node's policy approves it
      if (request.kind === "command" && request.event.command[0] === "rm") {
        assert.notInclude(["approved", "approved_for_session"], decisionOf(settlement))
      }
    }
    // budgets: turns by at most one over, approvals never over
    for (const [i, node] of nodes.entries()) {
      const entry = receipt.nodes[i]!
      const { approvals, tokens, turns } = node.budget
      if (tokens !== undefined) assert.isAtMost(entry.subtreeUsage.tokens, tokens + maxReport, `${node.path} tokens`)
      if (turns !== undefined) assert.isAtMost(entry.subtreeUsage.turns, turns + 1, `${node.path} turns`)
      if (approvals !== undefined) assert.isAtMost(entry.subtreeUsage.approvals, approvals, `${node.path} approvals`)
    }
    if (scenario.rootBudget?.approvals !== undefined) {
      assert.isAtMost(receipt.usage.approvals, scenario.rootBudget.approvals)
    }
    if (scenario.rootBudget?.turns !== undefined) assert.isAtMost(receipt.usage.turns, scenario.rootBudget.turns + 1)
  })

/** A child that starts a turn for every input, and fails to spawn when its config says so. */
const children = TestAgent.layer({
  onSpawn: (options) =>
    options.config?.failSpawn === true
      ? Effect.fail(new Errors.SpawnError({ agent: "test-agent", reason: "told to fail" }))
      : Effect.void,
  onSubmission: (submission, child) =>
    submission.op.type === "user_input" ? Effect.asVoid(child.startTurn(submission.id)) : Effect.void
})

describe("supervisor properties over random trees", () => {
  it.scoped.prop(
    "settle once, no grant leaks, policies narrow, budgets hold, receipts complete, children released",
    [scenarioArb],
    ([scenario]) => runScenario(scenario).pipe(Effect.provide(children)),
    { fastCheck: { numRuns: runs } }
  )
})
