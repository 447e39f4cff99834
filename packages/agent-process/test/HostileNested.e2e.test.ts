/**
 * Deputy inside a sub-agent (a child that runs Deputy, whose children are marked by the inner Deputy): the
 * outer tree's mark must survive the inner one, or a process the inner Deputy lost track of (killed by its
 * own child before it could stop it) escapes the outer one too.
 */
import { ChildProcess } from "@deputy/agent-process"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { killLeftovers, runHostileShell } from "./hostileShell.js"

afterEach(killLeftovers)

describe("the tree mark of a nested Deputy", () => {
  it.scopedLive("a child's mark keeps the marks of the trees its parent runs in", () =>
    Effect.gen(function*() {
      const outer = "0c0c0c0c-0000-4000-8000-000000000000"
      const before = process.env[ChildProcess.treeMarkVariable]
      process.env[ChildProcess.treeMarkVariable] = outer
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (before === undefined) delete process.env[ChildProcess.treeMarkVariable]
          else process.env[ChildProcess.treeMarkVariable] = before
        })
      )
      const { dir } = yield* runHostileShell(`echo "$${ChildProcess.treeMarkVariable}" > "$HOSTILE_PIDS.mark"`)
      const mark = fs.readFileSync(path.join(dir, "pids.mark"), "utf8").trim()
      assert.match(mark, new RegExp(`^${outer},[0-9a-f-]{36}$`))
    }))
})
