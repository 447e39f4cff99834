/**
 * `deputy inbox`, `approve`, `deny` and `log` in parts: what the inbox shows (faithfully, whatever the
 * sub-agent sent), the answer each kind of request gets, times for `--since`, and the command line.
 */
import type { ApprovalRequest } from "@deputy/core"
import type { ApprovalLedger } from "@deputy/ledger"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Usage from "@effect/cli/Usage"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as os from "node:os"
import * as CommandLine from "../src/internal/commandLine.js"
import * as LedgerCommands from "../src/internal/LedgerCommands.js"
import * as Text from "../src/internal/Text.js"
import * as Requests from "./utils/requests.js"

const entryOf = (
  request: ApprovalRequest.ApprovalRequest,
  at: number,
  pid = process.pid
): ApprovalLedger.LedgerEntry => ({
  seq: 1,
  at,
  type: "pending",
  requestId: request.id,
  delegateId: request.delegateId,
  kind: request.kind,
  process: { host: os.hostname(), pid, runId: "r" },
  digest: "d",
  data: { request },
  prevHash: "0".repeat(64),
  hash: "h"
})

const pendingOf = (
  request: ApprovalRequest.ApprovalRequest,
  at: number,
  deadlineAt?: number
): ApprovalLedger.PendingEntry => ({
  entry: entryOf(request, at),
  request,
  ...(deadlineAt === undefined ? {} : { deadlineAt })
})

