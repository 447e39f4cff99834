/**
 * The app-server → Deputy translation, replayed on recorded Codex 0.169 sessions (test/fixtures, copied
 * from real `codex app-server` runs) and on synthetic messages shaped after its generated TypeScript.
 */
import { ShellWords } from "@deputy/core"
import { Event, type Op } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as JsonRpc from "../src/internal/jsonRpc.js"
import {
  commandDecision,
  errorInfo,
  fileChangeDecision,
  fileChanges,
  fromAppServerDecision,
  Translator
} from "../src/internal/translate.js"

type Json = Record<string, any>

const load = (name: string): Array<{ readonly from: "client" | "codex"; readonly message: Json }> =>
  fs.readFileSync(new URL(`./fixtures/${name}.jsonl`, import.meta.url), "utf8").trim().split("\n").map((line) =>
    JSON.parse(line)
  )

const decodeEvent = Schema.decodeUnknownSync(Event.Event)
const encodeEvent = Schema.encodeSync(Event.Event)

/** Every event the translator makes is a valid `Event` that re-encodes to the same JSON. */
const checked = (events: ReadonlyArray<Event.Event>): ReadonlyArray<Event.Event> => {
  for (const event of events) {
    const json = JSON.parse(JSON.stringify(event))
    assert.deepStrictEqual(encodeEvent(decodeEvent(json)), json)
  }
  return events
}

/**
 * Replays a recorded session: Codex's lines go through the translator as text; the client's `turn/start`s are
 * numbered `sub-1`, `sub-2`, ...; `answer` may answer an event with an op.
 */
const replay = (name: string, answer: (event: Event.Event) => Op.Op | undefined = () => undefined) => {
  const turnStarts = new Map<number, string>()
  const translator: Translator = new Translator(
    (id, outcome) => {
      const submission = turnStarts.get(id as number)
      if (submission !== undefined && outcome._tag === "Success") {
        translator.turnStartAnswered(submission, (outcome.result as Json).turn.id)
      }
    },
    Date.now,
    new Set()
  )
  const events: Array<Event.Event> = []
  const replies: Array<Json> = []
  const recordedReplies: Array<Json> = []
  let line = 0
  for (const { from, message } of load(name)) {
    if (from === "client") {
      if (message.method === "turn/start") {
        const submission = `sub-${turnStarts.size + 1}`
        turnStarts.set(message.id, submission)
        translator.turnStartSent(submission)
      } else if (!("method" in message)) {
        recordedReplies.push(message)
      }
      continue
    }
    translator.line(Either.right({ line: ++line, text: JSON.stringify(message) }))
    const batch = translator.takeEvents()
    events.push(...batch)
    for (const event of batch) {
      const op = answer(event)
      if (op !== undefined) {
        translator.answer(op)
        events.push(...translator.takeEvents())
      }
    }
    replies.push(...translator.takeReplies().map((reply) => JSON.parse(reply)))
  }
  return { events: checked(events), replies, recordedReplies, translator }
}

/** The translated (not opaque) event types, in order. */
/** The recordings were made without bubblewrap installed: Codex's notice about it (now a `warning`) is left out. */
const isBubblewrapWarning = (event: Event.Event) =>
  event.msg.type === "warning" && String((event.msg as Json).message).startsWith("codex: bubblewrap")

const types = (events: ReadonlyArray<Event.Event>) =>
  events.filter((event) => !isBubblewrapWarning(event)).map((event) => event.msg.type).filter((type) =>
    type !== "codex_notification"
  )

const approve = (decision: Json[string]) => (event: Event.Event): Op.Op | undefined =>
  event.msg.type === "exec_approval_request"
    ? { type: "exec_approval", id: String(event.msg.approval_id ?? event.msg.call_id), turn_id: event.id, decision }
    : event.msg.type === "apply_patch_approval_request"
    ? { type: "patch_approval", id: String(event.msg.call_id), decision }
    : undefined

