/**
 * `handle.ended` is the end of the child: when it resolves, no process of the child's tree runs any more
 * (checked by pid, before the caller's scope closes), whatever the child did to stay.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { killLeftovers, runHostileShell } from "./hostileShell.js"

afterEach(killLeftovers)

describe("handle.ended against a child that tries to stay", () => {
  it.scopedLive("a double-forked setsid grandchild ignoring SIGTERM is gone when ended resolves", () =>
    Effect.gen(function*() {
      const { aliveAtEnded, ended, pids } = yield* runHostileShell(
        `(setsid sh -c 'trap "" TERM; echo $$ >> "$HOSTILE_PIDS"; exec sleep 600' &) & sleep 0.3`
      )
      assert.strictEqual(ended.reason, "completed")
      assert.lengthOf(pids, 2)
      assert.deepStrictEqual(aliveAtEnded, [])
    }))
})
