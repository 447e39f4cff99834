/**
 * A Codex sub-agent's thread outlives its turns: its `turn/completed` is the end of a turn
 * (`deputy_thread` `turn_ended`), not of the thread, so a `followup_task` (a second turn of the same
 * thread) is reported and routed as that thread's again. The thread ends with `thread/closed` or the
 * session's shutdown (`ended`: interrupted mid-turn or before its first turn, else with no reason of its
 * own: the supervisor keeps its last turn's). The turn messages are those Codex 0.169 and 0.171 sent in a
 * real run of a follow-up task, ids shortened; `thread/closed` of a sub-agent was not seen in a run (the
 * `multi_agent_v2` tools cannot close an agent), its shape is the app-server's.
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
  events.filter((event) => event.msg.type === "deputy_thread").map((event) => {
    const { event: kind, last_agent_message, reason } = event.msg as Json
    return { event: kind, reason, last_agent_message }
  })

const subAgentStarted = {
  method: "item/started",
  params: {
    item: {
      type: "subAgentActivity",
      id: "spawn_1",
      kind: "started",
      agentThreadId: "sub",
      agentPath: "/root/galileo"
    },
    threadId: "main",
    turnId: "turn-main"
  }
}

const subTurn = (t: Translator, turnId: string, text: string, rpcId: number) => {
  const seen: Array<Event.Event> = []
  seen.push(...feed(t, { method: "turn/started", params: { threadId: "sub", turn: { id: turnId } } }).events)
  const asked = feed(t, {
    id: rpcId,
    method: "item/commandExecution/requestApproval",
    params: { threadId: "sub", turnId, itemId: `call_${rpcId}`, command: "echo sub >> sub.txt", cwd: "/repo" }
  }).events
  seen.push(...asked)
  t.answer({ type: "exec_approval", id: `call_${rpcId}`, decision: "approved" } as never)
  const replies = t.takeReplies().map((reply) => JSON.parse(reply) as Json)
  seen.push(
    ...feed(t, {
      method: "turn/completed",
      params: { threadId: "sub", turn: { id: turnId, status: "completed", items: [{ type: "agentMessage", text }] } }
    }).events
  )
  return { seen, asked, replies }
}

describe("a Codex sub-agent's thread across its turns, in the translator", () => {
  it("turn/completed of a sub-agent ends its turn, not its thread; a follow-up turn is its own again", () => {
    const t = translator()
    feed(t, { method: "turn/started", params: { threadId: "main", turn: { id: "turn-main" } } })
    feed(t, subAgentStarted)
    const first = subTurn(t, "turn-sub-1", "sub done", 1)
    assert.deepStrictEqual(reports(first.seen), [
      { event: "turn_started", reason: undefined, last_agent_message: undefined },
      { event: "turn_ended", reason: "completed", last_agent_message: "sub done" }
    ])
    // Codex 0.171's `subAgentActivity` `interacted` (the followup_task call) is opaque
    feed(t, {
      method: "item/started",
      params: { item: { type: "subAgentActivity", id: "follow_1", kind: "interacted" }, threadId: "main" }
    })
    const second = subTurn(t, "turn-sub-2", "sub done 2", 2)
    assert.deepStrictEqual(reports(second.seen), [
      { event: "turn_started", reason: undefined, last_agent_message: undefined },
      { event: "turn_ended", reason: "completed", last_agent_message: "sub done 2" }
    ])
    const request = second.asked.find((event) => event.msg.type === "exec_approval_request")!.msg as Json
    assert.deepStrictEqual(request.deputy_thread, { id: "sub", parentId: "main", nickname: "galileo" })
    assert.deepStrictEqual(second.replies, [{ id: 2, result: { decision: "accept" } }])
    assert.strictEqual(t.knowsThread("sub"), true)
  })

  it("thread/closed ends the thread: after a finished turn with no reason of its own, mid-turn interrupted", () => {
    const t = translator()
    feed(t, { method: "turn/started", params: { threadId: "main", turn: { id: "turn-main" } } })
    feed(t, subAgentStarted)
    subTurn(t, "turn-sub-1", "sub done", 1)
    assert.deepStrictEqual(reports(feed(t, { method: "thread/closed", params: { threadId: "sub" } }).events), [
      { event: "ended", reason: undefined, last_agent_message: undefined }
    ])

    const u = translator()
    feed(u, { method: "turn/started", params: { threadId: "main", turn: { id: "turn-main" } } })
    feed(u, subAgentStarted)
    feed(u, { method: "turn/started", params: { threadId: "sub", turn: { id: "turn-sub-1" } } })
    assert.deepStrictEqual(reports(feed(u, { method: "thread/closed", params: { threadId: "sub" } }).events), [
      { event: "ended", reason: "interrupted", last_agent_message: undefined }
    ])
  })

  it("the session's shutdown_complete ends the threads not closed yet, once each, just before it", () => {
    const t = translator()
    feed(t, { method: "turn/started", params: { threadId: "main", turn: { id: "turn-main" } } })
    feed(t, subAgentStarted)
    subTurn(t, "turn-sub-1", "sub done", 1)
    feed(t, {
      method: "item/started",
      params: {
        item: { type: "subAgentActivity", id: "spawn_2", kind: "started", agentThreadId: "busy", agentPath: "/root/b" },
        threadId: "main",
        turnId: "turn-main"
      }
    })
    feed(t, { method: "turn/started", params: { threadId: "busy", turn: { id: "turn-busy" } } })
    feed(t, {
      method: "item/started",
      params: {
        item: { type: "subAgentActivity", id: "spawn_3", kind: "started", agentThreadId: "gone", agentPath: "/root/c" },
        threadId: "main",
        turnId: "turn-main"
      }
    })
    assert.deepStrictEqual(reports(feed(t, { method: "thread/closed", params: { threadId: "gone" } }).events), [
      { event: "ended", reason: "interrupted", last_agent_message: undefined }
    ], "closed before its first turn")
    t.emit("shutdown", { type: "shutdown_complete" } as never)
    const events = t.takeEvents()
    assert.deepStrictEqual(events.map((event) => [event.msg.type, (event.msg as Json).thread_id]), [
      ["deputy_thread", "sub"],
      ["deputy_thread", "busy"],
      ["shutdown_complete", undefined]
    ])
    assert.deepStrictEqual(reports(events), [
      { event: "ended", reason: undefined, last_agent_message: undefined },
      { event: "ended", reason: "interrupted", last_agent_message: undefined }
    ])
  })
})
