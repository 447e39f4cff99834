/**
 * The delegate of `@deputy/core` over real processes: the reference agent spawned by `ProcessAgent`, its
 * requests answered by test `Approvals`, commands and patches really run in a temporary directory.
 */
import { ProcessAgent } from "@deputy/agent-process"
import { Approvals, Delegate } from "@deputy/core"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { isRunning, referenceAgent, tempDir, types } from "./utils.js"

const source = "review" as const

const spawner = (env: Record<string, string> = {}) =>
  ProcessAgent.layerNode({ ...referenceAgent, env, killGracePeriod: "500 millis" })

/** A one-shot delegate over the reference agent: all its events and how it ended. */
const oneShot = (input: string, approvals: Layer.Layer<Approvals.Approvals>, cwd?: string) =>
  Effect.gen(function*() {
    const handle = yield* Delegate.oneShot({ source, input, cwd, drainTimeout: "2 seconds" })
    const events = yield* Stream.runCollect(handle.events)
    return { events: Array.from(events), ended: yield* handle.ended }
  }).pipe(Effect.scoped, Effect.provide(Layer.merge(spawner(), approvals)))

/** Reads a delegate's events up to the first of type `type` (and returns them all). */
const until = (handle: Delegate.DelegateHandle, type: string) =>
  Effect.orDie(Delegate.readUntil(handle, (event) => event.msg.type === type))

