import {
  AgentStatus,
  Event,
  EventMsg,
  FileChange,
  InitialHistory,
  Op,
  Permissions,
  RequestUserInput,
  ReviewDecision,
  SessionSource,
  Submission,
  UserInput,
  W3cTraceContext
} from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

/** Decodes JSON, encodes it back, and checks the result is the same JSON. */
const roundTrips = <A, I>(schema: Schema.Schema<A, I>, json: unknown) => {
  const decoded = Schema.decodeUnknownSync(schema)(json)
  const encoded = Schema.encodeSync(schema)(decoded)
  assert.deepStrictEqual(JSON.parse(JSON.stringify(encoded)), json)
  return decoded
}

const rejects = <A, I>(schema: Schema.Schema<A, I>, json: unknown, pattern: RegExp) => {
  const result = Schema.decodeUnknownEither(schema)(json)
  assert.isTrue(Either.isLeft(result), `expected ${JSON.stringify(json)} to be rejected`)
  if (Either.isLeft(result)) assert.match(result.left.message, pattern)
}

describe("PROTOCOL.md examples round-trip", () => {
  it("Submission with trace", () => {
    const submission = roundTrips(Submission.Submission, {
      id: "sub-1",
      op: { type: "interrupt" },
      trace: {
        traceparent: "00-1234567890abcdef1234567890abcdef-1234567890abcdef-01",
        tracestate: "vendor=state"
      }
    })
    assert.strictEqual(submission.op.type, "interrupt")
    assert.strictEqual(submission.trace?.tracestate, "vendor=state")
  })

  it("W3cTraceContext may be empty", () => {
    roundTrips(W3cTraceContext.W3cTraceContext, {})
  })

  it("every op the delegate needs", () => {
    const ops: Array<unknown> = [
      { type: "interrupt" },
      { type: "shutdown" },
      {
        type: "user_input",
        items: [{ type: "text", text: "hi", text_elements: [] }],
        final_output_json_schema: { type: "object" }
      },
      { type: "exec_approval", id: "a1", turn_id: "t1", decision: "approved" },
      { type: "exec_approval", id: "a1", decision: { denied: { rejection: "no" } } },
      { type: "patch_approval", id: "c1", decision: "abort" },
      { type: "user_input_answer", id: "t1", response: { answers: { q1: { answers: ["yes"] } } } },
      {
        type: "request_permissions_response",
        id: "c1",
        response: { permissions: { network: { enabled: true }, file_system: { write: ["/tmp"] } }, scope: "session" }
      },
      { type: "resolve_elicitation", server_name: "s", request_id: 7, decision: "accept", content: { a: 1 } },
      { type: "resolve_elicitation", server_name: "s", request_id: "r", decision: "cancel" },
      { type: "dynamic_tool_response", id: "d", response: { contentItems: [] } },
      { type: "compact" },
      { type: "review", review_request: { target: { type: "uncommittedChanges" }, user_facing_hint: "h" } },
      { type: "run_user_shell_command", command: "ls" },
      { type: "thread_rollback", num_turns: 2 },
      { type: "clean_background_terminals" }
    ]
    for (const op of ops) roundTrips(Op.Op, op)
  })

  it("request_user_input_response decodes as user_input_answer and encodes under the primary name", () => {
    const op = Schema.decodeUnknownSync(Op.Op)({
      type: "request_user_input_response",
      id: "t",
      response: { answers: {} }
    })
    assert.isTrue(Op.isOp(op, "user_input_answer"))
    assert.deepStrictEqual(Schema.encodeSync(Op.Op)(op), {
      type: "user_input_answer",
      id: "t",
      response: { answers: {} }
    })
  })

  it("every UserInput item", () => {
    for (
      const item of [
        { type: "text", text: "t", text_elements: [] },
        { type: "image", image_url: "data:x" },
        { type: "local_image", path: "/a.png" },
        { type: "skill", name: "n", path: "/p" },
        { type: "mention", name: "n", path: "/p" }
      ]
    ) roundTrips(UserInput.UserInput, item)
  })

  it("every ReviewDecision form, both denied forms", () => {
    for (
      const decision of [
        "approved",
        "approved_for_session",
        { approved_execpolicy_amendment: { proposed_execpolicy_amendment: ["git", "status"] } },
        { network_policy_amendment: { network_policy_amendment: { host: "example.com", action: "allow" } } },
        "denied",
        { denied: { rejection: "not now" } },
        "timed_out",
        "abort"
      ]
    ) roundTrips(ReviewDecision.ReviewDecision, decision)
    rejects(ReviewDecision.ReviewDecision, "maybe", /Expected/)
  })

  it("FileChange, RequestPermissionProfile, scopes and responses", () => {
    roundTrips(FileChange.FileChange, { type: "add", content: "hi\n" })
    roundTrips(FileChange.FileChange, { type: "delete", content: "old" })
    roundTrips(FileChange.FileChange, { type: "update", unified_diff: "@@", move_path: null })
    roundTrips(FileChange.FileChange, { type: "update", unified_diff: "@@", move_path: "b.txt" })
    roundTrips(Permissions.RequestPermissionProfile, { network: null, file_system: { read: ["/a"], write: [] } })
    roundTrips(Permissions.PermissionGrantScope, "turn")
    roundTrips(Permissions.PermissionGrantScope, "session")
    roundTrips(Permissions.RequestPermissionsResponse, { permissions: {}, scope: "turn" })
    roundTrips(RequestUserInput.RequestUserInputResponse, { answers: { q: { answers: ["a", "b"] } } })
  })

  it("sources, history and status", () => {
    for (const source of ["cli", "vscode", "exec", "mcp", { custom: "x" }]) {
      roundTrips(SessionSource.SessionSource, source)
    }
    for (
      const source of [
        "review",
        "compact",
        "memory_consolidation",
        { other: "label" },
        {
          thread_spawn: {
            parent_thread_id: "p",
            depth: 1,
            agent_path: null,
            agent_nickname: "n",
            agent_role: null
          }
        }
      ]
    ) {
      roundTrips(SessionSource.SubAgentSource, source)
      roundTrips(SessionSource.SessionSource, { subagent: source })
    }
    roundTrips(InitialHistory.InitialHistory, "New")
    roundTrips(InitialHistory.InitialHistory, "Cleared")
    roundTrips(InitialHistory.InitialHistory, {
      Resumed: {
        conversation_id: "c",
        history: [{ type: "event_msg", payload: { type: "agent_message", message: "m" } }],
        rollout_path: "/r.jsonl"
      }
    })
    roundTrips(InitialHistory.InitialHistory, { Forked: [{ type: "response_item", payload: {} }] })
    for (
      const status of [
        "pending_init",
        "running",
        "interrupted",
        { completed: "done" },
        { completed: null },
        { errored: "boom" },
        "shutdown",
        "not_found"
      ]
    ) roundTrips(AgentStatus.AgentStatus, status)
  })

  it("the request events the delegate routes", () => {
    const exec = roundTrips(EventMsg.EventMsg, {
      type: "exec_approval_request",
      call_id: "c1",
      approval_id: "a1",
      turn_id: "t1",
      command: ["bash", "-lc", "ls"],
      cwd: "/w",
      reason: "why",
      network_approval_context: { host: "h", protocol: "https" },
      proposed_execpolicy_amendment: ["ls"],
      available_decisions: ["approved", "abort", { denied: { rejection: "r" } }],
      parsed_cmd: [{ type: "unknown", cmd: "ls" }],
      started_at_ms: 1
    })
    assert.isTrue(EventMsg.isEventMsg(exec, "exec_approval_request") && exec.approval_id === "a1")
    roundTrips(EventMsg.EventMsg, {
      type: "apply_patch_approval_request",
      call_id: "c2",
      changes: { "a.txt": { type: "add", content: "x" } },
      reason: null,
      grant_root: null
    })
    roundTrips(EventMsg.EventMsg, {
      type: "request_permissions",
      call_id: "c3",
      turn_id: "t",
      permissions: { network: { enabled: true } }
    })
    roundTrips(EventMsg.EventMsg, {
      type: "request_user_input",
      call_id: "c4",
      questions: [{
        id: "q",
        header: "H",
        question: "Q?",
        isOther: false,
        options: [{ label: "a", description: "d" }]
      }]
    })
  })
})

