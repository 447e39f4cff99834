import { Agent, AgentSpawner, type ApprovalRequest, Approvals, DecidedBy } from "@deputy/core"
import type { Event, Submission } from "@deputy/protocol"
import * as Terminal from "@effect/platform/Terminal"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Session from "../src/internal/Session.js"
import type * as JsonOutput from "../src/JsonOutput.js"
import { Output } from "../src/Output.js"
import * as Render from "../src/Render.js"
import * as RecordingOutput from "./utils/RecordingOutput.js"

/**
 * A spawner whose children act on their prompt: `ok` completes, `fail` aborts its turn, `wait:KEY`
 * completes once the test opens the gate KEY, `failafter:KEY` aborts then, `ask` asks to run `echo NAME` and completes with the
 * decision. It counts the children alive at once (spawn to scope close), and records the order of spawns.
 */
const makeSpawner = Effect.gen(function*() {
  const gates = new Map<string, Deferred.Deferred<void>>()
  const gate = (key: string) =>
    Effect.suspend(() => {
      const existing = gates.get(key)
      if (existing !== undefined) return Effect.succeed(existing)
      return Effect.tap(Deferred.make<void>(), (made) => Effect.sync(() => gates.set(key, made)))
    })
  let alive = 0
  let maxAlive = 0
  const prompts: Array<string> = []
  const aliveChanged = yield* Effect.sync(() => new Set<() => void>())
  const notify = () => {
    for (const wake of aliveChanged) wake()
  }
  /** Waits until `n` prompts were received. */
  const awaitPrompts = (n: number) =>
    Effect.async<void>((resume) => {
      const check = () => {
        if (prompts.length >= n) {
          aliveChanged.delete(check)
          resume(Effect.void)
        }
      }
      aliveChanged.add(check)
      check()
      return Effect.sync(() => aliveChanged.delete(check))
    })

  const spawner = AgentSpawner.AgentSpawner.of({
    spawn: () =>
      Effect.gen(function*() {
        const scope = yield* Scope.Scope
        alive++
        maxAlive = Math.max(maxAlive, alive)
        yield* Scope.addFinalizer(scope, Effect.sync(() => void alive--))
        const events = yield* Mailbox.make<Event.Event, never>()
        const answers = yield* Mailbox.make<Submission.Submission>()
        const emit = (id: string, msg: Event.Event["msg"]) => events.offer({ id, msg })
        const act = (id: string, text: string) =>
          Effect.gen(function*() {
            yield* emit(id, { type: "task_started", turn_id: id })
            if (text.startsWith("failafter:")) yield* Deferred.await(yield* gate(text.slice(10)))
            if (text === "fail" || text.startsWith("failafter:")) {
              return yield* emit(id, { type: "turn_aborted", turn_id: id, reason: "interrupted" })
            }
            if (text.startsWith("wait:")) yield* Deferred.await(yield* gate(text.slice(5)))
            let said = `done: ${text}`
            if (text.startsWith("ask:")) {
              yield* emit(id, {
                type: "exec_approval_request",
                call_id: "call-1",
                turn_id: id,
                command: ["echo", text.slice(4)],
                cwd: "/repo"
              })
              const answer = yield* answers.take
              said = `decision: ${JSON.stringify((answer.op as { decision?: unknown }).decision)}`
            }
            yield* emit(id, { type: "agent_message", message: said })
            yield* emit(id, { type: "task_complete", turn_id: id, last_agent_message: said })
          })
        return yield* Agent.make({
          name: "tree-test",
          events,
          submitWithId: (submission) =>
            Effect.gen(function*() {
              const op = submission.op
              if (op.type === "user_input") {
                const text = (op.items as ReadonlyArray<{ readonly text?: string }>).map((item) => item.text ?? "")
                  .join("")
                prompts.push(text)
                notify()
                yield* Effect.forkIn(Effect.orDie(act(submission.id, text)), scope)
              } else if (op.type === "exec_approval") {
                yield* answers.offer(submission)
              } else if (op.type === "shutdown" || op.type === "interrupt") {
                yield* emit(submission.id, { type: "shutdown_complete" })
                yield* events.end
              }
            })
        })
      })
  })
  return {
    spawner,
    open: (key: string) => Effect.flatMap(gate(key), (made) => Deferred.succeed(made, undefined)),
    awaitPrompts,
    prompts: () => [...prompts],
    alive: () => alive,
    maxAlive: () => maxAlive
  }
})

