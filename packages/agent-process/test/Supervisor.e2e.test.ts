/**
 * A supervised tree of real process agents (test/fixtures/hostile-agent.mjs): two siblings and one nested
 * child, one of them ignoring SIGTERM with grandchildren that do too. Stopping the tree ends every
 * process, and the receipt lists each node with the pids its stop ended.
 */
import { ProcessAgent } from "@deputy/agent-process"
import { Delegate, Supervisor } from "@deputy/core"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { fileURLToPath } from "node:url"
import { isRunning } from "./utils.js"

const fixture = fileURLToPath(new URL("./fixtures/hostile-agent.mjs", import.meta.url))
const started: Array<number> = []

afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone
    }
  }
})

/** Runs the node's first turn and returns the pids it reported (its own and its grandchildren's). */
const firstTurn = (node: Supervisor.Node) =>
  Effect.gen(function*() {
    const handle = yield* Effect.orDie(node.delegate)
    yield* Effect.orDie(handle.submit({ type: "user_input", items: [{ type: "text", text: "go", text_elements: [] }] }))
    const events = yield* Effect.orDie(Delegate.readUntil(handle, (event) => event.msg.type === "task_complete"))
    const pids = events.flatMap((event) => {
      const pid = (event.msg as { readonly pid?: unknown }).pid
      return event.msg.type === "hostile_pid" && typeof pid === "number" ? [pid] : []
    })
    started.push(...pids)
    return pids
  })

describe("Supervisor over real processes", () => {
  it.scopedLive(
    "stopping the tree ends every process of every node; the receipt names their pids",
    () =>
      Effect.gen(function*() {
        const supervisor = yield* Supervisor.make({ drainTimeout: "1 second" })
        const a = yield* supervisor.spawn({ name: "a", source: "review", config: { env: { HOSTILE: "" } } })
        const b = yield* supervisor.spawn({
          name: "b",
          source: "review",
          config: { env: { HOSTILE: "detached,ignore-term" } }
        })
        const b1 = yield* b.spawn({ name: "b1", source: "review", config: { env: { HOSTILE: "setsid" } } })
        const reported = yield* Effect.all([firstTurn(a), firstTurn(b), firstTurn(b1)], { concurrency: "unbounded" })
        for (const pids of reported) assert.isAbove(pids.length, 0)
        assert.isTrue(reported.flat().every(isRunning))
        const begin = Date.now()
        const receipt = yield* supervisor.stop
        const took = Date.now() - begin
        assert.deepStrictEqual(receipt.nodes.map((node) => node.path), ["root/a", "root/b", "root/b/b1"])
        const survivors = reported.flat().filter(isRunning)
        assert.deepStrictEqual(survivors, [], "processes outlived the tree")
        // each node's receipt names every process of its tree: its own and its grandchildren
        receipt.nodes.forEach((node, i) => {
          for (const pid of reported[i]!) assert.include(node.pidsKilled, pid, `${node.path}: ${pid}`)
        })
        assert.strictEqual(receipt.nodes[1]!.reason, "drain_timed_out")
        // drained in parallel: one drain timeout (1 s) plus the kill grace, not one per node
        assert.isBelow(took, 4_000)
      }).pipe(Effect.provide(ProcessAgent.layerNode({
        command: process.execPath,
        args: [fixture],
        killGracePeriod: "500 millis"
      }))),
    30_000
  )
})
