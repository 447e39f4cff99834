/**
 * The kill escalation runs to its end whatever interrupts the caller: a delegate interrupted mid-turn (a
 * timeout around it) returns only once no process of the child's tree runs, a `setsid` grandchild that
 * ignores SIGTERM included.
 */
import { ProcessAgent } from "@deputy/agent-process"
import { Approvals, Delegate } from "@deputy/core"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { survivors } from "./hostileShell.js"
import { tempDir } from "./utils.js"

const fixture = fileURLToPath(new URL("./fixtures/hostile-shell-agent.sh", import.meta.url))
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

describe("a delegate interrupted mid-turn", () => {
  it.scopedLive("returns once its whole tree is gone", () =>
    Effect.gen(function*() {
      const pidFile = path.join(yield* tempDir, "pids")
      fs.writeFileSync(pidFile, "")
      const script = `(setsid sh -c 'trap "" TERM; echo $$ >> "$HOSTILE_PIDS"; exec sleep 600' &) & sleep 5`
      const begin = Date.now()
      const result = yield* Effect.gen(function*() {
        const handle = yield* Delegate.oneShot({ source: "review", input: "go", drainTimeout: "500 millis" })
        yield* Stream.runDrain(handle.events)
        return yield* handle.ended
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(
          ProcessAgent.layerNode({
            command: "/bin/bash",
            args: [fixture],
            env: { HOSTILE_SCRIPT: script, HOSTILE_PIDS: pidFile },
            killGracePeriod: "500 millis"
          }),
          Approvals.layerDenyAll
        )),
        Effect.timeoutOption("1 second")
      )
      const took = Date.now() - begin
      const pids = fs.readFileSync(pidFile, "utf8").split("\n").filter((line) => line !== "").map(Number)
      started.push(...pids)
      assert.isTrue(Option.isNone(result), "interrupted by the timeout")
      assert.lengthOf(pids, 2)
      assert.deepStrictEqual(survivors(pids), [], `left running ${took} ms after the start`)
    }))
})
