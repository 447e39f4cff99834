/**
 * A second Ctrl-C quits at once, skipping finalizers: even then no process of the sub-agent's tree is left
 * running — a child that ignores `shutdown` and SIGTERM, and a `setsid` grandchild that does too.
 */
import { ChildProcess } from "@deputy/agent-process"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { fileURLToPath } from "node:url"
import { afterEach } from "vitest"
import * as Cli from "./utils/cli.js"

const hostileAgent = fileURLToPath(new URL("../../agent-process/test/fixtures/hostile-agent.mjs", import.meta.url))

describe("deputy: a second Ctrl-C", () => {
  afterEach(Cli.stopAll)

  it("kills the whole tree of a sub-agent that ignores SIGTERM, synchronously, before exiting", async () => {
    const mechanism = await Effect.runPromise(ChildProcess.containment)
    const child = Cli.spawnDeputy([
      "run",
      "--json",
      "--env",
      "HOSTILE",
      "--drain-timeout",
      "60s",
      "--agent-command",
      `node ${hostileAgent}`,
      "go"
    ], { env: { HOSTILE: mechanism === "cgroup" ? "ignore-term,setsid" : "ignore-term" } })
    let stdout = ""
    let stderr = ""
    const pids: Array<number> = []
    child.stderr!.on("data", (data) => {
      stderr += data
      // The second signal once the first was handled: the run is now draining a child that never acknowledges.
      if (stderr.includes("Interrupting the sub-agent") && !stderr.includes("Quitting")) child.kill("SIGINT")
    })
    const expected = mechanism === "cgroup" ? 2 : 1
    await new Promise<void>((resolve) => {
      child.stdout.on("data", (data) => {
        stdout += data
        for (const line of stdout.split("\n")) {
          const found = /"type":"hostile_pid","pid":(\d+)/.exec(line)
          if (found !== null && !pids.includes(Number(found[1]))) pids.push(Number(found[1]))
        }
        if (pids.length >= expected && stdout.includes("\"task_complete\"")) resolve()
      })
    })
    assert.isTrue(pids.every(Cli.isAlive), "the tree runs before the signals")
    child.kill("SIGINT")
    const code = await new Promise((resolve) => child.on("exit", resolve))
    assert.strictEqual(code, 130, stderr)
    assert.include(stderr, "Quitting without waiting for the sub-agent.")
    // SIGKILL is sent before the exit; give the kernel a moment to reap (bounded, by pid).
    const deadline = Date.now() + 5000
    while (pids.some(Cli.isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    assert.deepStrictEqual(pids.filter(Cli.isAlive), [], `pids ${pids.join(", ")} are gone`)
  }, 60_000)
})
