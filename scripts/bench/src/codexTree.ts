/**
 * A tree of 8 real Codex children at once under one `Supervisor` (`@deputy/core`): each a one-shot node
 * whose turn runs one command (`echo hi > out.txt`, approval policy `untrusted`, no sandbox) and answers.
 * Every approval goes through the tree's one inbox, answered at once by a loop that waits for the next
 * pending request. Measured per session:
 * - spawn-to-ready: from `supervisor.spawn` to the node's delegate being ready (Codex started, thread
 *   started), per child (p50 / max over the 8);
 * - approval latency: from the request being pending in the inbox to the child having the answer
 *   (`onSettled`), per request (p50 / max);
 * - the whole tree's wall time, until every node ended;
 * - the parent's RSS (peak while the tree runs, sampled every 20 ms) and its growth over the baseline.
 * Every node must complete, every `out.txt` must be written, and no Codex process may be left.
 */
import { CodexAgent, CodexBinary, CodexHome, ScriptedModel } from "@deputy/codex"
import { AgentSpawner, ApprovalInbox, Supervisor } from "@deputy/core"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as fs from "node:fs"
import * as path from "node:path"
import { check, median, type SectionResult, series, type Size } from "./stats.js"

const children = 8

/** Processes whose parent is this one (every Codex process must be gone after a session). */
const ownChildren = (): Array<string> =>
  fs.readdirSync("/proc").filter((entry) => {
    if (!/^\d+$/.test(entry)) return false
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return Number(fields[1]) === process.pid && fields[0] !== "Z"
    } catch {
      return false
    }
  })

const mib = (bytes: number) => bytes / (1024 * 1024)

const runSession = Effect.gen(function*() {
  const model = yield* ScriptedModel.make(ScriptedModel.scenario([
    ScriptedModel.exec("echo hi > out.txt"),
    ScriptedModel.message("Wrote out.txt.")
  ]))
  const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
  const files = yield* FileSystem.FileSystem
  const base = yield* files.makeTempDirectoryScoped({ prefix: "deputy-bench-tree-" })
  const binary = yield* CodexBinary.resolve()
  const spawner = yield* CodexAgent.make({
    binary: binary.path,
    codexHome: home.path,
    env: home.env,
    approvalPolicy: "untrusted",
    sandbox: "danger-full-access",
    ephemeral: true
  })

  const baselineRss = process.memoryUsage().rss
  let peakRss = baselineRss
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss)
  }, 20)

  const supervisor = yield* Supervisor.make({ name: "bench", drainTimeout: "5 seconds" }).pipe(
    Effect.provideService(AgentSpawner.AgentSpawner, spawner)
  )
  const approvalMs: Array<number> = []
  const pendingSince = new Map<string, number>()

  // The one inbox, answered at once: the next pending request, approved.
  const answerer = yield* Effect.fork(Effect.gen(function*() {
    for (let answered = 0; answered < children; answered++) {
      const pending = yield* supervisor.inbox.awaitPending()
      pendingSince.set(pending.request.id, pending.receivedAt)
      yield* Effect.orDie(supervisor.inbox.respond(pending.request.id, ApprovalInbox.decision("approved")))
    }
  }))

  const started = performance.now()
  const ready = yield* Effect.forEach(
    Array.from({ length: children }, (_, i) => i),
    (i) =>
      Effect.gen(function*() {
        const cwd = path.join(base, `child-${i}`)
        fs.mkdirSync(cwd)
        const asked = performance.now()
        const node = yield* Effect.orDie(supervisor.spawn({
          name: `child-${i}`,
          input: "Write hi to out.txt.",
          source: "review",
          cwd,
          onSettled: (settlement) =>
            Effect.sync(() => {
              check(settlement.outcome === "approved", `approval settled ${settlement.outcome}`)
              const since = pendingSince.get(settlement.request.id)
              check(since !== undefined, `${settlement.request.id} settled without passing the inbox`)
              approvalMs.push(Date.now() - since!)
            })
        }))
        yield* Effect.orDie(node.delegate)
        return performance.now() - asked
      }),
    { concurrency: "unbounded" }
  )
  const receipt = yield* supervisor.awaitIdle
  const treeMs = performance.now() - started
  clearInterval(sampler)
  yield* Fiber.join(answerer)

  const nodes = receipt.nodes.filter((node) => node.path !== "bench")
  check(nodes.length === children, `the receipt lists ${nodes.length} nodes, expected ${children}`)
  for (const node of nodes) check(node.reason === "completed", `${node.path} ended ${node.reason}: ${node.message}`)
  for (let i = 0; i < children; i++) {
    check(fs.existsSync(path.join(base, `child-${i}`, "out.txt")), `child-${i} did not write out.txt`)
  }
  check(approvalMs.length === children, `${approvalMs.length} approvals settled, expected ${children}`)

  return {
    spawnToReadyMsP50: median(ready),
    spawnToReadyMsMax: Math.max(...ready),
    approvalMsP50: median(approvalMs),
    approvalMsMax: Math.max(...approvalMs),
    treeMs,
    parentRssPeakMiB: mib(peakRss),
    parentRssGrowthMiB: mib(peakRss - baselineRss)
  }
}).pipe(Effect.scoped, Effect.provide(NodeContext.layer))

export const run = async (size: Size): Promise<SectionResult> => {
  const sessions = size.quick ? 1 : Math.min(size.runs, 3)
  const metrics = await series({ ...size, warmups: 0, runs: sessions }, async () => {
    const result = await Effect.runPromise(runSession)
    const left = ownChildren()
    check(left.length === 0, `processes left after the tree: ${left.join(", ")}`)
    return result
  })
  return {
    metrics,
    notes: [
      `${sessions} session(s); each ${children} real Codex children at once under one Supervisor, one command ` +
      "turn each (approval untrusted, no sandbox), every approval answered through the tree inbox"
    ]
  }
}