describe("Delegate over ProcessAgent (end to end)", () => {
  it.scopedLive("one-shot, message only: completed with the last agent message", () =>
    Effect.gen(function*() {
      const { ended, events } = yield* oneShot("hello", Approvals.layerDenyAll)
      assert.strictEqual(ended.reason, "completed")
      assert.strictEqual(ended.lastAgentMessage, "You said: hello")
      assert.deepStrictEqual(types(events), ["task_started", "agent_message", "task_complete"])
    }))

  it.scopedLive("one-shot, command approved: the command really runs", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { ended, events } = yield* oneShot("run:echo approved > out.txt", Approvals.layerApproveAll, dir)
      assert.strictEqual(ended.reason, "completed")
      assert.notInclude(types(events), "exec_approval_request")
      assert.include(types(events), "exec_command_end")
      assert.strictEqual(fs.readFileSync(path.join(dir, "out.txt"), "utf8"), "approved\n")
    }))

  it.scopedLive("one-shot, command denied: it does not run and the turn goes on", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { ended, events } = yield* oneShot("run:touch out.txt\nafter", Approvals.layerDenyAll, dir)
      assert.strictEqual(ended.reason, "completed")
      assert.strictEqual(ended.lastAgentMessage, "I did not run `touch out.txt`: \"denied\"\nYou said: after")
      assert.notInclude(types(events), "exec_command_begin")
      assert.isFalse(fs.existsSync(path.join(dir, "out.txt")))
    }))

  it.scopedLive("one-shot, command aborted: the turn ends aborted and nothing runs", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { ended, events } = yield* oneShot("run:touch out.txt", Approvals.layerTest({ command: "abort" }), dir)
      assert.strictEqual(ended.reason, "aborted")
      assert.strictEqual(events.at(-1)?.msg.type, "turn_aborted")
      assert.isFalse(fs.existsSync(path.join(dir, "out.txt")))
    }))

  it.scopedLive("one-shot, patch approved writes the file; denied does not", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const approved = yield* oneShot("patch:a.txt hello", Approvals.layerApproveAll, dir)
      assert.strictEqual(approved.ended.reason, "completed")
      assert.include(types(approved.events), "patch_apply_end")
      assert.strictEqual(fs.readFileSync(path.join(dir, "a.txt"), "utf8"), "hello\n")

      const denied = yield* oneShot("patch:b.txt hello", Approvals.layerDenyAll, dir)
      assert.strictEqual(denied.ended.reason, "completed")
      assert.match(denied.ended.lastAgentMessage ?? "", /^I did not write b.txt/)
      assert.isFalse(fs.existsSync(path.join(dir, "b.txt")))
    }))

  it.scopedLive("one-shot, user input and permissions are answered by the parent", () =>
    Effect.gen(function*() {
      const approvals = Approvals.layerTest({
        userInput: Option.some({ answers: { q1: { answers: ["blue"] } } })
      })
      const { ended } = yield* oneShot("ask:color?\nperm:fetch", approvals)
      assert.strictEqual(
        ended.lastAgentMessage,
        `answers: {"q1":{"answers":["blue"]}}\npermissions granted: {"network":{"enabled":true}}`
      )
    }))

  it.scopedLive("interactive: two turns, approved_for_session is not asked again, interrupt mid-turn", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const handle = yield* Delegate.interactive({ source, cwd: dir, drainTimeout: "2 seconds" })

      const first = yield* handle.submit({
        type: "user_input",
        items: [{ type: "text", text: "run:echo once >> log.txt", text_elements: [] }]
      })
      const turn1 = yield* until(handle, "task_complete")
      assert.strictEqual(turn1.at(-1)?.id, first)
      yield* handle.submit({
        type: "user_input",
        items: [{ type: "text", text: "run:echo once >> log.txt", text_elements: [] }]
      })
      yield* until(handle, "task_complete")
      const asked = yield* Effect.flatMap(Approvals.TestApprovals, (test) => test.asked)
      assert.strictEqual(asked.length, 1, "approved_for_session was asked again")
      assert.strictEqual(fs.readFileSync(path.join(dir, "log.txt"), "utf8"), "once\nonce\n")

      // A long command, interrupted by the caller while it runs.
      const third = yield* handle.submit({
        type: "user_input",
        items: [{ type: "text", text: "run:sleep 30", text_elements: [] }]
      })
      yield* until(handle, "exec_command_begin")
      yield* handle.submit({ type: "interrupt" })
      const aborted = yield* until(handle, "turn_aborted")
      assert.strictEqual(aborted.at(-1)?.id, third)
      assert.notInclude(types(aborted), "exec_command_end")

      const ended = yield* handle.shutdown
      assert.strictEqual(ended.reason, "interrupted")
      assert.isFalse(ended.drainTimedOut)
    }).pipe(Effect.provide(Layer.merge(spawner(), Approvals.layerTest({ command: "approved_for_session" })))))

  it.scopedLive("interactive: shutdown while a request waits on the parent aborts it; the child drains", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const asked = yield* Deferred.make<void>()
      const approvals = Approvals.layerTest({
        command: () => Effect.zipRight(Deferred.succeed(asked, undefined), Effect.never)
      })
      const { ended, events } = yield* Effect.gen(function*() {
        const handle = yield* Delegate.interactive({ source, cwd: dir, drainTimeout: "2 seconds" })
        yield* handle.submit({
          type: "user_input",
          items: [{ type: "text", text: "run:touch out.txt", text_elements: [] }]
        })
        yield* Deferred.await(asked)
        const ended = yield* handle.shutdown
        const events = yield* Stream.runCollect(handle.events)
        return { ended, events: Array.from(events) }
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(spawner(), approvals)))
      assert.strictEqual(ended.reason, "interrupted")
      assert.isFalse(ended.drainTimedOut)
      assert.include(types(events), "turn_aborted")
      assert.isFalse(fs.existsSync(path.join(dir, "out.txt")))
    }))

  it.scopedLive("interactive: the child killed mid-turn ends the delegate as agent_exited with the signal", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      yield* handle.submit({
        type: "user_input",
        items: [{ type: "text", text: "run:kill -9 $PPID", text_elements: [] }]
      })
      const ended = yield* handle.ended
      assert.strictEqual(ended.reason, "agent_exited")
      assert.strictEqual(ended.signal, "SIGKILL")
      assert.match(ended.message ?? "", /killed by SIGKILL/)
    }).pipe(Effect.provide(Layer.merge(spawner(), Approvals.layerApproveAll))))

  it.scopedLive("a malformed line reaches the caller as a deputy_diagnostic event", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.oneShot({ source, input: "hi" })
      const events = Array.from(yield* Stream.runCollect(handle.events))
      assert.deepStrictEqual(types(events), ["deputy_diagnostic", "task_started", "agent_message", "task_complete"])
      assert.strictEqual((yield* handle.ended).reason, "completed")
    }).pipe(
      Effect.provide(Layer.merge(spawner({ REFERENCE_AGENT_GARBAGE: "1" }), Approvals.layerDenyAll))
    ))
})

