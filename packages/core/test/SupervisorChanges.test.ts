/**
 * `SupervisorService.changes`: a snapshot, then every node added and every state change, in order;
 * nothing between the snapshot and the subscription is missed or repeated — checked with Deferred
 * handshakes and as a property over random spawn / stop schedules with subscribers joining at random
 * points.
 */
import { Errors, Supervisor, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Stream from "effect/Stream"

const runs = Number(process.env.DEPUTY_PROPERTY_RUNS ?? 60)

const stateText = (state: Supervisor.NodeState): string =>
  state._tag === "Queued" ? `Queued#${state.position}` : state._tag === "Ended" ? `Ended:${state.reason}` : state._tag

/** What a subscriber saw: the snapshot's states, then each node's states in order, folded. */
interface Seen {
  readonly snapshot: Map<string, string>
  readonly added: Array<string>
  readonly states: Map<string, Array<string>>
  readonly order: Array<string>
}

const watch = (
  supervisor: Supervisor.SupervisorService,
  onChange: (seen: Seen) => Effect.Effect<void> = () => Effect.void
) =>
  Effect.gen(function*() {
    const seen: Seen = { snapshot: new Map(), added: [], states: new Map(), order: [] }
    const subscribed = yield* Deferred.make<void>()
    yield* supervisor.changes.pipe(
      Stream.runForEach((change) =>
        Effect.suspend(() => {
          switch (change._tag) {
            case "Snapshot":
              for (const node of change.nodes) {
                seen.snapshot.set(node.path, stateText(node.state))
                seen.states.set(node.path, [stateText(node.state)])
              }
              return Effect.zipRight(Deferred.succeed(subscribed, undefined), onChange(seen))
            case "Added":
              seen.added.push(change.node.path)
              seen.order.push(`+${change.node.path}`)
              seen.states.set(change.node.path, [stateText(change.node.state)])
              return onChange(seen)
            case "StateChanged":
              seen.order.push(`${change.path}=${stateText(change.state)}`)
              seen.states.get(change.path)!.push(stateText(change.state))
              return onChange(seen)
          }
        })
      ),
      Effect.forkScoped
    )
    yield* Deferred.await(subscribed)
    return seen
  })

/** The last state each subscriber knows for every node. */
const last = (seen: Seen): Record<string, string> =>
  Object.fromEntries([...seen.states].map(([path, states]) => [path, states.at(-1)!]))

const now = (supervisor: Supervisor.SupervisorService) =>
  Effect.map(supervisor.nodes, (nodes) => Object.fromEntries(nodes.map((node) => [node.path, stateText(node.state)])))

describe("Supervisor.changes", () => {
  it.scoped("a snapshot first, then every node added and every state change, in order", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({ limits: { maxConcurrent: 1 } })
      const a = yield* supervisor.spawn({ name: "a", source: "review" })
      yield* supervisor.spawn({ name: "b", source: "review" })
      yield* a.stateChanges.pipe(Stream.takeUntil((state) => state._tag === "Running"), Stream.runDrain)
      const bRunning = yield* Deferred.make<void>()
      const seen = yield* watch(
        supervisor,
        (seen) => seen.states.get("root/b")?.at(-1) === "Running" ? Deferred.succeed(bRunning, undefined) : Effect.void
      )
      assert.deepStrictEqual(Object.fromEntries(seen.snapshot), { "root/a": "Running", "root/b": "Queued#0" })
      // a nested node, queued behind b; then a stops (its child too, still queued), and b starts
      yield* a.spawn({ name: "c", source: "review" })
      yield* a.stop
      yield* Deferred.await(bRunning)
      assert.deepStrictEqual(seen.added, ["root/a/c"])
      assert.deepStrictEqual(seen.states.get("root/a"), ["Running", "Stopping", "Ended:interrupted"])
      // a queued node that is stopped never starts: it leaves the queue and ends
      assert.deepStrictEqual(seen.states.get("root/a/c"), ["Queued#1", "Ended:spawn_failed"])
      assert.deepStrictEqual(seen.states.get("root/b"), ["Queued#0", "Starting", "Running"])
      // the order across nodes: c is added before anything stops; a reads Stopping first (the stop asked)
      assert.deepStrictEqual(seen.order.slice(0, 2), ["+root/a/c", "root/a=Stopping"])
      assert.deepStrictEqual(last(seen), yield* now(supervisor))
    }).pipe(Effect.provide(TestAgent.layer())))

  it.scoped("a subscriber joining while a node changes state neither misses nor repeats a change", () =>
    Effect.gen(function*() {
      const supervisor = yield* Supervisor.make()
      const early = yield* watch(supervisor)
      const a = yield* supervisor.spawn({ name: "a", source: "review" })
      // join between the node's registration and its start: the snapshot says Starting, the rest follows
      const late = yield* watch(supervisor)
      yield* a.stateChanges.pipe(Stream.takeUntil((state) => state._tag === "Running"), Stream.runDrain)
      yield* a.stop
      yield* Effect.yieldNow()
      assert.deepStrictEqual(early.states.get("root/a"), ["Starting", "Running", "Stopping", "Ended:interrupted"])
      const lateStates = late.states.get("root/a")!
      // the late one's states are the early one's from its snapshot's state on
      const early$ = early.states.get("root/a")!
      assert.deepStrictEqual(lateStates, early$.slice(early$.indexOf(lateStates[0]!)))
    }).pipe(Effect.provide(TestAgent.layer())))
})

