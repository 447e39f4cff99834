/**
 * The delegate of `@deputy/core` over the real Codex: `CodexAgent.layerScripted` against the scripted model,
 * requests answered by test `Approvals`, commands and patches really run in a temporary directory.
 */
import { CodexAgent, ScriptedModel } from "@deputy/codex"
import { type AgentSpawner, type ApprovalRequest, Approvals, Delegate } from "@deputy/core"
import type { Event } from "@deputy/protocol"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { awaitNoLeftovers, codexVersions, leftovers, provideNode, requestToolsArgs, tempDir } from "./utils.js"

type Json = Record<string, any>

const source = "review" as const

type ApprovalSettlement = ApprovalRequest.ApprovalSettlement

/** Without a codex_notification, nor the one-line bubblewrap warning (on machines without bubblewrap). */
const types = (events: ReadonlyArray<Event.Event>) =>
  events.filter((event) => !(event.msg.type === "warning" && /^codex: bubblewrap/.test(String(event.msg.message))))
    .map((event) => event.msg.type).filter((type) => type !== "codex_notification")

/** Codex against a scripted model with this scenario, as the `AgentSpawner` (the model is in context too). */
const codexOf = (binary: string) =>
(
  scenario: ScriptedModel.Scenario,
  options: Omit<CodexAgent.Options, "codexHome"> = {}
): Layer.Layer<AgentSpawner.AgentSpawner | ScriptedModel.ScriptedModel, unknown> =>
  CodexAgent.layerScripted({ binary, ...options }).pipe(
    Layer.provideMerge(ScriptedModel.layer(scenario)),
    Layer.provide(NodeContext.layer)
  )

/** A one-shot delegate: all its events and how it ended. */
const oneShot = (input: string, cwd?: string) =>
  Effect.gen(function*() {
    const handle = yield* Delegate.oneShot({ source, input, cwd, drainTimeout: "3 seconds" })
    const events = yield* Stream.runCollect(handle.events)
    return { events: Array.from(events), ended: yield* handle.ended }
  }).pipe(Effect.scoped)

/** Reads a delegate's events up to the first of type `type` (and returns them all). */
const until = (handle: Delegate.DelegateHandle, type: string) =>
  Effect.orDie(Delegate.readUntil(handle, (event) => event.msg.type === type))

const userInput = (text: string) => ({
  type: "user_input" as const,
  items: [{ type: "text" as const, text, text_elements: [] }]
})

