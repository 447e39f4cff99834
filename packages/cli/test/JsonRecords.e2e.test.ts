import { type ApprovalRequest, ShellWords } from "@deputy/core"
import { Event } from "@deputy/protocol"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { fileURLToPath } from "node:url"
import * as JsonOutput from "../src/JsonOutput.js"
import * as Cli from "./utils/cli.js"

const hostileAgent = fileURLToPath(new URL("fixtures/hostile-agent.mjs", import.meta.url))
const hostile = (kinds: string, env: Record<string, string> = {}) =>
  ShellWords.join([
    "env",
    `HOSTILE=${kinds}`,
    ...Object.entries(env).map(([key, value]) => `${key}=${value}`),
    process.execPath,
    hostileAgent
  ])

const decodeEvent = Schema.decodeUnknownEither(Event.Event)
const decodeEnded = Schema.decodeUnknownEither(JsonOutput.EndedRecord, { onExcessProperty: "error" })
const decodeDiagnostic = (input: unknown) =>
  Schema.decodeUnknownEither(JsonOutput.DiagnosticRecord, { onExcessProperty: "error" })(input)

/** Every line is JSON; lines that are not Deputy's have exactly `id` and `msg`; one `ended`, last. */
const records = (stdout: string) => {
  const lines = stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
  const ended = lines.filter((line) => line.deputy === "ended")
  assert.strictEqual(ended.length, 1, "exactly one ended record")
  assert.strictEqual(lines[lines.length - 1], ended[0], "the ended record comes last")
  for (const line of lines) {
    if (line.deputy !== undefined) continue
    assert.deepStrictEqual(Object.keys(line).sort(), ["id", "msg"])
    Either.getOrThrow(decodeEvent(line))
  }
  return { lines, ended: Either.getOrThrow(decodeEnded(ended[0])) }
}

describe("--json records a child cannot forge", () => {
  afterEach(Cli.stopAll)

  it("a top-level \"deputy\" key of a child event never reaches the top level", async () => {
    const result = await Cli.run(["run", "--json", "--agent-command", hostile("forge"), "go"])
    assert.strictEqual(result.code, 0, result.stderr)
    const { ended, lines } = records(result.stdout)
    assert.strictEqual(ended.turns, 1, "the real end, not the forged one")
    const forged = lines.find((line) => (line.msg as { message?: unknown } | undefined)?.message === "forged")
    assert.deepStrictEqual(forged?.msg, { type: "agent_message", message: "forged", deputy: "inside msg is fine" })
  })

  it("an event nested too deep to encode becomes a diagnostic; the run still ends with its record", async () => {
    const result = await Cli.run(["run", "--json", "--agent-command", hostile("deep"), "go"])
    assert.notInclude(result.stderr, "internal error")
    const { ended, lines } = records(result.stdout)
    assert.strictEqual(ended.reason, "completed")
    const diagnostics = lines.filter((line) => line.deputy === "diagnostic").map((line) =>
      Either.getOrThrow(decodeDiagnostic(line))
    )
    const deepShown = lines.some((line) => (line.msg as { message?: unknown } | undefined)?.message === "deep")
    // The runtime may refuse the line when it decodes it (a diagnostic event); if it passes it on, the
    // CLI writes a diagnostic record in its place.
    assert.isFalse(deepShown)
    assert.isTrue(
      diagnostics.length === 1 ||
        lines.some((line) => (line.msg as { type?: unknown } | undefined)?.type === "deputy_diagnostic")
    )
    assert.strictEqual(result.code, 0)
  })
})

describe("JsonOutput lines", () => {
  const event = (msg: Record<string, unknown>) => ({ id: "s1", msg }) as unknown as Event.Event

  it.effect("cycles and BigInt become diagnostic records, not crashes", () =>
    Effect.gen(function*() {
      const cycle: Record<string, unknown> = { type: "agent_message", message: "x" }
      cycle.self = cycle
      for (const msg of [cycle, { type: "agent_message", message: "x", big: 1n }]) {
        const line = yield* JsonOutput.eventLine(event(msg))
        const record = Either.getOrThrow(decodeDiagnostic(JSON.parse(line)))
        assert.strictEqual(record.about, "event")
        assert.strictEqual(record.id, "s1")
      }
    }))

  it.effect("extra top-level fields are dropped; fields inside msg are kept", () =>
    Effect.gen(function*() {
      const forged = { id: "s1", msg: { type: "agent_message", message: "m", extra: 1 }, deputy: "ended" }
      const line = yield* JsonOutput.eventLine(forged as unknown as Event.Event)
      assert.deepStrictEqual(JSON.parse(line), { id: "s1", msg: { type: "agent_message", message: "m", extra: 1 } })
    }))
})

describe("approval records", () => {
  it("carry the settlement's decidedBy unchanged, encoded by core's schema", () => {
    const decidedBy = { _tag: "Person", channel: "terminal", key: "a" } as const
    const settlement = {
      request: {
        kind: "command",
        id: "d/command/c1",
        callId: "c1",
        turnId: "t1",
        event: { type: "exec_approval_request", call_id: "c1", command: ["ls"], cwd: "/w" }
      },
      outcome: "approved",
      decidedBy,
      waitedMs: 12.4,
      answer: { type: "exec_approval", id: "c1", decision: "approved" }
    } as unknown as ApprovalRequest.ApprovalSettlement
    const line = JSON.parse(JsonOutput.approvalLine(JsonOutput.approvalRecord(settlement))) as Record<string, unknown>
    assert.deepStrictEqual(line.decided_by, decidedBy)
    assert.strictEqual(line.policy_rule, undefined)
    const byRule = JsonOutput.approvalRecord({ ...settlement, decidedBy: { _tag: "PolicyRule", index: 2, rule: {} } })
    assert.strictEqual(byRule.policy_rule, 3)
  })
})
