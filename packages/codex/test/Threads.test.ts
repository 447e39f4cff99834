/**
 * Threads Codex spawns itself (`spawn_agent`), as the translator sees them: reported as `deputy_thread`
 * events (`Supervisor.ThreadEvent`), their turns, messages and usage kept apart from the session's own
 * (a sub-agent's `turn/completed` is not the session's turn ending), their requests naming them. The
 * messages are those Codex 0.171 sent in a real run (`features.multi_agent_v2`), ids shortened.
 */
import type { Event } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { Translator } from "../src/internal/translate.js"

type Json = Record<string, any>

const translator = () => {
  const t = new Translator(() => {}, Date.now, new Set())
  t.mainThread = "main"
  return t
}

const feed = (t: Translator, message: Json) => {
  t.line(Either.right({ line: 1, text: JSON.stringify(message) }))
  return { events: t.takeEvents(), replies: t.takeReplies().map((reply) => JSON.parse(reply) as Json) }
}

const reports = (events: ReadonlyArray<Event.Event>) =>
  events.filter((event) => event.msg.type === "deputy_thread").map((event) => event.msg as Json)

const types = (events: ReadonlyArray<Event.Event>) => events.map((event) => event.msg.type)

const subAgentStarted = (threadId: string, agentThreadId: string, agentPath: string, id = "spawn_1") => ({
  method: "item/started",
  params: {
    item: { type: "subAgentActivity", id, kind: "started", agentThreadId, agentPath, model: "gpt-5.5" },
    threadId,
    turnId: "turn-main"
  }
})

const mainTurnStarted = { method: "turn/started", params: { threadId: "main", turn: { id: "turn-main" } } }

describe("threads Codex spawned itself, in the translator", () => {
  it("a subAgentActivity `started` item reports the thread: name from its agent path, the spawning call and turn", () => {
    const t = translator()
    feed(t, mainTurnStarted)
    const { events } = feed(t, subAgentStarted("main", "sub", "/root/galileo"))
    assert.deepStrictEqual(reports(events), [{
      type: "deputy_thread",
      event: "started",
      thread_id: "sub",
      name: "galileo",
      turn_id: "turn-main",
      call_id: "spawn_1"
    }])
    // reported once, however often Codex says it
    assert.deepStrictEqual(reports(feed(t, subAgentStarted("main", "sub", "/root/galileo")).events), [])
  })

  it("the nested thread's turn, messages and usage are its own, never the session's", () => {
    const t = translator()
    feed(t, mainTurnStarted)
    feed(t, subAgentStarted("main", "sub", "/root/galileo"))
    const seen: Array<Event.Event> = []
    for (
      const message of [
        { method: "turn/started", params: { threadId: "sub", turn: { id: "turn-sub" } } },
        {
          method: "item/completed",
          params: { threadId: "sub", turnId: "turn-sub", item: { type: "agentMessage", id: "m", text: "sub done" } }
        },
        {
          method: "thread/tokenUsage/updated",
          params: { threadId: "sub", turnId: "turn-sub", tokenUsage: { total: { totalTokens: 220 }, last: {} } }
        },
        {
          method: "turn/completed",
          params: {
            threadId: "sub",
            turn: { id: "turn-sub", status: "completed", items: [{ type: "agentMessage", text: "sub done" }] }
          }
        }
      ]
    ) seen.push(...feed(t, message).events)
    const own = types(seen).filter((type) => type !== "deputy_thread" && type !== "codex_notification")
    assert.deepStrictEqual(own, [], "no task_started, agent_message, token_count or task_complete of the session")
    assert.deepStrictEqual(
      reports(seen).map(({ event, last_agent_message, reason, total_tokens }) => ({
        event,
        last_agent_message,
        reason,
        total_tokens
      })),
      [
        { event: "turn_started", last_agent_message: undefined, reason: undefined, total_tokens: undefined },
        { event: "usage", last_agent_message: undefined, reason: undefined, total_tokens: 220 },
        { event: "turn_ended", last_agent_message: "sub done", reason: "completed", total_tokens: undefined }
      ]
    )
    assert.strictEqual(t.activeTurn?.turnId, "turn-main", "the session's turn is still in progress")
    const end = feed(t, {
      method: "turn/completed",
      params: { threadId: "main", turn: { id: "turn-main", status: "completed" } }
    })
    assert.include(types(end.events), "task_complete")
  })

  it("a nested thread's request names it and is answered; a thread never reported is named too", () => {
    const t = translator()
    feed(t, mainTurnStarted)
    feed(t, subAgentStarted("main", "sub", "/root/galileo"))
    feed(t, { method: "turn/started", params: { threadId: "sub", turn: { id: "turn-sub" } } })
    assert.strictEqual(t.nestedTurn("sub"), "turn-sub")
    const ask = (id: number, threadId: string) =>
      feed(t, {
        id,
        method: "item/commandExecution/requestApproval",
        params: { threadId, turnId: "turn-sub", itemId: `i${id}`, command: "echo sub > sub.txt", cwd: "/repo" }
      }).events.find((event) => event.msg.type === "exec_approval_request")!.msg as Json
    assert.deepStrictEqual(ask(1, "sub").deputy_thread, { id: "sub", parentId: "main", nickname: "galileo" })
    assert.deepStrictEqual(ask(2, "stranger").deputy_thread, { id: "stranger" }, "fails closed under a supervisor")
    assert.notProperty(ask(3, "main"), "deputy_thread")
    const { replies } = feed(t, {}) // nothing
    assert.deepStrictEqual(replies, [])
    t.answer({ type: "exec_approval", id: "i1", decision: "approved" } as never)
    assert.deepStrictEqual(t.takeReplies().map((reply) => JSON.parse(reply)), [{
      id: 1,
      result: { decision: "accept" }
    }])
  })

  it("a sub-agent of a sub-agent names its parent thread; one whose parent is unknown names that parent too", () => {
    const t = translator()
    feed(t, mainTurnStarted)
    feed(t, subAgentStarted("main", "sub", "/root/galileo"))
    const nested = reports(feed(t, subAgentStarted("sub", "subsub", "/root/galileo/kepler", "spawn_2")).events)
    assert.strictEqual(nested[0]?.parent_thread_id, "sub")
    assert.strictEqual(nested[0]?.name, "kepler")
    const orphan = reports(feed(t, subAgentStarted("nowhere", "orphan", "/x/y", "spawn_3")).events)
    assert.strictEqual(orphan[0]?.parent_thread_id, "nowhere", "the supervisor refuses it")
  })

  it("thread/started with parentThreadId (0.169) reports it with its nickname and role", () => {
    const t = translator()
    const { events } = feed(t, {
      method: "thread/started",
      params: { thread: { id: "sub", parentThreadId: "main", agentNickname: "Galileo", agentRole: "explorer" } }
    })
    assert.deepStrictEqual(
      reports(events).map(({ name, parent_thread_id, role }) => ({ name, parent_thread_id, role })),
      [
        { name: "Galileo", parent_thread_id: undefined, role: "explorer" }
      ]
    )
  })

  it("past 1,000 threads the others are not tracked, with one diagnostic", () => {
    const t = translator()
    let started = 0
    let diagnostics = 0
    for (let i = 0; i < 1_500; i++) {
      const { events } = feed(t, subAgentStarted("main", `sub-${i}`, `/root/a${i}`, `spawn_${i}`))
      started += reports(events).length
      diagnostics += events.filter((event) => event.msg.type === "deputy_diagnostic").length
    }
    assert.strictEqual(started, 1_000)
    assert.strictEqual(diagnostics, 1)
  })
})