/** Approvals that approve every command and record what they were asked, with the chain. */
const recordingApprovals = (asked: Array<ApprovalRequest.ApprovalRequest>) =>
  Approvals.Approvals.of({
    command: (request) =>
      Effect.sync(() => {
        asked.push(request)
        return DecidedBy.decided("approved" as const, { _tag: "Fixed", setting: "test" })
      }),
    patch: () => Effect.succeed(DecidedBy.decided("denied" as const, { _tag: "Fixed", setting: "test" })),
    permissions: () => Effect.succeed(DecidedBy.decided(Option.none(), { _tag: "Fixed", setting: "test" })),
    userInput: () => Effect.succeed(DecidedBy.decided(Option.none(), { _tag: "Fixed", setting: "test" }))
  })

const noTerminal = Terminal.Terminal.of({
  columns: Effect.succeed(80),
  isTTY: Effect.succeed(false),
  readInput: Effect.die("no terminal"),
  readLine: Effect.die("no terminal"),
  display: () => Effect.void
} as unknown as Terminal.Terminal)

const setup = { mode: "approve", defaulted: false, rules: [] } as const

const runTree = (
  spawner: AgentSpawner.AgentSpawner["Type"],
  tasks: ReadonlyArray<readonly [string, string]>,
  options: { readonly maxConcurrent?: number; readonly failFast?: boolean; readonly json?: boolean } = {},
  asked: Array<ApprovalRequest.ApprovalRequest> = []
) =>
  Effect.gen(function*() {
    const recorded = yield* RecordingOutput.make()
    const fiber = yield* Effect.fork(
      Session.runTasks({
        tasks: tasks.map(([name, prompt]) => ({ name, prompt })),
        cwd: "/repo",
        source: { other: "test" },
        approvals: setup,
        maxConcurrent: options.maxConcurrent,
        failFast: options.failFast,
        json: options.json ?? false,
        drainTimeout: undefined
      }).pipe(
        Effect.provide(Layer.mergeAll(
          Layer.succeed(AgentSpawner.AgentSpawner, spawner),
          Layer.succeed(Approvals.Approvals, recordingApprovals(asked)),
          Layer.succeed(Output, recorded.output),
          Layer.succeed(Terminal.Terminal, noTerminal)
        ))
      )
    )
    return { fiber, stdout: recorded.stdout }
  })

const reasons = (receipt: JsonOutput.ReceiptRecord) =>
  Object.fromEntries(receipt.nodes.map((node) => [node.node, node.reason]))

