/**
 * The real Codex binary at the `Agent` level: turns, interrupts, errors, shutdown, crashes, resume/fork,
 * spawn failures. Offline (loopback only); every run writes in temporary directories.
 */
import { CodexAgent, CodexHome, ScriptedModel } from "@deputy/codex"
import { Errors } from "@deputy/core"
import type { Event, InitialHistory } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as fs from "node:fs"
import * as path from "node:path"
import { awaitNoLeftovers, isTurnEnd, leftovers, provideNode, reader, spawnScripted, tempDir, text } from "./utils.js"

type Json = Record<string, any>

const types = (events: ReadonlyArray<Event.Event>) =>
  events.map((event) => event.msg.type).filter((type) => type !== "codex_notification")

const userTexts = (request: ScriptedModel.RecordedRequest): Array<string> =>
  ((request.body as Json).input as Array<Json>)
    .filter((item) => item.type === "message" && item.role === "user")
    .flatMap((item) => item.content.map((part: Json) => part.text as string))

/** A script standing in for Codex. */
const fakeCodex = (dir: string, body: string) => {
  const file = path.join(dir, "fake-codex")
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 })
  return file
}

describe("CodexAgent: lifecycle with the real Codex", () => {
  it.scopedLive("two turns: each turn's events carry its submission id; the model sees the history", () =>
    Effect.gen(function*() {
      const { agent, model } = yield* spawnScripted(ScriptedModel.scenario(
        [ScriptedModel.message("first answer")],
        [ScriptedModel.message("second answer")]
      ))
      const events = yield* reader(agent)
      const first = yield* agent.submit(text("one"))
      const turn1 = yield* events.until(isTurnEnd)
      const second = yield* agent.submit(text("two"))
      const turn2 = yield* events.until(isTurnEnd)
      assert.notStrictEqual(first, second)
      assert.deepStrictEqual([turn1.at(-1)!.id, turn2.at(-1)!.id], [first, second])
      assert.strictEqual((turn2.at(-1)!.msg as Json).last_agent_message, "second answer")
      const requests = yield* model.requests
      assert.deepStrictEqual(requests.map((request) => request.turn), [0, 1])
      assert.deepStrictEqual(userTexts(requests[1]!).slice(-2), ["one", "two"])
    }).pipe(provideNode))

  it.scopedLive("interrupt mid-turn: the running command is stopped, the turn ends `turn_aborted`", () =>
    Effect.gen(function*() {
      const { agent } = yield* spawnScripted(
        ScriptedModel.scenario([ScriptedModel.exec("sleep 20")], [ScriptedModel.message("back")]),
        { approvalPolicy: "never" }
      )
      const events = yield* reader(agent)
      const id = yield* agent.submit(text("sleep"))
      yield* events.until((event) => event.msg.type === "exec_command_begin")
      const started = Date.now()
      yield* agent.submit({ type: "interrupt" })
      const aborted = yield* events.until(isTurnEnd)
      assert.isBelow(Date.now() - started, 5_000)
      assert.deepStrictEqual([aborted.at(-1)!.id, (aborted.at(-1)!.msg as Json).reason], [id, "interrupted"])
      assert.strictEqual(yield* agent.status, "interrupted")
      yield* agent.submit({ type: "interrupt" }) // idle: nothing to interrupt, nothing happens
      yield* agent.submit(text("again"))
      const next = yield* events.until(isTurnEnd)
      assert.strictEqual((next.at(-1)!.msg as Json).last_agent_message, "back")
      assert.notInclude(types(next), "deputy_diagnostic")
    }).pipe(provideNode))

  it.scopedLive("model failures (HTTP 500, response.failed, cut stream) end the turn with an error", () =>
    Effect.gen(function*() {
      const { agent } = yield* spawnScripted(ScriptedModel.scenario(
        [ScriptedModel.httpError(500)],
        [ScriptedModel.responseFailed("scripted failure")],
        [ScriptedModel.cutStream()]
      ))
      const events = yield* reader(agent)
      const messages: Array<string> = []
      for (const prompt of ["a", "b", "c"]) {
        yield* agent.submit(text(prompt))
        const turn = yield* events.until(isTurnEnd)
        assert.deepStrictEqual(types(turn).slice(-2), ["error", "task_complete"])
        assert.strictEqual((turn.at(-1)!.msg as Json).error.message, (turn.at(-2)!.msg as Json).message)
        messages.push((turn.at(-2)!.msg as Json).message)
      }
      assert.include(messages[1], "scripted failure")
      assert.include(messages[2], "stream closed before response.completed")
    }).pipe(provideNode))

  it.scopedLive("shutdown: `shutdown_complete` under the shutdown's id ends the events; submit then fails", () =>
    Effect.gen(function*() {
      const { agent } = yield* spawnScripted(ScriptedModel.messageScenario())
      const events = yield* reader(agent)
      yield* agent.submit(text("hello"))
      yield* events.until(isTurnEnd)
      const id = yield* agent.submit({ type: "shutdown" })
      const rest = yield* events.rest
      assert.deepStrictEqual(rest.map((event) => [event.id, event.msg.type]), [[id, "shutdown_complete"]])
      assert.strictEqual(yield* agent.status, "shutdown")
      const refused = yield* Effect.flip(agent.submit(text("too late")))
      assert.instanceOf(refused, Errors.AgentClosed)
      assert.deepStrictEqual(yield* awaitNoLeftovers, [])
    }).pipe(provideNode))

  it.scopedLive("shutdown mid-turn: the turn is aborted first, then `shutdown_complete`", () =>
    Effect.gen(function*() {
      const { agent } = yield* spawnScripted(ScriptedModel.scenario([ScriptedModel.stall]))
      const events = yield* reader(agent)
      const turnId = yield* agent.submit(text("think forever"))
      yield* events.until((event) => event.msg.type === "task_started")
      const shutdownId = yield* agent.submit({ type: "shutdown" })
      const rest = yield* events.rest
      assert.deepStrictEqual(
        rest.filter((event) => event.msg.type !== "codex_notification").map((event) => [event.id, event.msg.type]),
        [[turnId, "turn_aborted"], [shutdownId, "shutdown_complete"]]
      )
    }).pipe(provideNode))

  it.scopedLive("Codex killed mid-turn: the events fail with AgentExited (signal, stderr tail)", () =>
    Effect.gen(function*() {
      const { agent } = yield* spawnScripted(ScriptedModel.scenario([ScriptedModel.stall]))
      const events = yield* reader(agent)
      yield* agent.submit(text("think forever"))
      yield* events.until((event) => event.msg.type === "task_started")
      process.kill(agent.pid, "SIGKILL")
      const failure = yield* Effect.flip(events.rest)
      assert.instanceOf(failure, Errors.AgentExited)
      const exited = failure as Errors.AgentExited
      assert.strictEqual(exited.signal, "SIGKILL")
      assert.include(exited.reason, "killed by SIGKILL")
      assert.isString(exited.stderrTail)
      assert.instanceOf(yield* Effect.flip(agent.submit(text("hello?"))), Errors.AgentClosed)
    }).pipe(provideNode))

  it.scopedLive("closing the scope mid-turn stops Codex and its helpers", () =>
    Effect.gen(function*() {
      yield* Effect.scoped(Effect.gen(function*() {
        const { agent } = yield* spawnScripted(
          ScriptedModel.scenario([ScriptedModel.exec("sleep 30"), ScriptedModel.message("slept")]),
          { approvalPolicy: "never" }
        )
        const events = yield* reader(agent)
        yield* agent.submit(text("sleep"))
        yield* events.until((event) => event.msg.type === "exec_command_begin")
        assert.isNotEmpty(leftovers().filter((line) => line.includes("sleep 30")))
      }))
      assert.deepStrictEqual(yield* awaitNoLeftovers, [])
    }).pipe(provideNode))

  /** A stored thread ("remember: apple"), and a way to continue it from another Codex process. */
  const storedThread = Effect.gen(function*() {
    const model = yield* ScriptedModel.make(ScriptedModel.messageScenario("noted"))
    const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
    const cwd = yield* tempDir
    const options: CodexAgent.Options = { codexHome: home.path, env: home.env }
    const original = yield* Effect.scoped(Effect.gen(function*() {
      const agent = yield* CodexAgent.spawn(options, { source: "review", cwd })
      const events = yield* reader(agent)
      yield* agent.submit(text("remember: apple"))
      yield* events.until(isTurnEnd)
      yield* agent.submit({ type: "shutdown" })
      yield* events.rest
      return { threadId: agent.threadId, rolloutPath: agent.rolloutPath! }
    }))
    const continueWith = (initialHistory: InitialHistory.InitialHistory) =>
      Effect.scoped(Effect.gen(function*() {
        const agent = yield* CodexAgent.spawn(options, { source: "review", cwd, initialHistory })
        const events = yield* reader(agent)
        yield* agent.submit(text("what was it?"))
        yield* events.until(isTurnEnd)
        const last = (yield* model.requests).at(-1)!
        return { threadId: agent.threadId, texts: userTexts(last) }
      }))
    return {
      original,
      continueWith,
      spawn: (initialHistory: InitialHistory.InitialHistory) =>
        CodexAgent.spawn(options, { source: "review", cwd, initialHistory })
    }
  })

  it.scopedLive("resume a stored thread: same thread, the model sees its history", () =>
    Effect.gen(function*() {
      const { continueWith, original, spawn } = yield* storedThread
      const resumed = yield* continueWith({
        Resumed: { conversation_id: original.threadId, history: [], rollout_path: null }
      })
      assert.strictEqual(resumed.threadId, original.threadId)
      assert.deepStrictEqual(resumed.texts.slice(-2), ["remember: apple", "what was it?"])
      const missing = yield* Effect.flip(spawn({
        Resumed: { conversation_id: "01a20000-0000-7000-8000-000000000000", history: [] }
      }))
      assert.include(missing.reason, "thread/resume failed")
    }).pipe(provideNode))

  it.scopedLive("fork a stored thread from its rollout: a new thread with the history", () =>
    Effect.gen(function*() {
      const { continueWith, original, spawn } = yield* storedThread
      const items: Array<InitialHistory.RolloutItem> = fs.readFileSync(original.rolloutPath, "utf8").trim().split("\n")
        .map((line) => JSON.parse(line))
      const forked = yield* continueWith({ Forked: items })
      assert.notStrictEqual(forked.threadId, original.threadId)
      assert.include(forked.texts, "remember: apple")
      const refused = yield* Effect.flip(spawn({ Forked: [] }))
      assert.include(refused.reason, "session_meta")
    }).pipe(provideNode))

  it.scopedLive("ops Codex has no counterpart for become diagnostics; a traced submission is accepted", () =>
    Effect.gen(function*() {
      const { agent } = yield* spawnScripted(ScriptedModel.messageScenario())
      const events = yield* reader(agent)
      yield* agent.submit({ type: "compact" })
      const [diagnostic] = yield* events.until((event) => event.msg.type === "deputy_diagnostic").pipe(
        Effect.map((seen) => seen.slice(-1))
      )
      assert.include((diagnostic!.msg as Json).message, "`compact` is not supported")
      yield* agent.submitWithId({
        id: "traced",
        op: text("hello"),
        trace: { traceparent: "00-1234567890abcdef1234567890abcdef-1234567890abcdef-01" }
      })
      const turn = yield* events.until(isTurnEnd)
      assert.deepStrictEqual([turn.at(-1)!.id, turn.at(-1)!.msg.type], ["traced", "task_complete"])
    }).pipe(provideNode))

  it.live("leaves no Codex process behind", () =>
    Effect.map(awaitNoLeftovers, (left) => assert.deepStrictEqual(left, [])))
})

