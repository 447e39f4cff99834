/**
 * The supervised tree. (1) Approval round trip through the tree inbox with 1,000 delegates alive in one
 * tree (10 parents × 99 children + the 10 parents), one request at a time, each from the next node in
 * turn, answered by a fiber that follows the inbox's `changes` — against the same round trip through one
 * bare delegate and an `ApprovalInbox` (the `approval` section's "inbox + fiber"). (2) Admission overhead:
 * starting 1,000 nodes through `Supervisor.spawn` (until every delegate has started) against 1,000 bare
 * `Delegate.interactive` in one scope. Children are `BenchAgents` children, so both ends are timed exactly.
 */
import { ApprovalInbox, Delegate, Supervisor } from "@deputy/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { approvalRoundTrips, BenchAgents, type BenchChild } from "./benchAgent.js"
import { check, gc, median, percentile, type SectionResult, series, type Size } from "./stats.js"

/** Approves whatever shows up in the inbox. */
const respondAll = (inbox: ApprovalInbox.ApprovalInboxService) =>
  inbox.changes.pipe(
    Stream.runForEach((pending) =>
      Effect.forEach(
        pending,
        (entry) => Effect.ignore(inbox.respond(entry.request.id, ApprovalInbox.decision("approved"))),
        { discard: true }
      )
    ),
    Effect.forkScoped
  )

/** `count` sequential round trips, the i-th asked by `children[i % children.length]`; latencies in µs. */
const roundTrips = (agents: BenchAgents, children: ReadonlyArray<BenchChild>, count: number, run: number) =>
  approvalRoundTrips(agents, (i) => children[i % children.length]!, count, run)

const parents = 10
const perParent = 99

/** A tree of 1,000 live delegates; returns its children in spawn order. */
const buildTree = (agents: BenchAgents, supervisor: Supervisor.SupervisorService) =>
  Effect.gen(function*() {
    const children: Array<BenchChild> = []
    const started = (node: Supervisor.Node) =>
      Effect.map(Effect.orDie(node.delegate), () => void children.push(agents.latest!))
    for (let p = 0; p < parents; p++) {
      const parent = yield* Effect.orDie(supervisor.spawn({ name: `p${p}`, source: "review" }))
      yield* started(parent)
      for (let c = 0; c < perParent; c++) {
        yield* started(yield* Effect.orDie(parent.spawn({ name: `c${c}`, source: "review" })))
      }
    }
    return children
  })

const treeRoundTrips = (count: number, run: number) => {
  const agents = new BenchAgents()
  return Effect.gen(function*() {
    const supervisor = yield* Supervisor.make()
    const children = yield* buildTree(agents, supervisor)
    check(children.length === parents * (perParent + 1), `the tree has ${children.length} nodes`)
    yield* respondAll(supervisor.inbox)
    return yield* roundTrips(agents, children, count, run)
  }).pipe(Effect.scoped, Effect.provide(agents.layer))
}

const singleRoundTrips = (count: number, run: number) => {
  const agents = new BenchAgents()
  return Effect.gen(function*() {
    yield* Delegate.interactive({ source: "review" })
    yield* respondAll(yield* ApprovalInbox.ApprovalInbox)
    return yield* roundTrips(agents, [agents.latest!], count, run)
  }).pipe(Effect.scoped, Effect.provide(Layer.merge(agents.layer, ApprovalInbox.layer)))
}

/** Wall and CPU (user + system) time per item since `begin` / `cpu`, in µs. */
const timing = (begin: number, cpu: NodeJS.CpuUsage, count: number) => {
  const used = process.cpuUsage(cpu)
  return { wallUs: ((performance.now() - begin) * 1000) / count, cpuUs: (used.user + used.system) / count }
}

/**
 * Starts `count` root-level nodes, one after the other (each until its delegate has started, as the bare
 * baseline does) or all at once (then waits for every delegate); µs per spawn.
 */
