/**
 * Containment by process tracking (the fallback where the kernel offers no cgroup), attacked: escapes that
 * leave the child's tree, process group and session before any poll sees them. Forced with
 * `DEPUTY_CONTAINMENT=process-tracking` (read once, on the first spawn of this test file's process).
 */
import { ChildProcess } from "@deputy/agent-process"
import { afterEach, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { bound, killLeftovers, runHostileShell, survivors } from "./hostileShell.js"

beforeAll(() => {
  process.env.DEPUTY_CONTAINMENT = "process-tracking"
})
afterEach(killLeftovers)

describe.skipIf(process.platform !== "linux")("process tracking against escapes", () => {
  it.live("the fallback is the mechanism in use here", () =>
    Effect.map(ChildProcess.containment, (mechanism) => assert.strictEqual(mechanism, "process-tracking")))

  it.scopedLive("a double-forked setsid grandchild that ignores SIGTERM does not survive its delegate", () =>
    Effect.gen(function*() {
      const { ended, pids, took } = yield* runHostileShell(
        `(setsid sh -c 'trap "" TERM; echo $$ >> "$HOSTILE_PIDS"; exec sleep 600' &) & sleep 0.3`
      )
      assert.strictEqual(ended.reason, "completed")
      assert.lengthOf(pids, 2)
      assert.isBelow(took, bound)
      assert.deepStrictEqual(survivors(pids), [])
    }))

  it.scopedLive("sixty double-forked escapes, renamed with exec -a: none survives", () =>
    Effect.gen(function*() {
      const { ended, pids, took } = yield* runHostileShell(
        `for i in $(seq 60); do (setsid bash -c 'trap "" TERM; echo $$ >> "$HOSTILE_PIDS"; exec -a innocent sleep 600' &); done; sleep 0.5`
      )
      assert.strictEqual(ended.reason, "completed")
      assert.lengthOf(pids, 61)
      assert.isBelow(took, bound)
      assert.deepStrictEqual(survivors(pids), [])
    }))

  it.scopedLive("a grandchild that escapes after the child exited, writing to the inherited stdout, is ended", () =>
    Effect.gen(function*() {
      const { ended, pids, took } = yield* runHostileShell(
        `(setsid bash -c 'trap "" TERM PIPE; echo $$ >> "$HOSTILE_PIDS"; sleep 1; while :; do echo noise; sleep 0.05; done' &)`
      )
      assert.strictEqual(ended.reason, "completed")
      assert.lengthOf(pids, 2)
      assert.isBelow(took, bound)
      assert.deepStrictEqual(survivors(pids), [])
    }))
})
