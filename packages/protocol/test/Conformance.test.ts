import { EventMsg } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"

const rolloutsDir = path.join(__dirname, "fixtures", "rollouts")
const files = fs.readdirSync(rolloutsDir).filter((name) => name.endsWith(".jsonl")).sort()

const eventMsgLines = files.flatMap((file) =>
  fs.readFileSync(path.join(rolloutsDir, file), "utf8").split("\n").flatMap((text, index) => {
    if (text.trim() === "") return []
    const record = JSON.parse(text) as { type: string; payload: unknown }
    return record.type === "event_msg" ? [{ file, line: index + 1, payload: record.payload }] : []
  })
)

const decode = Schema.decodeUnknownSync(EventMsg.EventMsg)
const encode = Schema.encodeSync(EventMsg.EventMsg)

describe("real Codex 0.169 rollouts", () => {
  it("the fixtures hold event_msg lines of several types", () => {
    assert.isAtLeast(files.length, 20)
    assert.isAtLeast(eventMsgLines.length, 200)
    const types = new Set(eventMsgLines.map(({ payload }) => (payload as { type: string }).type))
    assert.isAtLeast(types.size, 5)
  })

  it("every event_msg payload decodes and re-encodes to the same JSON text, key order included", () => {
    const failures: Array<string> = []
    for (const { file, line, payload } of eventMsgLines) {
      try {
        assert.strictEqual(JSON.stringify(encode(decode(payload))), JSON.stringify(payload))
      } catch (error) {
        failures.push(`${file}:${line}: ${String(error).slice(0, 300)}`)
      }
    }
    assert.deepStrictEqual(failures, [])
  })

  it("modelled variants decode to their model, not to the opaque fallback", () => {
    const completes = eventMsgLines.map(({ payload }) => decode(payload)).filter((msg) => msg.type === "task_complete")
    assert.isAbove(completes.length, 0)
    for (const msg of completes) {
      // a typed field read through the narrowed model
      if (msg.type === "task_complete" && "last_agent_message" in msg) {
        assert.isTrue(msg.last_agent_message === null || typeof msg.last_agent_message === "string")
      } else {
        assert.fail("task_complete did not decode with its fields")
      }
    }
  })
})
