/**
 * Containment by a cgroup, attacked: a child run as root may move its processes out of its cgroup (into
 * the cgroup Deputy itself runs in), where `cgroup.kill` does not reach them. Runs where the cgroup is the
 * mechanism in use and the tests run as root (otherwise the move is refused and there is nothing to test).
 */
import { ChildProcess } from "@deputy/agent-process"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { bound, killLeftovers, runHostileShell, survivors } from "./hostileShell.js"

afterEach(killLeftovers)

/** The `cgroup.procs` of the cgroup this process runs in (cgroup v2), where an escaping child moves itself. */
const ownCgroupProcs = (): string | undefined => {
  try {
    const mount = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((line) => line.split(" - "))
      .find(([, right]) => right?.startsWith("cgroup2 "))?.[0]?.split(" ")[4]
    const own = fs.readFileSync("/proc/self/cgroup", "utf8").split("\n").find((line) => line.startsWith("0::"))
    return mount === undefined || own === undefined ? undefined : path.join(mount, own.slice(3), "cgroup.procs")
  } catch {
    return undefined
  }
}

const procs = ownCgroupProcs()
const root = process.getuid?.() === 0

describe.skipIf(process.platform !== "linux" || !root || procs === undefined)(
  "cgroup containment against escapes",
  () => {
    it.scopedLive("a setsid grandchild that moves itself out of the child's cgroup does not survive", () =>
      Effect.gen(function*() {
        if ((yield* ChildProcess.containment) !== "cgroup") return
        const { ended, pids, took } = yield* runHostileShell(
          `(setsid sh -c 'echo $$ > "${procs}"; trap "" TERM; echo $$ >> "$HOSTILE_PIDS"; exec sleep 600' &) & sleep 0.3`
        )
        assert.strictEqual(ended.reason, "completed")
        assert.lengthOf(pids, 2)
        assert.isBelow(took, bound)
        assert.deepStrictEqual(survivors(pids), [])
      }))
  }
)