const supervisedSpawns = (count: number, together: boolean) => {
  const agents = new BenchAgents()
  return Effect.gen(function*() {
    const supervisor = yield* Supervisor.make()
    const begin = performance.now()
    const cpu = process.cpuUsage()
    const nodes: Array<Supervisor.Node> = []
    for (let i = 0; i < count; i++) {
      const node = yield* Effect.orDie(supervisor.spawn({ name: `n${i}`, source: "review" }))
      if (together) nodes.push(node)
      else yield* Effect.orDie(node.delegate)
    }
    yield* Effect.forEach(nodes, (node) => Effect.orDie(node.delegate), { discard: true })
    return timing(begin, cpu, count)
  }).pipe(Effect.scoped, Effect.provide(agents.layer))
}

/** Starts `count` bare interactive delegates in one scope; µs per spawn. */
const bareSpawns = (count: number) => {
  const agents = new BenchAgents()
  return Effect.gen(function*() {
    const begin = performance.now()
    const cpu = process.cpuUsage()
    for (let i = 0; i < count; i++) yield* Delegate.interactive({ source: "review" })
    return timing(begin, cpu, count)
  }).pipe(Effect.scoped, Effect.provide(Layer.merge(agents.layer, ApprovalInbox.layer)))
}

export const run = async (size: Size): Promise<SectionResult> => {
  const count = size.quick ? 500 : 10000
  const spawns = size.quick ? 200 : 1000
  const metrics = await series(size, async (run) => {
    gc()
    const single = await Effect.runPromise(singleRoundTrips(count, run))
    gc()
    const tree = await Effect.runPromise(treeRoundTrips(count, run))
    gc()
    const bare = await Effect.runPromise(bareSpawns(spawns))
    gc()
    const supervised = await Effect.runPromise(supervisedSpawns(spawns, false))
    gc()
    const together = await Effect.runPromise(supervisedSpawns(spawns, true))
    const singleP99 = percentile(single, 99)
    const treeP99 = percentile(tree, 99)
    return {
      treeP50Us: percentile(tree, 50),
      treeP99Us: treeP99,
      singleP50Us: percentile(single, 50),
      singleP99Us: singleP99,
      p99Ratio: treeP99 / singleP99,
      spawnUs: supervised.wallUs,
      bareSpawnUs: bare.wallUs,
      spawnOverheadUs: supervised.wallUs - bare.wallUs,
      spawnCpuUs: supervised.cpuUs,
      bareSpawnCpuUs: bare.cpuUs,
      spawnTogetherUs: together.wallUs,
      spawnTogetherCpuUs: together.cpuUs
    }
  })
  const med = (key: string) => median(metrics[key]!)
  return {
    metrics,
    notes: [
      `${count} sequential round trips per run through the tree inbox of 1,000 live delegates (10 × 99 + 10), ` +
      `each from the next node, vs one bare delegate + ApprovalInbox; p50/p99 within each run`,
      `round trip p50 ${med("treeP50Us").toFixed(1)} µs (single ${med("singleP50Us").toFixed(1)}), ` +
      `p99 ${med("treeP99Us").toFixed(1)} µs (single ${med("singleP99Us").toFixed(1)}): ` +
      `p99 ratio ${med("p99Ratio").toFixed(2)} (target ≤ 2)`,
      `admission, ${spawns} spawns one after the other: wall ${med("spawnUs").toFixed(0)} µs per supervised ` +
      `spawn vs ${med("bareSpawnUs").toFixed(0)} µs per bare Delegate.interactive (ratio ` +
      `${(med("spawnUs") / med("bareSpawnUs")).toFixed(2)}); CPU ${med("spawnCpuUs").toFixed(0)} vs ` +
      `${med("bareSpawnCpuUs").toFixed(0)} µs (ratio ${(med("spawnCpuUs") / med("bareSpawnCpuUs")).toFixed(2)})`,
      `admission, all ${spawns} spawned at once: wall ${med("spawnTogetherUs").toFixed(0)} µs, CPU ` +
      `${med("spawnTogetherCpuUs").toFixed(0)} µs per node`
    ]
  }
}
