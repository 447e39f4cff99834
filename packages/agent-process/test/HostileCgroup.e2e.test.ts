/**
 * Containment by a cgroup, attacked: a child run as root may move its processes out of its cgroup (into
 * the cgroup Deputy itself runs in), where `cgroup.kill` does not reach them. Runs where the cgroup is the
 * mechanism in use and the tests run as root (otherwise the move is refused and there is nothing to test).
 */
import { ChildProcess } from "@deputy/agent-process"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { bound, killLeftovers, runHostileShell, survivors } from "./hostileShell.js"
import { isRunning } from "./utils.js"

/** Pids started outside `runHostileShell`, SIGKILLed after each test whatever happened. */
const others: Array<number> = []
const killLater = (pid: number) => others.push(pid)
afterEach(() => {
  killLeftovers()
  for (const pid of others.splice(0)) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone
    }
  }
})

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

    it.scopedLive("a child that SIGKILLs its parent: the next spawn on the machine ends what it left", () =>
      Effect.gen(function*() {
        if ((yield* ChildProcess.containment) !== "cgroup") return
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "deputy-agent-process-"))),
          (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
        )
        const pidFile = path.join(dir, "pids")
        fs.writeFileSync(pidFile, "")
        const parent = fileURLToPath(new URL("./fixtures/hostile-shell-parent.mjs", import.meta.url))
        let parentPid = 0
        // The killed parent's cgroup: killed whole by the next spawn, removed once empty (here, at the latest).
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            const namespace = /\[(\d+)\]/.exec(fs.readlinkSync("/proc/self/ns/pid"))?.[1]
            const cgroup = path.join(path.dirname(procs!), `deputy-${parentPid}-1-${namespace}`)
            const deadline = Date.now() + 2000
            while (fs.existsSync(cgroup) && Date.now() < deadline) {
              yield* Effect.sync(() => fs.rmdirSync(cgroup)).pipe(Effect.ignore)
              yield* Effect.sleep("20 millis")
            }
          })
        )
        const code = yield* Effect.async<number | null>((resume) => {
          const child = spawn(process.execPath, [parent], {
            env: {
              ...process.env,
              HOSTILE_PIDS: pidFile,
              HOSTILE_SCRIPT:
                `(setsid sh -c 'trap "" TERM; echo $$ >> "$HOSTILE_PIDS"; exec sleep 600' &) & sleep 0.3; kill -9 $PPID`
            },
            stdio: "ignore"
          })
          parentPid = child.pid ?? 0
          child.on("exit", (code, signal) => resume(Effect.succeed(signal === "SIGKILL" ? 137 : code)))
        }).pipe(Effect.timeout("20 seconds"))
        assert.strictEqual(code, 137)
        const left = fs.readFileSync(pidFile, "utf8").split("\n").filter((line) => line !== "").map(Number)
        assert.lengthOf(left, 2)
        for (const pid of left) killLater(pid)
        assert.isTrue(left.some(isRunning), "the grandchild is left, its parent's parent gone")
        // Any spawn (here a well-behaved one) sweeps the trees of parents that are gone.
        const { ended } = yield* runHostileShell("true")
        assert.strictEqual(ended.reason, "completed")
        const deadline = Date.now() + 2000
        while (left.some(isRunning) && Date.now() < deadline) yield* Effect.sleep("20 millis")
        assert.deepStrictEqual(survivors(left), [])
      }))
  }
)
