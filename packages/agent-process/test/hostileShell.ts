/**
 * Runs `fixtures/hostile-shell-agent.sh` as a one-shot delegate with a bash snippet of misbehaviour, and
 * returns how the delegate ended, how long it took, the pids every process of the snippet recorded, and
 * which of them still ran when `handle.ended` resolved (inside the caller's scope), and the run's temporary
 * directory (`$HOSTILE_PIDS` is in it; removed with the caller's scope).
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

const readPids = (file: string): Array<number> =>
  fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "").map(Number)

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
      const ended = yield* handle.ended
      // Still inside the caller's scope: `ended` alone must mean the tree is gone.
      return { ...ended, aliveAtEnded: survivors(readPids(pidFile)) }
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
    const pids = readPids(pidFile)
    for (const pid of pids) recorded.add(pid)
    const { aliveAtEnded, ...result } = ended
    return { ended: result, pids, took, aliveAtEnded, dir }
  })