describe.each(codexVersions)("Delegate over the real Codex $version (end to end)", ({ binary }) => {
  const codex = codexOf(binary)
  it.scopedLive("one-shot, message only: completed with the last agent message", () =>
    Effect.gen(function*() {
      const { ended, events } = yield* oneShot("hello")
      assert.strictEqual(ended.reason, "completed")
      assert.strictEqual(ended.lastAgentMessage, "Hello from the scripted model.")
      assert.deepStrictEqual(types(events), ["task_started", "agent_message", "task_complete"])
    }).pipe(Effect.provide(Layer.merge(codex(ScriptedModel.messageScenario()), Approvals.layerDenyAll))))

  it.scopedLive("one-shot, command approved by the parent: it really runs; the request is not shown", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { ended, events } = yield* oneShot("write it", dir)
      assert.strictEqual(ended.reason, "completed")
      assert.notInclude(types(events), "exec_approval_request")
      assert.include(types(events), "exec_command_end")
      assert.strictEqual(fs.readFileSync(path.join(dir, "out.txt"), "utf8"), "approved\n")
    }).pipe(
      provideNode,
      Effect.provide(Layer.merge(
        codex(ScriptedModel.scenario([ScriptedModel.exec("echo approved > out.txt"), ScriptedModel.message("ok")])),
        Approvals.layerApproveAll
      ))
    ))

  it.scopedLive("one-shot, command denied: it does not run and the turn goes on", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { ended } = yield* oneShot("write it", dir)
      assert.strictEqual(ended.reason, "completed")
      assert.strictEqual(ended.lastAgentMessage, "it was denied")
      assert.isFalse(fs.existsSync(path.join(dir, "out.txt")))
    }).pipe(
      provideNode,
      Effect.provide(Layer.merge(
        codex(ScriptedModel.scenario([ScriptedModel.exec("touch out.txt"), ScriptedModel.message("it was denied")])),
        Approvals.layerDenyAll
      ))
    ))

  it.scopedLive("one-shot, command aborted: the delegate ends aborted and nothing runs", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { ended, events } = yield* oneShot("write it", dir)
      assert.strictEqual(ended.reason, "aborted")
      assert.strictEqual(events.at(-1)?.msg.type, "turn_aborted")
      assert.isFalse(fs.existsSync(path.join(dir, "out.txt")))
    }).pipe(
      provideNode,
      Effect.provide(Layer.merge(
        codex(ScriptedModel.scenario([ScriptedModel.exec("touch out.txt"), ScriptedModel.message("no")])),
        Approvals.layerTest({ command: "abort" })
      ))
    ))

  it.scopedLive("one-shot, patch approved writes the file; denied does not", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const patched = (approvals: Layer.Layer<Approvals.Approvals>) =>
        oneShot("patch it", dir).pipe(
          Effect.provide(Layer.merge(
            codex(ScriptedModel.scenario([
              ScriptedModel.patch(ScriptedModel.addFilePatch("a.txt", "hello\n")),
              ScriptedModel.message("done")
            ])),
            approvals
          ))
        )
      const denied = yield* patched(Approvals.layerDenyAll)
      assert.strictEqual(denied.ended.reason, "completed")
      assert.isFalse(fs.existsSync(path.join(dir, "a.txt")))
      const approved = yield* patched(Approvals.layerApproveAll)
      assert.strictEqual(approved.ended.reason, "completed")
      assert.include(types(approved.events), "patch_apply_end")
      assert.strictEqual(fs.readFileSync(path.join(dir, "a.txt"), "utf8"), "hello\n")
    }).pipe(provideNode))

  it.scopedLive("one-shot, the demo scenario approved: the command and the patch both land", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { ended, events } = yield* oneShot("show me", dir)
      assert.strictEqual(ended.reason, "completed")
      assert.deepStrictEqual(
        types(events).filter((type) => type.endsWith("_end")),
        ["exec_command_end", "patch_apply_end"]
      )
      assert.include(fs.readFileSync(path.join(dir, "deputy-demo.txt"), "utf8"), "hello from a Deputy sub-agent")
      assert.isTrue(fs.existsSync(path.join(dir, "NOTES.md")))
      const asked = yield* Effect.flatMap(Approvals.TestApprovals, (test) => test.asked)
      assert.deepStrictEqual(asked.map((request) => request.kind), ["command", "patch"])
    }).pipe(
      provideNode,
      Effect.provide(Layer.merge(codex(ScriptedModel.demoScenario), Approvals.layerTest()))
    ))

  it.scopedLive("one-shot, user input and permissions are answered by the parent", () =>
    Effect.gen(function*() {
      const { ended } = yield* oneShot("ask me")
      assert.strictEqual(ended.reason, "completed")
      const asked = yield* Effect.flatMap(Approvals.TestApprovals, (test) => test.asked)
      assert.deepStrictEqual(asked.map((request) => request.kind), ["user_input", "permissions"])
      const model = yield* ScriptedModel.ScriptedModel
      const outputs = (yield* model.requests).flatMap((request) =>
        ((request.body as Json).input as Array<Json>).filter((item) => item.type === "function_call_output")
      )
      assert.deepStrictEqual(JSON.parse(outputs.find((item) => item.call_id === "call_ask")!.output), {
        answers: { color: { answers: ["Blue"] } }
      })
      assert.deepStrictEqual(
        JSON.parse(outputs.find((item) => item.call_id === "call_net")!.output).permissions.network,
        { enabled: true }
      )
    }).pipe(Effect.provide(Layer.merge(
      codex(
        ScriptedModel.scenario([
          ScriptedModel.raw({
            type: "function_call",
            call_id: "call_ask",
            name: "request_user_input",
            arguments: JSON.stringify({
              questions: [{
                id: "color",
                header: "Color",
                question: "Which?",
                options: [{ label: "Blue", description: "" }]
              }]
            })
          }),
          ScriptedModel.raw({
            type: "function_call",
            call_id: "call_net",
            name: "request_permissions",
            arguments: JSON.stringify({ permissions: { network: { enabled: true } } })
          }),
          ScriptedModel.message("thanks")
        ]),
        { args: requestToolsArgs }
      ),
      Approvals.layerTest({ userInput: Option.some({ answers: { color: { answers: ["Blue"] } } }) })
    ))))

  it.scopedLive("one-shot, the model fails (HTTP 500): an `error`, then the failed turn ends it errored", () =>
    Effect.gen(function*() {
      const { ended, events } = yield* oneShot("hello")
      assert.deepStrictEqual(types(events), ["task_started", "error", "task_complete"])
      assert.strictEqual(ended.reason, "errored")
      const reported = events.find((event) => event.msg.type === "error")!.msg as { message: string }
      assert.isAbove(reported.message.length, 0)
      assert.strictEqual(ended.message, reported.message)
    }).pipe(
      Effect.provide(Layer.merge(codex(ScriptedModel.scenario([ScriptedModel.httpError(500)])), Approvals.layerDenyAll))
    ))

  it.scopedLive("interactive: two turns, approved_for_session is not asked again, interrupt mid-turn", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const handle = yield* Delegate.interactive({ source, cwd: dir, drainTimeout: "3 seconds" })
      const first = yield* handle.submit(userInput("log"))
      const turn1 = yield* until(handle, "task_complete")
      assert.strictEqual(turn1.at(-1)?.id, first)
      yield* handle.submit(userInput("log again"))
      yield* until(handle, "task_complete")
      const asked = yield* Effect.flatMap(Approvals.TestApprovals, (test) => test.asked)
      assert.strictEqual(asked.length, 1, "approved_for_session was asked again")
      assert.strictEqual(fs.readFileSync(path.join(dir, "log.txt"), "utf8"), "once\nonce\n")

      // A long command, interrupted by the caller while it runs.
      const third = yield* handle.submit(userInput("sleep"))
      yield* until(handle, "exec_command_begin")
      yield* handle.submit({ type: "interrupt" })
      const aborted = yield* until(handle, "turn_aborted")
      assert.strictEqual(aborted.at(-1)?.id, third)

      const ended = yield* handle.shutdown
      assert.strictEqual(ended.reason, "interrupted")
      assert.isFalse(ended.drainTimedOut)
    }).pipe(
      provideNode,
      Effect.provide(Layer.merge(
        codex(ScriptedModel.scenario(
          [ScriptedModel.exec("echo once >> log.txt"), ScriptedModel.message("logged")],
          [ScriptedModel.exec("echo once >> log.txt"), ScriptedModel.message("logged")],
          [ScriptedModel.exec("sleep 30"), ScriptedModel.message("slept")]
        )),
        Approvals.layerTest({ command: "approved_for_session" })
      ))
    ))

  it.scopedLive("interactive: shutdown while a request waits on the parent aborts it; Codex drains", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const asked = yield* Deferred.make<void>()
      const { ended, events } = yield* Effect.gen(function*() {
        const handle = yield* Delegate.interactive({ source, cwd: dir, drainTimeout: "3 seconds" })
        yield* handle.submit(userInput("write it"))
        yield* Deferred.await(asked)
        const ended = yield* handle.shutdown
        const events = yield* Stream.runCollect(handle.events)
        return { ended, events: Array.from(events) }
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(
          codex(ScriptedModel.scenario([ScriptedModel.exec("touch out.txt"), ScriptedModel.message("no")])),
          Approvals.layerTest({ command: () => Effect.zipRight(Deferred.succeed(asked, undefined), Effect.never) })
        ))
      )
      assert.strictEqual(ended.reason, "interrupted")
      assert.isFalse(ended.drainTimedOut)
      assert.include(types(events), "turn_aborted")
      assert.isFalse(fs.existsSync(path.join(dir, "out.txt")))
    }).pipe(provideNode))

  it.scopedLive("interactive: a request Codex withdraws (turn interrupted) settles aborted, its prompt taken down", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const asked = yield* Deferred.make<void>()
      const takenDown = yield* Deferred.make<void>()
      const settled = yield* Deferred.make<ApprovalSettlement>()
      const ended = yield* Effect.gen(function*() {
        const handle = yield* Delegate.interactive({
          source,
          cwd: dir,
          drainTimeout: "3 seconds",
          onSettled: (settlement) => Effect.asVoid(Deferred.succeed(settled, settlement))
        })
        yield* handle.submit(userInput("write it"))
        yield* Deferred.await(asked)
        yield* handle.submit({ type: "interrupt" })
        yield* until(handle, "turn_aborted")
        // Without the withdrawal the request waits on the parent until the delegate ends.
        const settlement = yield* Deferred.await(settled).pipe(
          Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => "the withdrawn request never settled" })
        )
        assert.strictEqual(settlement.outcome, "aborted")
        assert.strictEqual(settlement.request.kind, "command")
        assert.match(settlement.reason ?? "", /Codex withdrew the request/)
        assert.deepStrictEqual(settlement.decidedBy, { _tag: "Cancelled", reason: settlement.reason ?? "" })
        yield* Deferred.await(takenDown)
        return yield* handle.shutdown
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(
          codex(ScriptedModel.scenario([ScriptedModel.exec("touch out.txt"), ScriptedModel.message("no")])),
          Approvals.layerTest({
            command: () =>
              Effect.zipRight(Deferred.succeed(asked, undefined), Effect.never).pipe(
                Effect.onInterrupt(() => Effect.asVoid(Deferred.succeed(takenDown, undefined)))
              )
          })
        ))
      )
      assert.strictEqual(ended.reason, "interrupted")
      assert.isFalse(fs.existsSync(path.join(dir, "out.txt")))
    }).pipe(provideNode))

  it.scopedLive("interactive: Codex killed mid-turn ends the delegate as agent_exited with the signal", () =>
    Effect.gen(function*() {
      const handle = yield* Delegate.interactive({ source })
      yield* handle.submit(userInput("think"))
      yield* until(handle, "task_started")
      const appServer = leftovers().find((line) => line.includes("app-server"))!
      process.kill(Number(appServer.split(" ")[0]), "SIGKILL")
      const ended = yield* handle.ended
      assert.strictEqual(ended.reason, "agent_exited")
      assert.strictEqual(ended.signal, "SIGKILL")
      assert.match(ended.message ?? "", /killed by SIGKILL/)
    }).pipe(
      Effect.provide(Layer.merge(codex(ScriptedModel.scenario([ScriptedModel.stall])), Approvals.layerApproveAll))
    ))

  it.live("leaves no Codex process behind", () =>
    Effect.map(awaitNoLeftovers, (left) => assert.deepStrictEqual(left, [])))
})
