/**
 * Runs `fixtures/hostile-shell-agent.sh` as a one-shot delegate with a bash snippet of misbehaviour, and
 * returns how the delegate ended, how long it took, and the pids every process of the snippet recorded.
 * Whatever a failed run left behind is SIGKILLed by pid (`killLeftovers`).
 */
import { ProcessAgent } from "@deputy/agent-process"
import { Approvals, Delegate } from "@deputy/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { isRunning, tempDir } from "./utils.js"

const fixture = fileURLToPath(new URL("./fixtures/hostile-shell-agent.sh", import.meta.url))

/** The grace periods of the runs: the delegate must end within `bound` of its start. */
export const drainTimeout = 500
export const grace = 500
/** Drain, then stdin closed → SIGTERM → SIGKILL, with room for a loaded machine. */
export const bound = drainTimeout + 2 * grace + 5000

/** Every pid a run recorded, for the `afterEach` that kills leftovers. */
const recorded = new Set<number>()

/** SIGKILLs what a run left behind, by pid. */
export const killLeftovers = (): void => {
  for (const pid of recorded) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone
    }
  }
  recorded.clear()
}

/** The pids of `pids` that still run (zombies do not). */
export const survivors = (pids: ReadonlyArray<number>): Array<number> => pids.filter(isRunning)

export const runHostileShell = (script: string) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const pidFile = path.join(dir, "pids")
    fs.writeFileSync(pidFile, "")
    const begin = Date.now()
    const ended = yield* Effect.gen(function*() {
      const handle = yield* Delegate.oneShot({
        source: "review",
        input: "go",
        drainTimeout: `${drainTimeout} millis`
      })
      yield* Stream.runDrain(handle.events)
      return yield* handle.ended
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.merge(
        ProcessAgent.layerNode({
          command: "/bin/bash",
          args: [fixture],
          env: { HOSTILE_SCRIPT: script, HOSTILE_PIDS: pidFile },
          killGracePeriod: `${grace} millis`
        }),
        Approvals.layerDenyAll
      ))
    )
    const took = Date.now() - begin
    const pids = fs.readFileSync(pidFile, "utf8").split("\n").filter((line) => line !== "").map(Number)
    for (const pid of pids) recorded.add(pid)
    return { ended, pids, took }
  })
