/**
 * A process agent's stdout as a hostile child writes it, byte by byte: invalid UTF-8 is not passed on as
 * if it were the child's text (U+FFFD in place of what it wrote) but reported, and the lines around it go on.
 */
import { ProcessAgent } from "@deputy/agent-process"
import type { Event } from "@deputy/protocol"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { fileURLToPath } from "node:url"

const fixture = fileURLToPath(new URL("./fixtures/bytes-agent.mjs", import.meta.url))

type Write = string | ReadonlyArray<number>

/** Every event the child's writes become, up to its `bytes_end` (or the end, with `BYTES_EXIT`). */
const eventsOf = (writes: ReadonlyArray<Write>, options: Partial<ProcessAgent.Options> = {}, exit = false) =>
  Effect.gen(function*() {
    const agent = yield* ProcessAgent.spawn({
      command: process.execPath,
      args: [fixture],
      env: { BYTES_SCRIPT: JSON.stringify(writes), BYTES_EXIT: exit ? "1" : "0" },
      killGracePeriod: "500 millis",
      ...options
    }, { source: "review" })
    const events = yield* agent.events.pipe(
      Stream.takeUntil((event) => event.msg.type === "bytes_end"),
      Stream.runCollect,
      Effect.timeout("10 seconds")
    )
    return Chunk.toArray(events)
  }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))

const line = (message: string) => JSON.stringify({ id: "t", msg: { type: "agent_message", message } }) + "\n"
const bytes = (text: string) => [...Buffer.from(text)]
const messages = (events: ReadonlyArray<Event.Event>) =>
  events.filter((event) => event.msg.type === "agent_message").map((event) =>
    (event.msg as { message: string }).message
  )
const diagnostics = (events: ReadonlyArray<Event.Event>) =>
  events.filter((event) => event.msg.type === "deputy_diagnostic").map((event) => event.msg as Record<string, unknown>)

describe("ProcessAgent against hostile bytes", () => {
  it.live("a line with invalid UTF-8 is reported as a diagnostic, not passed on with U+FFFD in it", () =>
    Effect.gen(function*() {
      const events = yield* eventsOf([
        line("before"),
        [...bytes(`{"id":"t","msg":{"type":"agent_message","message":"rm `), 0xff, 0xc3, ...bytes(`x"}}\n`)],
        line("after")
      ])
      assert.deepStrictEqual(messages(events), ["before", "after"])
      const [diagnostic, ...others] = diagnostics(events)
      assert.deepStrictEqual(others, [])
      assert.strictEqual(diagnostic?.kind, "malformed_line")
      assert.strictEqual(diagnostic?.line, 2)
      assert.match(String(diagnostic?.message), /^line 2: invalid UTF-8/)
    }))

  it.live("overlong, surrogate and truncated sequences are invalid too; the line numbers stay right", () =>
    Effect.gen(function*() {
      const invalid = [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]
      const events = yield* eventsOf(
        [
          ...invalid.map((
            sequence
          ) => [...bytes(`{"id":"t","msg":{"type":"agent_message","message":"`), ...sequence, ...bytes(`"}}\n`)]),
          line("fine"),
          // The end of stdout in the middle of a character.
          [...bytes(`{"id":"t","msg":{"type":"agent_message","message":"cut `), 0xe2, 0x82]
        ],
        {},
        true
      )
      assert.deepStrictEqual(messages(events), ["fine"])
      assert.deepStrictEqual(diagnostics(events).map((diagnostic) => diagnostic.line), [1, 2, 3, 4, 6])
    }))

  it.live("a character split across two writes is valid", () =>
    Effect.gen(function*() {
      const euro = bytes("€")
      const events = yield* eventsOf([
        [...bytes(`{"id":"t","msg":{"type":"agent_message","message":"price `), euro[0]!],
        [...euro.slice(1), ...bytes(`5"}}\n`)]
      ])
      assert.deepStrictEqual(diagnostics(events), [])
      assert.deepStrictEqual(messages(events), ["price €5"])
    }))

  it.live("strict mode: invalid UTF-8 ends the agent", () =>
    Effect.gen(function*() {
      const failed = yield* eventsOf([
        [...bytes(`{"id":"t","msg":{"type":"agent_message","message":"`), 0xff, ...bytes(`"}}\n`)]
      ], { strict: true }).pipe(Effect.flip)
      assert.strictEqual(failed._tag, "AgentExited")
      assert.match(String((failed as { reason?: string }).reason), /strict mode: line 1: invalid UTF-8/)
    }))
})