describe("unknown types, unknown fields, aliases", () => {
  it("an unknown event type passes through unchanged", () => {
    const json = { type: "future_event", nested: { deep: [1, { x: null }] }, n: 1.5 }
    const msg = roundTrips(EventMsg.EventMsg, json)
    assert.strictEqual(msg.type, "future_event")
  })

  it("an unknown op type passes through unchanged", () => {
    roundTrips(Op.Op, { type: "set_thread_name", name: "x" })
  })

  it("unknown fields on a known event and in nested objects survive", () => {
    roundTrips(Event.Event, {
      id: "s1",
      extra_top: true,
      msg: {
        type: "task_started",
        turn_id: "t",
        turn_attribution: { turn_id: "t", parent_turn_id: null },
        future_field: [1, 2]
      }
    })
    roundTrips(EventMsg.EventMsg, {
      type: "token_count",
      info: {
        total_token_usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3, cache_write_input_tokens: 0 },
        last_token_usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3 },
        model_context_window: null
      },
      rate_limits: null
    })
  })

  it("turn_started and turn_complete decode and encode as task_started and task_complete", () => {
    const started = Schema.decodeUnknownSync(EventMsg.EventMsg)({ type: "turn_started", turn_id: "t" })
    assert.strictEqual(started.type, "task_started")
    assert.deepStrictEqual(Schema.encodeSync(EventMsg.EventMsg)(started), { type: "task_started", turn_id: "t" })
    const complete = Schema.decodeUnknownSync(EventMsg.EventMsg)({
      type: "turn_complete",
      turn_id: "t",
      last_agent_message: null
    })
    assert.strictEqual(complete.type, "task_complete")
    assert.deepStrictEqual(Schema.encodeSync(EventMsg.EventMsg)(complete), {
      type: "task_complete",
      turn_id: "t",
      last_agent_message: null
    })
  })

  it("turn_aborted without a turn id, with every reason", () => {
    for (const reason of ["interrupted", "replaced", "review_ended", "budget_limited"]) {
      roundTrips(EventMsg.EventMsg, { type: "turn_aborted", reason })
      roundTrips(EventMsg.EventMsg, { type: "turn_aborted", turn_id: null, reason })
    }
  })
})

describe("garbage is rejected with a readable message", () => {
  it("a known type with wrong fields is an error, not an opaque event", () => {
    rejects(
      EventMsg.EventMsg,
      { type: "task_complete", turn_id: 3, last_agent_message: null },
      /turn_id[\s\S]*Expected string/
    )
    rejects(EventMsg.EventMsg, { type: "exec_approval_request", call_id: "c" }, /command|cwd/)
    rejects(Op.Op, { type: "exec_approval", id: "x", decision: "perhaps" }, /decision/)
  })

  it("non-objects and missing types are errors", () => {
    rejects(EventMsg.EventMsg, "hello", /Expected/)
    rejects(EventMsg.EventMsg, { no_type: 1 }, /type/)
    rejects(EventMsg.EventMsg, { type: 42 }, /Expected string, actual 42/)
    rejects(Event.Event, { msg: { type: "x" } }, /id/)
    rejects(Submission.Submission, { id: "s", op: null }, /op/)
  })
})