describe("recorded sessions", () => {
  it("a command approved: request, begin/end with exit code and output, the turn completes", () => {
    const { events, recordedReplies, replies } = replay("untrusted-accept", approve("approved"))
    assert.deepStrictEqual(types(events), [
      "task_started",
      "exec_command_begin",
      "exec_approval_request",
      "exec_command_end",
      "token_count",
      "agent_message_delta",
      "agent_message",
      "token_count",
      "task_complete"
    ])
    assert.deepStrictEqual(replies, recordedReplies)
    const turnEvents = events.filter((event) => event.msg.type !== "codex_notification" || event.id !== "")
    assert.isTrue(
      turnEvents.slice(turnEvents.findIndex((event) => event.msg.type === "task_started"))
        .every((event) => event.id === "sub-1")
    )
    const request = events.find((event) => event.msg.type === "exec_approval_request")!.msg as Json
    assert.deepStrictEqual(request.command, ["/bin/bash", "-c", "echo hello > approved.txt; cat approved.txt"])
    assert.strictEqual(request.call_id, "call_fake_1")
    assert.strictEqual(request.cwd, "/repo")
    assert.strictEqual(request.turn_id, "01a20bb2-363d-7771-b9e5-8634d3f86155")
    assert.deepStrictEqual(request.available_decisions, [
      "approved",
      {
        approved_execpolicy_amendment: {
          proposed_execpolicy_amendment: ["/bin/bash", "-c", "echo hello > approved.txt; cat approved.txt"]
        }
      },
      "abort"
    ])
    const end = events.find((event) => event.msg.type === "exec_command_end")!.msg as Json
    assert.strictEqual(end.exit_code, 0)
    assert.strictEqual(end.aggregated_output, "hello\n")
    assert.strictEqual(end.status, "completed")
    const complete = events.find((event) => event.msg.type === "task_complete")!.msg as Json
    assert.strictEqual(complete.last_agent_message, "Done: the command printed hello.")
  })

  it("a command denied: `decline`, the item ends declined, the turn goes on", () => {
    const { events, recordedReplies, replies } = replay("untrusted-decline", approve("denied"))
    assert.deepStrictEqual(replies, recordedReplies)
    assert.deepStrictEqual(replies, [{ id: 0, result: { decision: "decline" } }])
    const end = events.find((event) => event.msg.type === "exec_command_end")!.msg as Json
    assert.strictEqual(end.status, "declined")
    assert.strictEqual(types(events).at(-1), "task_complete")
  })

  it("a command aborted: `cancel`, the turn ends interrupted", () => {
    const { events, recordedReplies, replies } = replay("untrusted-cancel", approve("abort"))
    assert.deepStrictEqual(replies, recordedReplies)
    assert.deepStrictEqual(events.at(-1), {
      id: "sub-1",
      msg: {
        type: "turn_aborted",
        turn_id: "01a20bb2-44de-7c10-8daa-fccd6cf94e81",
        reason: "interrupted",
        completed_at: 1795492562,
        duration_ms: 274
      }
    })
  })

  it("a patch: its changes come from the fileChange item; approved with `accept`", () => {
    const { events, recordedReplies, replies } = replay("untrusted-patch-readonly", approve("approved"))
    assert.deepStrictEqual(replies, recordedReplies)
    assert.deepStrictEqual(types(events).slice(0, 4), [
      "task_started",
      "patch_apply_begin",
      "apply_patch_approval_request",
      "patch_apply_end"
    ])
    const request = events.find((event) => event.msg.type === "apply_patch_approval_request")!.msg as Json
    assert.deepStrictEqual(request.changes, {
      "/repo/hello.txt": { type: "add", content: "hello from the fake model\n" }
    })
    assert.strictEqual(request.call_id, "call_fake_1")
    const end = events.find((event) => event.msg.type === "patch_apply_end")!.msg as Json
    assert.isTrue(end.success)
    assert.isTrue(types(events).includes("turn_diff"))
  })

  it("approved for session: `acceptForSession`; the second turn runs without asking", () => {
    const { events, recordedReplies, replies } = replay("untrusted-accept-for-session", approve("approved_for_session"))
    assert.deepStrictEqual(replies, recordedReplies)
    const requests = events.filter((event) => event.msg.type === "exec_approval_request")
    assert.deepStrictEqual(requests.map((event) => event.id), ["sub-1"])
    assert.deepStrictEqual(
      events.filter((event) => event.msg.type === "task_complete").map((event) => event.id),
      ["sub-1", "sub-2"]
    )
  })

  it("an interrupt: the turn ends `turn_aborted{interrupted}` under its submission id", () => {
    const { events } = replay("interrupt")
    assert.deepStrictEqual(types(events), ["task_started", "turn_aborted"])
    assert.strictEqual(events.at(-1)!.id, "sub-1")
  })

  it("two turns: each turn's events carry the id of the submission that started it", () => {
    const { events, recordedReplies, replies } = replay("2turns", approve("approved"))
    assert.deepStrictEqual(replies, recordedReplies)
    const started = events.filter((event) => event.msg.type === "task_started").map((event) => event.id)
    const completed = events.filter((event) => event.msg.type === "task_complete").map((event) => event.id)
    assert.deepStrictEqual(started, ["sub-1", "sub-2"])
    assert.deepStrictEqual(completed, ["sub-1", "sub-2"])
    assert.deepStrictEqual(
      events.filter((event) => event.msg.type === "exec_approval_request").map((event) => event.id),
      ["sub-1", "sub-1", "sub-2", "sub-2"]
    )
  })

  it("a dynamic tool call nobody handles is answered with a failed call at once, and reported", () => {
    const { events, replies } = replay("dynamic-tool")
    assert.deepStrictEqual(replies, [{
      id: 0,
      result: {
        contentItems: [{
          type: "inputText",
          text: "Deputy has no handler for the dynamic tool `ask_parent`: the call was not run."
        }],
        success: false
      }
    }])
    const diagnostic = events.find((event) => event.msg.type === "deputy_diagnostic")!
    assert.strictEqual((diagnostic.msg as Json).kind, "unknown_request")
  })

  it("nothing is dropped: every notification becomes an event", () => {
    const recorded = load("2turns").filter((entry) => entry.from === "codex" && "method" in entry.message).length
    const { events } = replay("2turns", approve("approved"))
    assert.strictEqual(events.length, recorded)
  })
})