describe("CodexAgent: spawn failures", () => {
  it.scopedLive("a binary that is not there", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(CodexAgent.spawn({ binary: "/nonexistent/codex" }, { source: "review" }))
      assert.instanceOf(error, Errors.SpawnError)
      assert.include(error.reason, "/nonexistent/codex")
    }).pipe(provideNode))

  it.scopedLive("a Codex that exits at once: the exit code and its stderr", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const binary = fakeCodex(dir, "echo 'config.toml: invalid' >&2\nexit 3")
      const error = yield* Effect.flip(CodexAgent.spawn({ binary }, { source: "review", cwd: dir }))
      assert.include(error.reason, "initialize failed (exit code 3)")
      assert.include(error.reason, "config.toml: invalid")
    }).pipe(provideNode))

  it.scopedLive("a CODEX_HOME that does not exist: Codex's own message, not its backtrace", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const missing = `${dir}/no-such-codex-home`
      const error = yield* Effect.flip(CodexAgent.spawn({ codexHome: missing }, { source: "review", cwd: dir }))
      assert.instanceOf(error, Errors.SpawnError)
      assert.include(error.reason, "CODEX_HOME points to")
      assert.include(error.reason, missing)
      assert.notMatch(error.reason, /^\s*\d+: /m)
      assert.notMatch(error.reason, /^\s*at /m)
    }).pipe(provideNode))

  it.scopedLive("a Codex that never answers: the startup timeout, and nothing left running", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const binary = fakeCodex(dir, "exec sleep 30")
      const error = yield* Effect.flip(
        CodexAgent.spawn({ binary, startupTimeout: "300 millis", exitGracePeriod: "100 millis" }, {
          source: "review",
          cwd: dir
        })
      )
      assert.include(error.reason, "no answer within")
      assert.deepStrictEqual(yield* awaitNoLeftovers, [])
    }).pipe(provideNode))

  it.scopedLive("an interrupted spawn leaves nothing running", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const binary = fakeCodex(dir, "exec sleep 30")
      const fiber = yield* Effect.fork(
        Effect.scoped(CodexAgent.spawn({ binary, exitGracePeriod: "100 millis" }, { source: "review", cwd: dir }))
      )
      yield* Effect.sleep("200 millis")
      assert.isNotEmpty(leftovers())
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(
        Exit.isInterrupted(exit) || Cause.isInterruptedOnly(Exit.isFailure(exit) ? exit.cause : Cause.empty)
      )
      assert.deepStrictEqual(yield* awaitNoLeftovers, [])
    }).pipe(provideNode))

  it.scopedLive("a configuration the spawner does not accept", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        CodexAgent.spawn({}, { source: "review", config: { approvalPolicy: "sometimes" } })
      )
      assert.include(error.reason, "invalid config")
    }).pipe(provideNode))
})