/** Hostile children (test/fixtures/hostile-agent.mjs): whatever they do, the delegate ends and takes them along. */
describe("Delegate over a hostile ProcessAgent: contained, bounded, ended", () => {
  const fixture = fileURLToPath(new URL("./fixtures/hostile-agent.mjs", import.meta.url))
  const drainTimeout = 1000
  const grace = 500
  const started: Array<number> = []
  afterEach(() => {
    // Whatever a failed test left behind, by pid.
    for (const pid of started.splice(0)) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // gone
      }
    }
  })

  const runHostile = (modes: string) =>
    Effect.gen(function*() {
      const pids: Array<number> = []
      const begin = Date.now()
      const ended = yield* Effect.gen(function*() {
        const handle = yield* Delegate.oneShot({ source, input: "go", drainTimeout: `${drainTimeout} millis` })
        yield* Stream.runForEach(handle.events, (event) =>
          Effect.sync(() => {
            const pid = (event.msg as { readonly pid?: number }).pid
            if (event.msg.type === "hostile_pid" && typeof pid === "number") {
              pids.push(pid)
              started.push(pid)
            }
          }))
        return yield* handle.ended
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(
          ProcessAgent.layerNode({
            command: process.execPath,
            args: [fixture],
            env: { HOSTILE: modes },
            killGracePeriod: `${grace} millis`
          }),
          Approvals.layerDenyAll
        ))
      )
      return { ended, pids, took: Date.now() - begin }
    })

  /** Within the drain timeout and both grace periods (stdout end, SIGTERM→SIGKILL), with room for a loaded machine. */
  const bound = drainTimeout + 2 * grace + 4000

  it.live("a child that ignores shutdown and SIGTERM is killed, and the delegate ends", () =>
    Effect.gen(function*() {
      const { ended, pids, took } = yield* runHostile("ignore-term")
      assert.strictEqual(ended.reason, "completed")
      assert.lengthOf(pids, 1)
      assert.isBelow(took, bound)
      for (const pid of pids) assert.isFalse(isRunning(pid), `pid ${pid} survived`)
    }))

  it.live("a setsid grandchild that ignores SIGTERM does not survive its delegate", () =>
    Effect.gen(function*() {
      const { ended, pids, took } = yield* runHostile("setsid")
      assert.strictEqual(ended.reason, "completed")
      assert.lengthOf(pids, 2)
      assert.isBelow(took, bound)
      for (const pid of pids) assert.isFalse(isRunning(pid), `pid ${pid} survived`)
    }))

  it.live("detached and double-forked grandchildren do not survive their delegate", () =>
    Effect.gen(function*() {
      const { ended, pids, took } = yield* runHostile("detached,ignore-term")
      assert.strictEqual(ended.reason, "completed")
      assert.lengthOf(pids, 3)
      assert.isBelow(took, bound)
      for (const pid of pids) assert.isFalse(isRunning(pid), `pid ${pid} survived`)
    }))

  it.live("a child that closes stdout and sleeps is ended: the end of stdout is the child's end", () =>
    Effect.gen(function*() {
      const { ended, pids, took } = yield* runHostile("close-stdout,setsid")
      assert.strictEqual(ended.reason, "completed")
      assert.lengthOf(pids, 2)
      assert.isBelow(took, bound)
      for (const pid of pids) assert.isFalse(isRunning(pid), `pid ${pid} survived`)
    }))
})

describe("Delegate over a flooding ProcessAgent: bytes, not counts", () => {
  it.live(
    "1 GB of 8 MB events against a slow consumer: the parent's peak RSS stays under 300 MB",
    () =>
      Effect.gen(function*() {
        // Measured in a process of its own (test/fixtures/flood-parent.mjs), whose memory is only the delegate's.
        const script = fileURLToPath(new URL("./fixtures/flood-parent.mjs", import.meta.url))
        const result = yield* Effect.promise(() =>
          new Promise<string>((resolve, reject) => {
            // A heap limit makes V8 collect dead 8 MB strings promptly (without one it keeps garbage it could
            // free, and RSS says little about what Deputy holds). Measured: without the byte bounds
            // (FLOOD_BUFFER=10000000000, count bounds only, as in 0.1) this parent dies of heap exhaustion; with
            // them it peaks at about 220 MiB.
            const child = spawn(process.execPath, ["--max-old-space-size=192", script], {
              env: { ...process.env, FLOOD_COUNT: "128", FLOOD_BYTES: "8000000", FLOOD_PAUSE_MS: "300" },
              stdio: ["ignore", "pipe", "inherit"]
            })
            let out = ""
            child.stdout.on("data", (data) => out += data)
            child.on("error", reject)
            child.on("close", (code) => code === 0 ? resolve(out) : reject(new Error(`flood-parent exited ${code}`)))
          })
        )
        const report = JSON.parse(result) as { events: number; read: number; ended: string; vmHwm: number }
        assert.strictEqual(report.events, 128)
        assert.strictEqual(report.read, 128 * 8_000_000)
        assert.strictEqual(report.ended, "completed")
        assert.isBelow(report.vmHwm, 300 * 1024 * 1024, `peak RSS ${Math.round(report.vmHwm / 1048576)} MiB`)
      }),
    240_000
  )
})