describe("synthetic messages", () => {
  const make = () => {
    const responses: Array<[JsonRpc.RequestId, unknown]> = []
    const translator = new Translator((id, outcome) => responses.push([id, outcome]))
    const feed = (...messages: Array<Json>) => {
      for (const message of messages) translator.message(JsonRpc.classify(message)!)
      return checked(translator.takeEvents())
    }
    return { translator, feed, responses }
  }
  const turn = (status: string, extra: Json = {}) => ({
    method: "turn/completed",
    params: { threadId: "t", turn: { id: "turn-1", items: [], status, error: null, ...extra } }
  })

  it("malformed and over-long lines become diagnostics, reading goes on", () => {
    const { translator } = make()
    translator.line(Either.right({ line: 1, text: "{not json" }))
    translator.line(Either.right({ line: 2, text: "[1,2]" }))
    translator.line(
      Either.right({ line: 3, text: "{\"method\":\"turn/started\",\"params\":{\"turn\":{\"id\":\"x\"}}}" })
    )
    const events = checked(translator.takeEvents())
    assert.deepStrictEqual(
      events.map((event) => [event.msg.type, (event.msg as Json).kind, (event.msg as Json).line]),
      [
        ["deputy_diagnostic", "malformed_line", 1],
        ["deputy_diagnostic", "malformed_line", 2],
        ["task_started", undefined, undefined]
      ]
    )
  })

  it("a 20,000-deep JSON-RPC line is a diagnostic, not a stack overflow", () => {
    const { translator } = make()
    translator.line(Either.right({ line: 7, text: "[".repeat(20_000) + "]".repeat(20_000) }))
    const events = checked(translator.takeEvents())
    assert.deepStrictEqual(events.map((event) => event.msg.type), ["deputy_diagnostic"])
    assert.include((events[0]!.msg as Json).message, "nested deeper than")
  })

  it("a patched file named __proto__ stays a visible key of the changes", () => {
    const changes = fileChanges([{ path: "__proto__", kind: { type: "add" }, diff: "x" }, {
      path: "b",
      kind: { type: "add" },
      diff: "y"
    }])
    assert.deepStrictEqual(Object.keys(changes), ["__proto__", "b"])
    assert.strictEqual(Object.getPrototypeOf(changes), Object.prototype)
  })

  it("responses to the client's requests are routed back, results and errors", () => {
    const { feed, responses } = make()
    feed({ id: 3, result: { ok: true } }, { id: 4, error: { code: -32600, message: "bad" } })
    assert.deepStrictEqual(responses, [
      [3, { _tag: "Success", result: { ok: true } }],
      [4, { _tag: "Failure", error: { code: -32600, message: "bad" } }]
    ])
  })

  it("a failed turn: one `error` (not repeated after the `error` notification), then `task_complete` with it", () => {
    const { feed, translator } = make()
    translator.turnStartSent("sub-1")
    const error = { message: "boom", codexErrorInfo: "internalServerError", additionalDetails: null }
    const events = feed(
      { method: "turn/started", params: { threadId: "t", turn: { id: "turn-1" } } },
      {
        method: "error",
        params: {
          error: { ...error, codexErrorInfo: { responseStreamDisconnected: { httpStatusCode: 502 } } },
          willRetry: true,
          threadId: "t",
          turnId: "turn-1"
        }
      },
      { method: "error", params: { error, willRetry: false, threadId: "t", turnId: "turn-1" } },
      turn("failed", { error })
    )
    assert.deepStrictEqual(events.map((event) => [event.id, event.msg.type]), [
      ["sub-1", "task_started"],
      ["sub-1", "stream_error"],
      ["sub-1", "error"],
      ["sub-1", "task_complete"]
    ])
    assert.deepStrictEqual((events[1]!.msg as Json).codex_error_info, {
      response_stream_disconnected: { http_status_code: 502 }
    })
    assert.deepStrictEqual(events[3]!.msg, {
      type: "task_complete",
      turn_id: "turn-1",
      last_agent_message: null,
      error: { message: "boom", codex_error_info: "internal_server_error" }
    })
    const alone = make()
    const failed = alone.feed(turn("failed", { error }))
    assert.deepStrictEqual(failed.map((event) => event.msg.type), ["error", "task_complete"])
  })

  it("a permissions request round trip uses the item id; the grant is spelled the app-server's way", () => {
    const { feed, translator } = make()
    const [event] = feed({
      method: "item/permissions/requestApproval",
      id: 7,
      params: {
        threadId: "t",
        turnId: "turn-1",
        itemId: "call_p",
        environmentId: null,
        startedAtMs: 1,
        cwd: "/w",
        reason: "needs the network",
        permissions: { network: { enabled: true }, fileSystem: { read: null, write: ["/w/out"] } }
      }
    })
    assert.deepStrictEqual(event!.msg, {
      type: "request_permissions",
      call_id: "call_p",
      turn_id: "turn-1",
      reason: "needs the network",
      permissions: { network: { enabled: true }, file_system: { read: null, write: ["/w/out"] } },
      cwd: "/w"
    })
    translator.answer({
      type: "request_permissions_response",
      id: "call_p",
      response: { permissions: { network: { enabled: true } }, scope: "session" }
    })
    assert.deepStrictEqual(translator.takeReplies().map((line) => JSON.parse(line)), [
      { id: 7, result: { permissions: { network: { enabled: true } }, scope: "session" } }
    ])
  })

  it("a user-input request round trip, keyed by the event id (the turn's submission)", () => {
    const { feed, translator } = make()
    translator.turnStartSent("sub-9")
    const events = feed(
      { method: "turn/started", params: { threadId: "t", turn: { id: "turn-1" } } },
      {
        method: "item/tool/requestUserInput",
        id: "r1",
        params: {
          threadId: "t",
          turnId: "turn-1",
          itemId: "call_q",
          isBlocking: true,
          autoResolutionMs: null,
          questions: [{
            id: "color",
            header: "Color",
            question: "Which?",
            isOther: true,
            isSecret: false,
            options: null
          }]
        }
      }
    )
    assert.strictEqual(events[1]!.id, "sub-9")
    assert.strictEqual(events[1]!.msg.type, "request_user_input")
    translator.answer({
      type: "user_input_answer",
      id: "sub-9",
      response: { answers: { color: { answers: ["red"] } } }
    })
    assert.deepStrictEqual(translator.takeReplies().map((line) => JSON.parse(line)), [
      { id: "r1", result: { answers: { color: { answers: ["red"] } } } }
    ])
  })

  it("a request Codex resolves before it is answered becomes a withdrawal; one answered stays a notification", () => {
    const { feed, translator } = make()
    const [request, withdrawn] = feed(
      {
        method: "item/commandExecution/requestApproval",
        id: 7,
        params: { threadId: "t", turnId: "turn-1", itemId: "call_9", command: "ls", cwd: "/", availableDecisions: [] }
      },
      { method: "serverRequest/resolved", params: { threadId: "t", requestId: 7 } }
    )
    assert.strictEqual(request!.msg.type, "exec_approval_request")
    assert.strictEqual(withdrawn!.id, request!.id)
    assert.deepInclude(withdrawn!.msg as Json, { type: "deputy_request_withdrawn", kind: "command", call_id: "call_9" })
    assert.isFalse(translator.busy)
    feed({
      method: "item/fileChange/requestApproval",
      id: 8,
      params: { threadId: "t", turnId: "turn-1", itemId: "call_10" }
    })
    assert.isTrue(translator.busy)
    translator.answer({ type: "patch_approval", id: "call_10", decision: "approved" })
    const [after] = feed({ method: "serverRequest/resolved", params: { threadId: "t", requestId: 8 } })
    assert.strictEqual(after!.msg.type, "codex_notification")
  })

  it("Codex's bubblewrap notice becomes one short warning, once per shown-once set; other config warnings pass", () => {
    const shown = new Set<string>()
    const notice = {
      method: "configWarning",
      params: { summary: "Codex could not find bubblewrap on PATH. Install bubblewrap with your OS package manager." }
    }
    const other = { method: "configWarning", params: { summary: "Invalid configuration; using defaults." } }
    const first = new Translator(() => undefined, Date.now, shown)
    const second = new Translator(() => undefined, Date.now, shown)
    first.message(JsonRpc.classify(notice)!)
    first.message(JsonRpc.classify(other)!)
    second.message(JsonRpc.classify(notice)!)
    const events = [...checked(first.takeEvents()), ...checked(second.takeEvents())]
    assert.deepStrictEqual(events.map((event) => event.msg.type), ["warning", "codex_notification"])
    assert.match((events[0]!.msg as Json).message, /^codex: bubblewrap is not installed, Codex uses its bundled copy/)
    assert.notInclude((events[0]!.msg as Json).message, "\n")
  })

  it("a turn Deputy timed out ends with an error and task_complete{error}, not turn_aborted; retries are counted", () => {
    let now = 1000
    const translator = new Translator(() => undefined, () => now)
    const feed = (...messages: Array<Json>) => {
      for (const message of messages) translator.message(JsonRpc.classify(message)!)
      return checked(translator.takeEvents())
    }
    feed({ method: "turn/started", params: { threadId: "t", turn: { id: "turn-1", items: [], status: "inProgress" } } })
    const progress = translator.lastProgress
    now = 2000
    feed({
      method: "error",
      params: { threadId: "t", turnId: "turn-1", willRetry: true, error: { message: "Reconnecting... 1/5" } }
    })
    assert.strictEqual(translator.retries, 1)
    assert.strictEqual(translator.lastProgress, progress, "a retry notice is not progress")
    feed({ method: "item/agentMessage/delta", params: { threadId: "t", turnId: "turn-1", delta: "x" } })
    assert.strictEqual(translator.lastProgress, 2000)
    translator.timeOut("turn-1", "no progress")
    const events = feed(turn("interrupted"))
    assert.deepStrictEqual(events.map((event) => event.msg.type), ["error", "task_complete"])
    assert.strictEqual((events[1]!.msg as Json).error.message, "no progress")
    assert.isUndefined(translator.activeTurn)
  })

  it("an answer for no pending request (answered, or resolved by Codex) becomes a diagnostic", () => {
    const { feed, translator } = make()
    feed(
      {
        method: "item/fileChange/requestApproval",
        id: 1,
        params: { threadId: "t", turnId: "turn-1", itemId: "call_1", startedAtMs: 1 }
      },
      { method: "serverRequest/resolved", params: { threadId: "t", requestId: 1 } }
    )
    translator.answer({ type: "patch_approval", id: "call_1", decision: "approved" })
    assert.deepStrictEqual(translator.takeReplies(), [])
    const [diagnostic] = checked(translator.takeEvents())
    assert.strictEqual(diagnostic!.msg.type, "deputy_diagnostic")
    assert.strictEqual((diagnostic!.msg as Json).kind, "protocol")
  })

  it("an interrupt right after `turn/start` was answered finds the turn; a turn that ended is not revived", () => {
    const { feed, translator } = make()
    translator.turnStartSent("sub-1")
    translator.turnStartAnswered("sub-1", "turn-1")
    assert.deepStrictEqual(translator.activeTurn, { turnId: "turn-1", submissionId: "sub-1" })
    let idle = false
    translator.whenIdle(() => idle = true)
    feed(turn("interrupted"))
    assert.isTrue(idle)
    assert.strictEqual(translator.activeTurn, undefined)
    translator.turnStartAnswered("sub-1", "turn-1")
    assert.strictEqual(translator.activeTurn, undefined)
  })

  it("unknown notifications pass through whole", () => {
    const { feed } = make()
    const params = { threadId: "t", status: { type: "idle" }, extra: [1, 2] }
    assert.deepStrictEqual(feed({ method: "thread/status/changed", params }), [
      { id: "", msg: { type: "codex_notification", method: "thread/status/changed", params } }
    ])
  })
})