describe("Session.runTasks: siblings under one root", () => {
  it.scopedLive("at most --max-concurrent at once, started in order; the others wait; every node in the receipt", () =>
    Effect.gen(function*() {
      const agents = yield* makeSpawner
      const tasks = ["a", "b", "c", "d"].map((name) => [name, `wait:${name}`] as const)
      const { fiber, stdout } = yield* runTree(agents.spawner, tasks, { maxConcurrent: 2 })
      yield* agents.awaitPrompts(2)
      assert.deepStrictEqual(agents.prompts(), ["wait:a", "wait:b"])
      yield* agents.open("b")
      yield* agents.awaitPrompts(3)
      assert.deepStrictEqual(agents.prompts(), ["wait:a", "wait:b", "wait:c"], "c takes b's slot; d still waits")
      assert.isAtMost(agents.alive(), 2)
      yield* agents.open("a")
      yield* agents.open("c")
      yield* agents.open("d")
      const outcome = yield* Fiber.join(fiber)
      assert.strictEqual(agents.maxAlive(), 2)
      assert.strictEqual(outcome.exitCode, 0)
      assert.strictEqual(outcome.receipt.stopped, "completed")
      assert.deepStrictEqual(outcome.receipt.nodes.map((node) => node.node), ["root/a", "root/b", "root/c", "root/d"])
      assert.deepStrictEqual(outcome.receipt.nodes.map((node) => node.last_agent_message), [
        "done: wait:a",
        "done: wait:b",
        "done: wait:c",
        "done: wait:d"
      ])
      const text = stdout()
      assert.include(text, "a │ ● done: wait:a\n")
      assert.include(
        text,
        "c │ ⋯ queued: waits for a slot (1 in line, 2 at once)\nd │ ⋯ queued: waits for a slot (2 in line"
      )
      assert.match(text, /c │ ▸ started \(waited \d+m?s for a slot\)/)
      assert.include(text, "d │ ✔ completed")
      assert.include(text, "── receipt: 4 tasks · every task completed")
    }))

  it.scopedLive("a failure does not stop the siblings by default; the exit code says a task failed", () =>
    Effect.gen(function*() {
      const agents = yield* makeSpawner
      const { fiber, stdout } = yield* runTree(agents.spawner, [["a", "ok"], ["b", "fail"], ["c", "ok"]])
      const outcome = yield* Fiber.join(fiber)
      assert.include(stdout(), "── receipt: 3 tasks · 1 of 3 did not complete")
      assert.deepStrictEqual(reasons(outcome.receipt), {
        "root/a": "completed",
        "root/b": "aborted",
        "root/c": "completed"
      })
      assert.strictEqual(outcome.receipt.stopped, "completed")
      assert.strictEqual(outcome.exitCode, 1)
    }))

  it.scopedLive("--fail-fast: a failure stops the running siblings (interrupted); the queued ones never start", () =>
    Effect.gen(function*() {
      const agents = yield* makeSpawner
      const { fiber, stdout } = yield* runTree(
        agents.spawner,
        [["a", "wait:a"], ["b", "failafter:b"], ["c", "ok"]],
        { maxConcurrent: 2, failFast: true }
      )
      yield* agents.awaitPrompts(2)
      yield* agents.open("b")
      const outcome = yield* Fiber.join(fiber)
      assert.deepStrictEqual(reasons(outcome.receipt), {
        "root/a": "interrupted",
        "root/b": "aborted",
        "root/c": "not_started"
      })
      assert.strictEqual(outcome.receipt.stopped, "failed_fast")
      assert.strictEqual(outcome.exitCode, 1)
      assert.strictEqual(agents.alive(), 0, "every child was stopped")
      assert.include(stdout(), "stopped after a failure (--fail-fast)")
      assert.include(stdout(), "c │ · not started")
    }))

  it.scopedLive("interrupted (Ctrl-C): the running nodes are stopped and reported, then the receipt, before the end", () =>
    Effect.gen(function*() {
      const agents = yield* makeSpawner
      const { fiber, stdout } = yield* runTree(
        agents.spawner,
        [["a", "wait:a"], ["b", "wait:b"], ["c", "ok"]],
        { maxConcurrent: 2, json: true }
      )
      yield* agents.awaitPrompts(2)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(agents.alive(), 0)
      const lines = stdout().trim().split("\n").map((line) => JSON.parse(line))
      assert.deepStrictEqual(lines[0], { deputy: "queued", node: "root/c", position: 1, max_concurrent: 2 })
      const last = lines.at(-1)
      assert.strictEqual(last.deputy, "receipt")
      assert.strictEqual(last.stopped, "interrupted")
      assert.deepStrictEqual(last.nodes.map((node: { reason: string }) => node.reason), [
        "interrupted",
        "interrupted",
        "not_started"
      ])
      const ended = lines.filter((line) => line.deputy === "ended").map((line) => line.node).sort()
      assert.deepStrictEqual(ended, ["root/a", "root/b"])
      for (const line of lines) assert.isString(line.node ?? (line.deputy === "receipt" ? "" : undefined))
    }))

  it.scopedLive("one inbox: each request carries the asking node's path and chain; the prompt says who asks", () =>
    Effect.gen(function*() {
      const agents = yield* makeSpawner
      const asked: Array<ApprovalRequest.ApprovalRequest> = []
      const { fiber, stdout } = yield* runTree(agents.spawner, [["review", "ask:review"], ["tests", "ask:tests"]], {
        json: true
      }, asked)
      const outcome = yield* Fiber.join(fiber)
      assert.strictEqual(outcome.exitCode, 0)
      const byPath = Object.fromEntries(asked.map((request) => [request.path, request]))
      assert.deepStrictEqual(Object.keys(byPath).sort(), ["root/review", "root/tests"])
      const review = byPath["root/review"]!
      // The chain ends with the asking node (the supervisor leaves the root out of it).
      assert.strictEqual(review.chain?.at(-1)?.path, "root/review")
      assert.strictEqual(review.chain?.at(-1)?.delegateId, review.delegateId)
      assert.deepStrictEqual((review as ApprovalRequest.CommandApproval).event.command, ["echo", "review"])
      assert.strictEqual(Render.whoAsks(review), "review asks")
      const approvals = stdout().trim().split("\n").map((line) => JSON.parse(line)).filter((line) =>
        line.deputy === "approval"
      )
      assert.deepStrictEqual(approvals.map((line) => line.node).sort(), ["root/review", "root/tests"])
      assert.deepStrictEqual(outcome.receipt.nodes.map((node) => node.last_agent_message), [
        "decision: \"approved\"",
        "decision: \"approved\""
      ])
    }))

  it.scopedLive.prop(
    "property: any tasks, limit and failures: never over the limit, every node once in order, every request settled once",
    {
      kinds: FastCheck.array(FastCheck.constantFrom("ok", "fail", "ask"), { minLength: 1, maxLength: 8 }),
      limit: FastCheck.integer({ min: 1, max: 4 }),
      failFast: FastCheck.boolean()
    },
    ({ failFast, kinds, limit }) =>
      Effect.gen(function*() {
        const agents = yield* makeSpawner
        const asked: Array<ApprovalRequest.ApprovalRequest> = []
        const tasks = kinds.map((kind, index) => [`t${index}`, kind === "ask" ? `ask:t${index}` : kind] as const)
        const { fiber, stdout } = yield* runTree(
          agents.spawner,
          tasks,
          { maxConcurrent: limit, failFast, json: true },
          asked
        )
        const outcome = yield* Fiber.join(fiber)
        const fails = kinds.map((kind) => kind === "fail")
        assert.isAtMost(agents.maxAlive(), limit)
        assert.strictEqual(agents.alive(), 0)
        assert.deepStrictEqual(
          outcome.receipt.nodes.map((node) => node.node),
          tasks.map(([name]) => `root/${name}`)
        )
        assert.strictEqual(outcome.exitCode, fails.some((fail) => fail) ? 1 : 0)
        for (const [index, node] of outcome.receipt.nodes.entries()) {
          if (!failFast) assert.strictEqual(node.reason, fails[index] ? "aborted" : "completed")
          else {
            const possible = fails[index]
              ? ["aborted", "interrupted", "not_started"]
              : ["completed", "interrupted", "not_started"]
            assert.include(possible, node.reason)
          }
        }
        if (failFast && fails.some((fail) => fail)) {
          assert.strictEqual(outcome.receipt.stopped, "failed_fast")
          assert.isTrue(outcome.receipt.nodes.some((node) => node.reason === "aborted"))
        } else {
          assert.strictEqual(outcome.receipt.stopped, "completed")
        }
        // Every request asked was settled exactly once, by the node that asked it. A request that came while
        // fail_fast stopped its node was never asked: it settles `aborted` (cancelled) at once, and only then.
        const settled = stdout().trim().split("\n").map((line) => JSON.parse(line)).filter((line) =>
          line.deputy === "approval"
        )
        const ids = settled.map((line) => line.id)
        assert.strictEqual(new Set(ids).size, ids.length, "a request settled twice")
        const askedIds = asked.map((request) => request.id)
        for (const id of askedIds) assert.include(ids, id, "a request asked was never settled")
        for (const line of settled.filter((line) => !askedIds.includes(line.id))) {
          assert.isTrue(failFast, `settled without being asked: ${JSON.stringify(line)}`)
          assert.strictEqual(line.outcome, "aborted")
          assert.strictEqual(line.decided_by._tag, "Cancelled")
        }
        for (const line of settled) {
          const request = asked.find((request) => request.id === line.id)
          if (request !== undefined) assert.strictEqual(line.node, request.path)
        }
        if (!failFast) assert.strictEqual(asked.length, kinds.filter((kind) => kind === "ask").length)
      }),
    { fastCheck: { numRuns: 25 } }
  )
})