type Step =
  | { readonly _tag: "Spawn"; readonly under: number; readonly fail: boolean }
  | { readonly _tag: "Stop"; readonly node: number }
  | { readonly _tag: "Subscribe" }
  | { readonly _tag: "Yield"; readonly times: number }

const stepArb: FastCheck.Arbitrary<Step> = FastCheck.oneof(
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Spawn" as const),
      under: FastCheck.nat(20),
      fail: FastCheck.integer({ min: 0, max: 5 }).map((n) => n === 0)
    }),
    weight: 5
  },
  { arbitrary: FastCheck.record({ _tag: FastCheck.constant("Stop" as const), node: FastCheck.nat(20) }), weight: 2 },
  { arbitrary: FastCheck.record({ _tag: FastCheck.constant("Subscribe" as const) }), weight: 2 },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Yield" as const),
      times: FastCheck.integer({ min: 1, max: 4 })
    }),
    weight: 2
  }
)

const scenarioArb = FastCheck.record({
  maxConcurrent: FastCheck.option(FastCheck.integer({ min: 1, max: 3 }), { nil: undefined }),
  steps: FastCheck.array(stepArb, { maxLength: 40 })
})

const children = TestAgent.layer({
  onSpawn: (options) =>
    options.config?.fail === true
      ? Effect.fail(new Errors.SpawnError({ agent: "test-agent", reason: "told to fail" }))
      : Effect.void
})

describe("Supervisor.changes over random schedules", () => {
  it.scoped.prop(
    "every subscriber ends with the tree as it is; a late one sees the early one's changes from its snapshot on",
    [scenarioArb],
    ([scenario]) =>
      Effect.gen(function*() {
        const supervisor = yield* Supervisor.make({ limits: { maxConcurrent: scenario.maxConcurrent } })
        const first = yield* watch(supervisor)
        const watchers: Array<Seen> = [first]
        const nodes: Array<Supervisor.Node> = []
        let names = 0
        for (const step of scenario.steps) {
          switch (step._tag) {
            case "Spawn": {
              const spawn = nodes.length === 0 || step.under % 3 === 0
                ? supervisor.spawn
                : nodes[step.under % nodes.length]!.spawn
              const node = yield* Effect.option(
                spawn({ name: `n${names++}`, source: "review", config: { fail: step.fail } })
              )
              if (node._tag === "Some") nodes.push(node.value)
              break
            }
            case "Stop":
              if (nodes.length > 0) yield* Effect.fork(nodes[step.node % nodes.length]!.stop)
              break
            case "Subscribe":
              watchers.push(yield* watch(supervisor))
              break
            case "Yield":
              for (let i = 0; i < step.times; i++) yield* Effect.yieldNow()
          }
        }
        yield* supervisor.stop
        const expected = yield* now(supervisor)
        // the subscribers are fibers: let them read what is published (bounded)
        for (
          let i = 0;
          i < 1000 && !watchers.every((seen) => JSON.stringify(last(seen)) === JSON.stringify(expected));
          i++
        ) {
          yield* Effect.yieldNow()
        }
        for (const seen of watchers) {
          assert.deepStrictEqual(last(seen), expected)
          // a node is added once and only if the snapshot did not have it
          for (const path of seen.added) assert.isFalse(seen.snapshot.has(path), `${path} added twice`)
          assert.strictEqual(new Set(seen.added).size, seen.added.length)
          // no state announced twice in a row
          for (const [path, states] of seen.states) {
            for (let i = 1; i < states.length; i++) assert.notStrictEqual(states[i], states[i - 1], path)
            assert.match(states.at(-1)!, /^Ended/)
          }
          // the same changes as the first subscriber, from this one's snapshot on
          for (const [path, states] of seen.states) {
            const all = first.states.get(path)!
            assert.deepStrictEqual(states.slice(1), all.slice(all.length - states.length + 1), path)
          }
          assert.deepStrictEqual(seen.order, first.order.slice(first.order.length - seen.order.length))
        }
      }).pipe(Effect.provide(children)),
    { fastCheck: { numRuns: runs } }
  )
})