describe("mappings", () => {
  it("review decisions → app-server decisions (CODEX.md table)", () => {
    assert.strictEqual(commandDecision("approved"), "accept")
    assert.strictEqual(commandDecision("approved_for_session"), "acceptForSession")
    assert.strictEqual(commandDecision("denied"), "decline")
    assert.strictEqual(commandDecision({ denied: { rejection: "no" } }), "decline")
    assert.strictEqual(commandDecision("timed_out"), "decline")
    assert.strictEqual(commandDecision("abort"), "cancel")
    assert.deepStrictEqual(
      commandDecision({ approved_execpolicy_amendment: { proposed_execpolicy_amendment: ["echo", "hi"] } }),
      { acceptWithExecpolicyAmendment: { execpolicy_amendment: ["echo", "hi"] } }
    )
    assert.deepStrictEqual(
      commandDecision({ network_policy_amendment: { network_policy_amendment: { host: "x.org", action: "allow" } } }),
      { applyNetworkPolicyAmendment: { network_policy_amendment: { host: "x.org", action: "allow" } } }
    )
    assert.strictEqual(
      fileChangeDecision({ approved_execpolicy_amendment: { proposed_execpolicy_amendment: [] } }),
      "accept"
    )
    assert.strictEqual(fileChangeDecision("timed_out"), "decline")
    assert.strictEqual(fileChangeDecision("abort"), "cancel")
  })

  it("available decisions read back as review decisions", () => {
    assert.deepStrictEqual(
      ["accept", "acceptForSession", "decline", "cancel", "bogus"].map(fromAppServerDecision),
      ["approved", "approved_for_session", "denied", "abort", undefined]
    )
    for (const decision of ["approved", "approved_for_session", "denied", "abort"] as const) {
      assert.strictEqual(fromAppServerDecision(commandDecision(decision)), decision)
    }
  })

  it("error info is snake_cased like Codex's own events", () => {
    assert.deepStrictEqual(errorInfo("contextWindowExceeded"), "context_window_exceeded")
    assert.deepStrictEqual(errorInfo({ httpConnectionFailed: { httpStatusCode: null } }), {
      http_connection_failed: { http_status_code: null }
    })
  })

  it("command strings split back into argv", () => {
    assert.deepStrictEqual(ShellWords.toArgv("/bin/bash -lc 'echo hi > a.txt; cat a.txt'"), [
      "/bin/bash",
      "-lc",
      "echo hi > a.txt; cat a.txt"
    ])
    assert.deepStrictEqual(ShellWords.toArgv(`git commit -m "say \\"hi\\"" it\\'s`), [
      "git",
      "commit",
      "-m",
      "say \"hi\"",
      "it's"
    ])
    assert.deepStrictEqual(ShellWords.toArgv("echo 'open"), ["bash", "-lc", "echo 'open"])
    assert.deepStrictEqual(ShellWords.toArgv(""), ["bash", "-lc", ""])
    assert.deepStrictEqual(ShellWords.split("a  ''  b"), ["a", "", "b"])
  })

  it("requests carry the W3C trace carrier; notifications and replies do not", () => {
    const traceparent = "00-1234567890abcdef1234567890abcdef-1234567890abcdef-01"
    assert.deepStrictEqual(JSON.parse(JsonRpc.request(4, "turn/start", { a: 1 }, { traceparent, tracestate: "k=v" })), {
      method: "turn/start",
      id: 4,
      params: { a: 1 },
      trace: { traceparent, tracestate: "k=v" }
    })
    assert.deepStrictEqual(JSON.parse(JsonRpc.request(4, "turn/start", {}, undefined)), {
      method: "turn/start",
      id: 4,
      params: {}
    })
    assert.deepStrictEqual(JSON.parse(JsonRpc.notification("initialized")), { method: "initialized" })
  })
})
