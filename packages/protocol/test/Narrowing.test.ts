import { EventMsg, JsonLines, Op } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"

// This file is type-checked by `tsc -b`: each `case` reads its variant's fields with their own types, no casts.

/** What a consumer writes to render an event: narrow once, then switch. */
const describeMsg = (msg: EventMsg.EventMsg): string => {
  if (EventMsg.isKnownEventMsg(msg)) {
    switch (msg.type) {
      case "exec_command_begin": {
        const command: ReadonlyArray<string> = msg.command
        return `run ${command.join(" ")} in ${msg.cwd}`
      }
      case "exec_command_end":
        return `exit ${msg.exit_code satisfies number}`
      case "task_complete": {
        const last: string | null = msg.last_agent_message
        return `done: ${last ?? "-"}`
      }
      case "apply_patch_approval_request":
        return `patch ${Object.keys(msg.changes).join(",")}`
      case "turn_aborted":
        return `aborted (${msg.reason})`
      default:
        return msg.type satisfies EventMsg.KnownEventMsg["type"]
    }
  }
  const unknown: EventMsg.UnknownEventMsg = msg
  return `unknown ${unknown.type satisfies string}`
}

const describeOp = (op: Op.Op): string => {
  if (!Op.isKnownOp(op)) return `unknown ${op.type}`
  switch (op.type) {
    case "exec_approval":
      return `${op.id}: ${typeof op.decision === "string" ? op.decision : Object.keys(op.decision).join()}`
    default:
      return op.type
  }
}

const msgOf = (line: string): EventMsg.EventMsg => {
  const result = JsonLines.decodeEvent(line, 1)
  return Either.isRight(result) ? result.right.msg : assert.fail(result.left.message)
}

describe("switch (msg.type) narrows after isKnownEventMsg", () => {
  it("known events reach their case, unknown ones the other branch", () => {
    assert.strictEqual(
      describeMsg(
        msgOf(`{"id":"s","msg":{"type":"exec_command_begin","call_id":"c","command":["ls","-la"],"cwd":"/w"}}`)
      ),
      "run ls -la in /w"
    )
    assert.strictEqual(
      describeMsg(msgOf(`{"id":"s","msg":{"type":"turn_complete","turn_id":"t","last_agent_message":"ok"}}`)),
      "done: ok"
    )
    assert.strictEqual(
      describeMsg(msgOf(`{"id":"s","msg":{"type":"exec_command_begin_v2","command":1}}`)),
      "unknown exec_command_begin_v2"
    )
    assert.strictEqual(describeMsg(msgOf(`{"id":"s","msg":{"type":"agent_message","message":"m"}}`)), "agent_message")
  })

  it("the guards split every decoded event exactly one way, aliases included", () => {
    const known = msgOf(`{"id":"s","msg":{"type":"turn_started","turn_id":"t"}}`)
    assert.isTrue(EventMsg.isKnownEventMsg(known) && !EventMsg.isUnknownEventMsg(known))
    const unknown = msgOf(`{"id":"s","msg":{"type":"turn_started_v2"}}`)
    assert.isTrue(EventMsg.isUnknownEventMsg(unknown) && !EventMsg.isKnownEventMsg(unknown))
    // a hand-made message under an alias name is not a decoded known event
    assert.isFalse(EventMsg.isKnownEventMsg({ type: "turn_started" } as EventMsg.EventMsg))
  })

  it("ops narrow the same way", () => {
    assert.strictEqual(describeOp({ type: "exec_approval", id: "a", decision: "approved" }), "a: approved")
    assert.strictEqual(describeOp({ type: "future_op" } as Op.Op), "unknown future_op")
  })
})
