import { ChildProcess, ProcessAgent } from "@deputy/agent-process"
import { AgentSpawner } from "@deputy/core"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { isRunning, pidOf, processesWith, reader, referenceAgent, tempDir, types, userInput } from "./utils.js"

const review: AgentSpawner.SpawnOptions = { source: "review" }

const spawn = (options: Partial<ProcessAgent.Options> = {}, spawnOptions: AgentSpawner.SpawnOptions = review) =>
  ProcessAgent.spawn({ ...referenceAgent, ...options }, spawnOptions)

/** Spawns in a scope of its own, closed by the test (and, at the latest, with the test's scope). */
const spawnClosable = (options: Partial<ProcessAgent.Options> = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const agent = yield* spawn(options).pipe(Scope.extend(scope))
    return { agent, close: Scope.close(scope, Exit.void) }
  })

const run = <A, E>(effect: Effect.Effect<A, E, any>) => Effect.provide(effect, NodeContext.layer)

describe("ProcessAgent", () => {
  it.scopedLive("runs a turn, then shuts down cleanly; submissions after the end fail with AgentClosed", () =>
    run(Effect.gen(function*() {
      const agent = yield* spawn()
      const events = yield* reader(agent)
      yield* events.next("session_configured")
      const id = yield* agent.submit(userInput("hello"))
      const started = yield* events.next("task_started")
      const message = yield* events.next("agent_message")
      const complete = yield* events.next("task_complete")
      assert.strictEqual(started.id, id)
      assert.strictEqual(started.msg.turn_id, id)
      assert.strictEqual(message.msg.message, "You said: hello")
      assert.strictEqual(complete.msg.last_agent_message, "You said: hello")
      assert.deepStrictEqual(yield* agent.status, { completed: "You said: hello" })
      assert.deepStrictEqual(types(events.seen), [
        "session_configured",
        "task_started",
        "agent_message_delta",
        "token_count",
        "agent_message",
        "task_complete"
      ])

      yield* agent.submit({ type: "shutdown" })
      yield* events.next("shutdown_complete")
      assert.strictEqual(yield* events.end, "ended")
      assert.strictEqual(yield* agent.status, "shutdown")
      const late = yield* Effect.flip(agent.submit({ type: "interrupt" }))
      assert.strictEqual(late._tag, "AgentClosed")
      assert.include(late.message, "exited with code 0")
    })))

  it.scopedLive("command approval, approved: the command runs in the spawn's cwd", () =>
    run(Effect.gen(function*() {
      const dir = yield* tempDir
      const agent = yield* spawn({}, { ...review, cwd: dir })
      const events = yield* reader(agent)
      const id = yield* agent.submit(userInput("run:echo ran > out.txt"))
      const request = yield* events.next("exec_approval_request")
      assert.deepStrictEqual(request.msg.command, ["sh", "-c", "echo ran > out.txt"])
      assert.strictEqual(request.msg.cwd, fs.realpathSync(dir))
      yield* agent.submit({
        type: "exec_approval",
        id: request.msg.approval_id ?? request.msg.call_id,
        turn_id: request.id,
        decision: "approved"
      })
      const end = yield* events.next("exec_command_end")
      assert.strictEqual(end.msg.exit_code, 0)
      const complete = yield* events.next("task_complete")
      assert.strictEqual(complete.id, id)
      assert.strictEqual(fs.readFileSync(path.join(dir, "out.txt"), "utf8"), "ran\n")
    })))

  it.scopedLive("command approval, denied: nothing runs and the turn goes on", () =>
    run(Effect.gen(function*() {
      const dir = yield* tempDir
      const agent = yield* spawn({}, { ...review, cwd: dir })
      const events = yield* reader(agent)
      yield* agent.submit(userInput("run:touch denied.txt\nand then"))
      const request = yield* events.next("exec_approval_request")
      yield* agent.submit({ type: "exec_approval", id: request.msg.approval_id!, decision: "denied" })
      const complete = yield* events.next("task_complete")
      assert.match(
        complete.msg.last_agent_message ?? "",
        /^I did not run `touch denied.txt`: "denied"\nYou said: and then$/
      )
      assert.notInclude(types(events.seen), "exec_command_begin")
      assert.isFalse(fs.existsSync(path.join(dir, "denied.txt")))
    })))

  it.scopedLive("command approval, aborted: the turn ends as interrupted", () =>
    run(Effect.gen(function*() {
      const agent = yield* spawn({ env: { REFERENCE_AGENT_APPROVAL_ID: "0" } })
      const events = yield* reader(agent)
      const id = yield* agent.submit(userInput("run:true"))
      const request = yield* events.next("exec_approval_request")
      assert.isUndefined(request.msg.approval_id)
      yield* agent.submit({ type: "exec_approval", id: request.msg.call_id, decision: "abort" })
      const aborted = yield* events.next("turn_aborted")
      assert.deepStrictEqual(aborted, { id, msg: { type: "turn_aborted", turn_id: id, reason: "interrupted" } })
      assert.strictEqual(yield* agent.status, "interrupted")
      assert.notInclude(types(events.seen), "task_complete")
    })))

  it.scopedLive("approved_for_session: the same command is not asked for again", () =>
    run(Effect.gen(function*() {
      const agent = yield* spawn()
      const events = yield* reader(agent)
      yield* agent.submit(userInput("run:true"))
      const request = yield* events.next("exec_approval_request")
      yield* agent.submit({ type: "exec_approval", id: request.msg.approval_id!, decision: "approved_for_session" })
      yield* events.next("task_complete")
      const before = events.seen.length
      yield* agent.submit(userInput("run:true"))
      yield* events.next("task_complete")
      const second = types(events.seen.slice(before))
      assert.notInclude(second, "exec_approval_request")
      assert.include(second, "exec_command_end")
    })))

  it.scopedLive("user input and permission requests round-trip; interrupt aborts a waiting turn", () =>
    run(Effect.gen(function*() {
      const agent = yield* spawn()
      const events = yield* reader(agent)
      const id = yield* agent.submit(userInput("ask:which color?\nperm:to fetch"))
      const question = yield* events.next("request_user_input")
      assert.strictEqual(question.msg.questions[0]!.question, "which color?")
      yield* agent.submit({ type: "user_input_answer", id, response: { answers: { q1: { answers: ["blue"] } } } })
      const permissions = yield* events.next("request_permissions")
      yield* agent.submit({
        type: "request_permissions_response",
        id: permissions.msg.call_id,
        response: { permissions: { network: { enabled: true } }, scope: "turn" }
      })
      const complete = yield* events.next("task_complete")
      assert.strictEqual(
        complete.msg.last_agent_message,
        `answers: {"q1":{"answers":["blue"]}}\npermissions granted: {"network":{"enabled":true}}`
      )

      const second = yield* agent.submit(userInput("ask:still there?"))
      yield* events.next("request_user_input")
      yield* agent.submit({ type: "interrupt" })
      const aborted = yield* events.next("turn_aborted")
      assert.strictEqual(aborted.msg.turn_id, second)
    })))

  it.scopedLive("a malformed line becomes a diagnostic event and reading goes on", () =>
    run(Effect.gen(function*() {
      const agent = yield* spawn({ env: { REFERENCE_AGENT_GARBAGE: "1" } })
      const events = yield* reader(agent)
      const diagnostic = yield* events.next("deputy_diagnostic")
      assert.deepStrictEqual(diagnostic.msg, {
        type: "deputy_diagnostic",
        kind: "malformed_line",
        message: diagnostic.msg.message,
        line: 2,
        snippet: "this is not JSON"
      })
      assert.match(String(diagnostic.msg.message), /^line 2: invalid JSON/)
      yield* agent.submit(userInput("still fine"))
      yield* events.next("task_complete")
    })))

  it.scopedLive("an over-long line is skipped (not buffered) and reported", () =>
    run(Effect.gen(function*() {
      const agent = yield* spawn({ maxLineLength: 1000, env: { REFERENCE_AGENT_LONG_LINE: "100000" } })
      const events = yield* reader(agent)
      const diagnostic = yield* events.next("deputy_diagnostic")
      assert.strictEqual(diagnostic.msg.kind, "line_too_long")
      assert.strictEqual(diagnostic.msg.line, 2)
      assert.match(String(diagnostic.msg.message), /line 2 is 100\d+ characters long, over the limit of 1000/)
      yield* agent.submit(userInput("still fine"))
      yield* events.next("task_complete")
    })))

  it.scopedLive("strict mode: a malformed line ends the agent with AgentExited and stops the child", () =>
    run(Effect.gen(function*() {
      const agent = yield* spawn({ strict: true, env: { REFERENCE_AGENT_GARBAGE: "1" } })
      const events = yield* reader(agent)
      const ending = yield* events.end
      assert.deepStrictEqual(types(events.seen), ["session_configured"])
      assert.notStrictEqual(ending, "ended")
      if (ending !== "ended") {
        assert.strictEqual(ending._tag, "AgentExited")
        assert.match(ending.reason, /^strict mode: line 2: invalid JSON/)
      }
      const late = yield* Effect.flip(agent.submit(userInput("hello?")))
      assert.match(late.message, /strict mode/)
    })))

  it.scopedLive("a crash ends the events with the exit code and the stderr tail, bounded", () =>
    run(Effect.gen(function*() {
      const agent = yield* spawn({
        stderrTailBytes: 512,
        env: { REFERENCE_AGENT_CRASH_AFTER: "2", REFERENCE_AGENT_STDERR_BYTES: "20000" }
      })
      const events = yield* reader(agent)
      yield* agent.submit(userInput("hello"))
      const ending = yield* events.end
      assert.deepStrictEqual(types(events.seen), ["session_configured", "task_started"])
      if (ending === "ended") return assert.fail("expected AgentExited")
      assert.strictEqual(ending.code, 3)
      assert.strictEqual(ending.reason, "exited with code 3")
      // 512 bytes of stderr (its start and its end) and the line that says how much was left out between.
      assert.isAtMost(Buffer.byteLength(ending.stderrTail ?? ""), 512 + 64)
      assert.match(ending.stderrTail ?? "", /\n… \d+ bytes of stderr left out …\n/)
      assert.match(ending.stderrTail ?? "", /x+\nreference-agent: crashing on purpose after 2 events\n$/)
      assert.include(ending.message, "(exit code 3)")
      assert.include(ending.message, "crashing on purpose")
    })))

  it.scopedLive("a child that fails at once: the reason carries the stderr line that explains it, not its frames", () =>
    run(Effect.gen(function*() {
      const agent = yield* spawn({ command: process.execPath, args: ["/nonexistent/deputy-agent.mjs"] })
      const ending = yield* (yield* reader(agent)).end
      if (ending === "ended") return assert.fail("expected AgentExited")
      assert.strictEqual(ending.code, 1)
      assert.match(ending.reason, /^exited with code 1: Error: Cannot find module '\/nonexistent\/deputy-agent\.mjs'/)
      assert.notInclude(ending.reason, "    at ")
      assert.include(ending.stderrTail ?? "", "Cannot find module")
    })))

  it.scopedLive("a command that cannot be started fails the spawn with a SpawnError that says why", () =>
    run(Effect.gen(function*() {
      const missing = yield* Effect.flip(spawn({ command: "deputy-no-such-agent", args: [] }))
      assert.strictEqual(missing._tag, "SpawnError")
      assert.match(missing.message, /^could not start deputy-no-such-agent: not found on PATH \(.+\)/)

      const dir = yield* tempDir
      const noFile = yield* Effect.flip(spawn({ command: path.join(dir, "agent"), args: [] }))
      assert.match(noFile.message, /agent does not exist/)

      fs.writeFileSync(path.join(dir, "not-executable"), "#!/bin/sh\n")
      const notExecutable = yield* Effect.flip(spawn({ command: path.join(dir, "not-executable"), args: [] }))
      assert.match(notExecutable.message, /permission denied/)

      const badCwd = yield* Effect.flip(spawn({}, { ...review, cwd: path.join(dir, "nowhere") }))
      assert.match(badCwd.message, /its working directory .*nowhere is not accessible/)
    })))

  it.scopedLive("config overrides the command per spawn; bad config and resumed history are refused", () =>
    run(Effect.gen(function*() {
      const viaConfig = yield* spawn({ command: "deputy-no-such-agent", args: [] }, {
        ...review,
        config: { command: referenceAgent.command, args: referenceAgent.args, model: "ignored" }
      })
      const events = yield* reader(viaConfig)
      yield* events.next("session_configured")

      const badConfig = yield* Effect.flip(spawn({}, { ...review, config: { args: "not an array" } }))
      assert.match(badConfig.message, /invalid config/)

      const resumed = yield* Effect.flip(
        spawn({}, { ...review, initialHistory: { Forked: [] } })
      )
      assert.match(resumed.message, /forking one is not supported/)
    })))

  it.scopedLive("the child's environment: the allow-list, the caller's variables, TRACEPARENT of the span", () =>
    run(Effect.gen(function*() {
      process.env.DEPUTY_TEST_SECRET = "do not pass"
      yield* Effect.addFinalizer(() => Effect.sync(() => delete process.env.DEPUTY_TEST_SECRET))
      const reportEnv = { REFERENCE_AGENT_REPORT_ENV: "1" }
      const readEnv = (options: Partial<ProcessAgent.Options>) =>
        Effect.gen(function*() {
          const events = yield* reader(yield* spawn(options))
          const report = yield* events.next("reference_env")
          return report.msg.env as Record<string, string>
        })

      const { env, span } = yield* Effect.gen(function*() {
        const span = yield* Effect.currentSpan
        return { env: yield* readEnv({ env: reportEnv }), span }
      }).pipe(Effect.withSpan("parent"))
      assert.strictEqual(env.TRACEPARENT, `00-${span.traceId}-${span.spanId}-01`)
      assert.strictEqual(env.PATH, process.env.PATH)
      assert.strictEqual(env.REFERENCE_AGENT_REPORT_ENV, "1")
      assert.isUndefined(env.DEPUTY_TEST_SECRET)
      assert.match(env[ChildProcess.treeMarkVariable] ?? "", /(^|,)[0-9a-f-]{36}$/)
      for (const name of Object.keys(env)) {
        assert.isTrue(
          ProcessAgent.defaultEnvAllowList.includes(name) || name.startsWith("LC_") || name === "TRACEPARENT" ||
            name === "REFERENCE_AGENT_REPORT_ENV" || name === ChildProcess.treeMarkVariable,
          `unexpected variable ${name}`
        )
      }

      const inherited = yield* readEnv({ env: reportEnv, inheritEnv: true })
      assert.strictEqual(inherited.DEPUTY_TEST_SECRET, "do not pass")
      assert.isUndefined(inherited.TRACEPARENT)
    })))

  it.scopedLive("closing the scope stops the child's whole process group", () =>
    run(Effect.gen(function*() {
      const { agent, close } = yield* spawnClosable({ env: { REFERENCE_AGENT_GRANDCHILD: "1" } })
      const events = yield* reader(agent)
      const pid = pidOf(yield* events.next("session_configured"))
      const grandchild = pidOf(yield* events.next("reference_grandchild"))
      assert.isTrue(isRunning(pid) && isRunning(grandchild))
      yield* close
      assert.isFalse(isRunning(grandchild), "the grandchild survived")
      assert.isFalse(isRunning(pid), "the child survived")
      const ending = yield* events.end
      if (ending === "ended") return assert.fail("expected AgentExited")
      assert.strictEqual(ending.signal, "SIGTERM")
      assert.strictEqual(ending.reason, "stopped by Deputy (SIGTERM) when the agent's scope closed")
    })))

  it.scopedLive("when the child exits, what is left of its group is stopped and the events end", () =>
    run(Effect.gen(function*() {
      // The grandchild shares the child's stdout: the events could not end while it lives.
      const agent = yield* spawn({ env: { REFERENCE_AGENT_GRANDCHILD: "1" } })
      const events = yield* reader(agent)
      const grandchild = pidOf(yield* events.next("reference_grandchild"))
      yield* agent.submit({ type: "shutdown" })
      assert.strictEqual(yield* events.end, "ended")
      assert.isFalse(isRunning(grandchild), "the grandchild survived")
    })))

  it.scopedLive("a child that ignores shutdown and SIGTERM is killed after the grace period", () =>
    run(Effect.gen(function*() {
      const { agent, close } = yield* spawnClosable({
        killGracePeriod: "300 millis",
        env: { REFERENCE_AGENT_HANG_ON_SHUTDOWN: "1" }
      })
      const events = yield* reader(agent)
      const pid = pidOf(yield* events.next("session_configured"))
      yield* agent.submit({ type: "shutdown" })
      const started = Date.now()
      yield* close
      const took = Date.now() - started
      assert.isAtLeast(took, 300)
      assert.isBelow(took, 2000)
      assert.isFalse(isRunning(pid), "the child survived")
      const ending = yield* events.end
      if (ending === "ended") return assert.fail("expected AgentExited")
      assert.strictEqual(ending.signal, "SIGKILL")
      assert.include(ending.stderrTail ?? "", "ignoring SIGTERM")
    })))

  it.scopedLive("events flow in order and in batches, not one by one", () =>
    run(Effect.gen(function*() {
      const count = 50_000
      const agent = yield* spawn({ env: { REFERENCE_AGENT_FLOOD: String(count) } })
      let chunks = 0
      let next = 0
      const started = Date.now()
      yield* agent.events.pipe(
        Stream.mapChunks((chunk) => {
          chunks += 1
          return chunk
        }),
        Stream.filter((event) => event.msg.type === "agent_message_delta"),
        Stream.take(count),
        Stream.runForEach((event) =>
          Effect.sync(() => {
            if ((event.msg as { readonly delta: string }).delta !== String(next)) {
              throw new Error(`event ${next} out of order`)
            }
            next += 1
          })
        )
      )
      const took = Date.now() - started
      assert.strictEqual(next, count)
      assert.isBelow(chunks, count / 20)
      assert.isBelow(took, 5000)
    })))

  it.scopedLive("a spawn interrupted while starting leaves no process behind and its scope closes", () =>
    run(Effect.gen(function*() {
      const mark = `--deputy-test-${crypto.randomUUID()}`
      const scope = yield* Scope.make()
      const fiber = yield* spawn({
        args: [...referenceAgent.args, mark],
        killGracePeriod: "200 millis",
        env: { REFERENCE_AGENT_HANG_ON_SHUTDOWN: "1" }
      }).pipe(Scope.extend(scope), Effect.fork)
      // Interrupt as soon as the process exists (the spawn is then still wiring it, or just done).
      yield* Effect.sync(() => processesWith(mark).length > 0).pipe(
        Effect.repeat({ until: (started) => started, schedule: Schedule.spaced("1 millis") })
      )
      yield* Fiber.interrupt(fiber)
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(processesWith(mark), [])
    })))

  it.scopedLive("layerNode provides an AgentSpawner", () =>
    Effect.gen(function*() {
      const spawner = yield* AgentSpawner.AgentSpawner
      const agent = yield* spawner.spawn(review)
      assert.strictEqual(agent.name, "reference")
      const events = yield* reader(agent)
      yield* events.next("session_configured")
    }).pipe(Effect.provide(ProcessAgent.layerNode({ ...referenceAgent, name: "reference" }))))
})