describe("LedgerCommands", () => {
  it("the inbox lists each request with its id, what it asks, where from, who waits, the deadline", () => {
    const now = Date.parse("2026-12-02T04:00:00Z")
    const request = { ...Requests.command(["npm", "test"]), path: "root/review" }
    const lines = LedgerCommands.inboxLines([pendingOf(request, now - 65_000, now + 30_000)], now, "/tmp/l.db")
    const text = lines.join("\n")
    assert.include(text, "1 request waiting (ledger: /tmp/l.db)")
    assert.include(text, request.id)
    assert.include(text, "run `npm test` in /repo")
    assert.include(text, "from review · root/review")
    assert.include(text, `asked 1m 5s ago by pid ${process.pid}`)
    assert.include(text, "deadline in 30.0s")
    assert.include(text, "deputy approve ID")
    assert.deepStrictEqual(LedgerCommands.inboxLines([], now, "x"), ["No request is waiting (ledger: x)."])
  })

  it("the inbox shows what a sub-agent sent faithfully: controls, bidi and invisible characters escaped", () =>
    FastCheck.assert(
      FastCheck.property(FastCheck.string({ unit: "binary" }), (hostile) => {
        const request = {
          ...Requests.command(["echo", hostile]),
          id: `d/command/${hostile}`,
          path: hostile
        }
        const text = LedgerCommands.inboxLines([pendingOf(request, 0)], 1000, "x").join("\n")
        // Nothing hidden reaches the terminal: every line is as `Text.visible` would show it.
        return text.split("\n").every((line) => !Text.hasHidden(line))
      })
    ))

  it("--json: one record per request with provenance, process and whether it is still alive", () => {
    const request = Requests.permissions()
    const now = Date.now()
    const record = LedgerCommands.inboxRecord(pendingOf(request, now - 2000), now)
    assert.strictEqual(record.id, request.id)
    assert.strictEqual(record.kind, "permissions")
    assert.strictEqual(record.waited_ms, 2000)
    assert.strictEqual(record.process_alive, true)
    assert.deepStrictEqual(record.request, request)
    const elsewhere = LedgerCommands.inboxRecord(pendingOf(request, 1000), 3000, `not-${os.hostname()}`)
    assert.strictEqual(elsewhere.process_alive, null)
  })

  it("approve and deny give each kind its answer; a question cannot be approved without answers", () => {
    const none = { forSession: false, reason: Option.none<string>() }
    assert.deepStrictEqual(
      LedgerCommands.answerFor(Requests.command(), "approve", none),
      Either.right({ _tag: "Decision" as const, decision: "approved" as const })
    )
    assert.deepStrictEqual(
      LedgerCommands.answerFor(Requests.patch(), "approve", { ...none, forSession: true }),
      Either.right({ _tag: "Decision" as const, decision: "approved_for_session" as const })
    )
    assert.deepStrictEqual(
      LedgerCommands.answerFor(Requests.command(), "deny", { ...none, reason: Option.some("not on main") }),
      Either.right({ _tag: "Decision" as const, decision: { denied: { rejection: "not on main" } } })
    )
    const granted = LedgerCommands.answerFor(Requests.permissions(), "approve", none)
    assert.isTrue(
      Either.isRight(granted) && granted.right._tag === "Permissions" && Option.isSome(granted.right.response)
    )
    const refused = LedgerCommands.answerFor(Requests.permissions(), "deny", none)
    assert.isTrue(
      Either.isRight(refused) && refused.right._tag === "Permissions" && Option.isNone(refused.right.response)
    )
    assert.isTrue(Either.isLeft(LedgerCommands.answerFor(Requests.userInput(), "approve", none)))
    const noAnswers = LedgerCommands.answerFor(Requests.userInput(), "deny", none)
    assert.isTrue(Either.isRight(noAnswers) && noAnswers.right._tag === "UserInput")
  })

  it("--since / --until: ISO times or a duration ago", () => {
    const now = Date.parse("2026-12-02T04:00:00Z")
    assert.deepStrictEqual(LedgerCommands.parseTime("2h", now), Option.some(now - 7_200_000))
    assert.deepStrictEqual(LedgerCommands.parseTime("90s", now), Option.some(now - 90_000))
    assert.deepStrictEqual(
      LedgerCommands.parseTime("2026-12-01T10:00:00Z", now),
      Option.some(Date.parse("2026-12-01T10:00:00Z"))
    )
    assert.isTrue(Option.isNone(LedgerCommands.parseTime("yesterday-ish", now)))
  })

  it("a log line: sequence, time, type, outcome, who decided, the request, the reason", () => {
    const request = Requests.command()
    const line = LedgerCommands.logLine({
      ...entryOf(request, Date.parse("2026-12-02T04:00:00Z")),
      seq: 7,
      type: "settled",
      outcome: "lost",
      decidedBy: { _tag: "Cancelled", reason: "gone" },
      data: { reason: "its deputy process is gone\u202e", waitedMs: 1500 }
    })
    assert.include(line, "#7  2026-12-02T04:00:00.000Z  settled  lost by")
    assert.include(line, "after 1.5s")
    assert.include(line, request.id)
    assert.include(line, "its deputy process is gone\\u202e")
    const denied = LedgerCommands.logLine({
      ...entryOf(request, 0),
      type: "decided",
      outcome: "denied",
      data: { answer: { _tag: "Decision", decision: { denied: { rejection: "not on main\x1b[2J" } } } }
    })
    assert.include(denied, "(not on main\\x1b[2J)")
  })

  it("the command line knows the ledger commands and their flags", () => {
    for (
      const args of [
        ["inbox", "--json"],
        ["approve", "d/command/c1", "--as", "alice", "--for-session"],
        ["deny", "d/command/c1", "--reason", "no"],
        ["log", "--kind", "command", "--outcome", "lost", "--since", "1h", "--verify", "--json"],
        ["run", "--approval", "inbox", "--ledger", "sqlite:/tmp/x.db", "go"]
      ]
    ) {
      assert.deepStrictEqual(CommandLine.check(args), { _tag: "Valid" }, args.join(" "))
    }
    const typo = CommandLine.check(["inbx"])
    assert.strictEqual(typo._tag === "Invalid" ? typo.message : "", "unknown command \"inbx\"; did you mean inbox?")
    const flag = CommandLine.check(["deny", "x", "--reasn", "y"])
    assert.include(flag._tag === "Invalid" ? flag.message : "", "did you mean --reason?")
    const kind = CommandLine.check(["log", "--kind", "shell"])
    assert.include(kind._tag === "Invalid" ? kind.message : "", "is not one of command, patch")
    const help = CommandLine.check(["log", "--help"])
    assert.include(help._tag === "Help" ? help.text : "", "deputy log --verify")
  })

  it("the command-line table knows exactly the flags @effect/cli parses for each ledger command", () => {
    const flagsOf = (usage: Usage.Usage) =>
      new Set(
        [...HelpDoc.toAnsiText(Usage.getHelp(usage)).matchAll(/--[a-z][a-z-]*/g)].map((match) => match[0].slice(2))
      )
    for (
      const [command, spec] of [
        [LedgerCommands.inbox, CommandLine.ledgerCommands.inbox],
        [LedgerCommands.approve, CommandLine.ledgerCommands.approve],
        [LedgerCommands.deny, CommandLine.ledgerCommands.deny],
        [LedgerCommands.log, CommandLine.ledgerCommands.log]
      ] as const
    ) {
      const parsed = flagsOf(Command.getUsage(command as Command.Command<string, never, unknown, unknown>))
      const table = spec.flags.map((flag) => flag.name).filter((name) => name !== "help")
      assert.deepStrictEqual([...parsed].sort(), [...table].sort(), spec.name)
    }
  })
})
