/**
 * The approval ledger from the command line: `deputy inbox` (the requests waiting, across every Deputy
 * process sharing the ledger), `deputy approve ID`, `deputy deny ID [--reason …]` (the waiting sub-agent
 * receives the answer; the first answer wins, a later one is told who decided and when), and `deputy
 * log` (every entry, filtered; `--verify` checks the hash chain).
 *
 * Everything a sub-agent sent is shown through `Text` (controls and invisible characters as escapes).
 *
 * @since 0.2.0
 */
import { type ApprovalInbox, type ApprovalRequest, Approvals, DecidedBy } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import { RunFailed, UsageError } from "../Errors.js"
import * as LedgerSetup from "../LedgerSetup.js"
import * as Render from "../Render.js"
import * as Flags from "./Flags.js"
import * as Text from "./Text.js"

/**
 * The exit code of `deputy log --verify` when the chain is broken.
 *
 * @since 0.2.0
 * @category exit codes
 */
export const brokenChainExitCode = 3

const json = (what: string) => Options.boolean("json").pipe(Options.withDescription(what))

/** Runs `effect` with the ledger `--ledger` names (`off` is a usage error here). */
const withLedger = <A, E, R>(
  spec: Option.Option<string>,
  command: string,
  effect: Effect.Effect<A, E, R | ApprovalLedger.ApprovalLedger>,
  whenMissing?: (filename: string) => Effect.Effect<A>
) =>
  Effect.gen(function*() {
    const choice = yield* LedgerSetup.parse(spec, command)
    if (choice._tag === "Off") {
      return yield* new UsageError({ message: `deputy ${command} needs a ledger; --ledger off has none`, command })
    }
    // Reading commands never create a ledger (nor its directory).
    if (choice._tag === "Sqlite" && !fs.existsSync(choice.filename)) {
      return yield* (whenMissing === undefined
        ? new NoLedger({ filename: choice.filename })
        : whenMissing(choice.filename))
    }
    return yield* Effect.provide(effect, LedgerSetup.layer(choice))
  })

/**
 * There is no ledger file yet (a `deputy run` creates it).
 *
 * @since 0.2.0
 * @category errors
 */
export class NoLedger extends Data.TaggedError("NoLedger")<{ readonly filename: string }> {
  override get message(): string {
    return `there is no approval ledger at ${this.filename} yet (a deputy run creates it; --ledger names another)`
  }
}

const iso = (ms: number) => new Date(ms).toISOString()

/** A one-line, escaped description of a request (what it asks). */
const what = (request: ApprovalRequest.ApprovalRequest | undefined): string =>
  request === undefined ? "(request not recorded)" : Text.oneLine(Render.describeRequest(request, process.cwd()), 160)

/** Where a request comes from, escaped: source, tree path. */
const provenance = (request: ApprovalRequest.ApprovalRequest): string => {
  const source = typeof request.source === "string"
    ? request.source
    : "other" in request.source
    ? String((request.source as { readonly other: unknown }).other)
    : JSON.stringify(request.source)
  return Text.oneLine(`${source}${request.path === undefined ? "" : ` · ${request.path}`}`, 120)
}

// ---------------------------------------------------------------------------------------------------------
// deputy inbox

/**
 * A pending request as `deputy inbox --json` prints it (one a line).
 *
 * @since 0.2.0
 * @category models
 */
export interface InboxRecord {
  readonly id: string
  readonly kind: ApprovalRequest.ApprovalKind
  readonly summary: string
  readonly delegate_id: string
  readonly source: unknown
  readonly path?: string | undefined
  readonly chain?: unknown
  readonly asked_at: string
  readonly waited_ms: number
  readonly deadline_at?: string | undefined
  readonly process: { readonly host: string; readonly pid: number; readonly run_id: string }
  /** Whether the asking `deputy` still runs (`null`: another host, unknown). */
  readonly process_alive: boolean | null
  readonly request: ApprovalRequest.ApprovalRequest
}

/**
 * The `--json` record of a pending request.
 *
 * @since 0.2.0
 * @category formatting
 */
export const inboxRecord = (
  pending: ApprovalLedger.PendingEntry,
  now: number,
  host: string = os.hostname()
): InboxRecord => {
  const { entry, request } = pending
  return {
    id: request.id,
    kind: request.kind,
    summary: Render.describeRequest(request, process.cwd()),
    delegate_id: request.delegateId,
    source: request.source,
    ...(request.path === undefined ? {} : { path: request.path }),
    ...(request.chain === undefined ? {} : { chain: request.chain }),
    asked_at: iso(entry.at),
    waited_ms: Math.max(0, now - entry.at),
    ...(pending.deadlineAt === undefined ? {} : { deadline_at: iso(pending.deadlineAt) }),
    process: { host: entry.process.host, pid: entry.process.pid, run_id: entry.process.runId },
    process_alive: entry.process.host === host
      ? !LedgerSetup.isGone(entry.process, { host, pid: -1 }, LedgerSetup.isAlive, entry.at)
      : null,
    request
  }
}

/**
 * The lines `deputy inbox` prints for people.
 *
 * @since 0.2.0
 * @category formatting
 */
export const inboxLines = (
  pending: ReadonlyArray<ApprovalLedger.PendingEntry>,
  now: number,
  target: string,
  host: string = os.hostname()
): Array<string> => {
  if (pending.length === 0) return [`No request is waiting (ledger: ${Text.visible(target)}).`]
  const lines = [
    `${pending.length} request${pending.length === 1 ? "" : "s"} waiting (ledger: ${Text.visible(target)}):`
  ]
  for (const item of pending) {
    const record = inboxRecord(item, now, host)
    const gone = record.process_alive === false
      ? " — its deputy is gone: an answer now is kept for when the same request is asked again; " +
        "the next run settles it lost if unanswered"
      : ""
    const deadline = item.deadlineAt === undefined
      ? ""
      : item.deadlineAt > now
      ? `, deadline in ${Render.duration(item.deadlineAt - now)}`
      : ", deadline passed"
    lines.push(
      "",
      `  ${Text.visible(record.id)}`,
      `    ${what(item.request)}`,
      `    from ${provenance(item.request)}, asked ${
        Render.duration(record.waited_ms)
      } ago by pid ${record.process.pid} on ${Text.visible(record.process.host)}${deadline}${gone}`
    )
  }
  lines.push("", "Answer with: deputy approve ID | deputy deny ID [--reason TEXT]")
  return lines
}

/**
 * `deputy inbox [--json] [--ledger LEDGER]`.
 *
 * @since 0.2.0
 * @category commands
 */
export const inbox = Command.make("inbox", {
  json: json("One JSON object per pending request, one a line."),
  ledger: LedgerSetup.option
}, (options) =>
  withLedger(
    options.ledger,
    "inbox",
    Effect.gen(function*() {
      const ledger = yield* ApprovalLedger.ApprovalLedger
      const pending = yield* ledger.pending()
      const now = yield* Clock.currentTimeMillis
      if (options.json) {
        for (const item of pending) yield* Console.log(JSON.stringify(inboxRecord(item, now)))
        return
      }
      yield* Console.log(inboxLines(pending, now, ledger.target).join("\n"))
    }),
    (filename) => options.json ? Effect.void : Console.log(inboxLines([], 0, `${filename}, not created yet`).join("\n"))
  )).pipe(Command.withDescription("List the requests waiting for an answer in the approval ledger."))

// ---------------------------------------------------------------------------------------------------------
// deputy approve / deny

/** Who answers from this command line: `--as NAME`, else the login name. */
const person = (as: Option.Option<string>, command: string): DecidedBy.DecidedBy => {
  const name = Option.getOrElse(as, () => {
    try {
      return os.userInfo().username
    } catch {
      return process.env.USER ?? "unknown"
    }
  })
  return { _tag: "Person", channel: `deputy ${command}`, name }
}

/**
 * The answer `deputy approve` or `deputy deny` gives a request of this kind; an error when it cannot
 * (a question needs its answers, which these commands do not take).
 *
 * @since 0.2.0
 * @category answers
 */
export const answerFor = (
  request: ApprovalRequest.ApprovalRequest | undefined,
  verb: "approve" | "deny",
  options: { readonly forSession: boolean; readonly reason: Option.Option<string> }
): Either.Either<ApprovalInbox.InboxAnswer, string> => {
  const kind = request?.kind ?? "command"
  if (kind === "command" || kind === "patch") {
    if (verb === "approve") {
      return Either.right({ _tag: "Decision", decision: options.forSession ? "approved_for_session" : "approved" })
    }
    return Either.right({
      _tag: "Decision",
      decision: Option.isSome(options.reason) ? { denied: { rejection: options.reason.value } } : "denied"
    })
  }
  if (kind === "permissions") {
    if (verb === "deny") return Either.right({ _tag: "Permissions", response: Option.none() })
    const grant = Approvals.grantRequested(request as ApprovalRequest.PermissionsRequest)
    return Either.right({
      _tag: "Permissions",
      response: Option.some(options.forSession ? { ...grant, scope: "session" } : grant)
    })
  }
  if (verb === "deny") return Either.right({ _tag: "UserInput", response: Option.none() })
  return Either.left(
    "it asks questions; deputy approve cannot answer them (deputy deny sends no answers)"
  )
}

const answerCommand = (verb: "approve" | "deny") => {
  const base = {
    id: Args.text({ name: "ID" }).pipe(Args.withDescription("The request's id, as `deputy inbox` shows it.")),
    as: Options.text("as").pipe(
      Options.withPseudoName("NAME"),
      Options.withDescription("Who decides (recorded in the ledger). Default: your login name."),
      Options.optional
    ),
    json: json("The decision as one JSON object."),
    ledger: LedgerSetup.option
  }
  const handler = (
    options: {
      readonly id: string
      readonly as: Option.Option<string>
      readonly json: boolean
      readonly ledger: Option.Option<string>
    },
    forSession: boolean,
    reason: Option.Option<string>
  ) =>
    withLedger(
      options.ledger,
      verb,
      Effect.gen(function*() {
        const ledger = yield* ApprovalLedger.ApprovalLedger
        const [pending] = yield* ledger.pending({ requestIds: [options.id] })
        const answer = answerFor(pending?.request, verb, { forSession, reason })
        if (Either.isLeft(answer)) {
          return yield* new UsageError({ message: `request ${options.id}: ${answer.left}`, command: verb })
        }
        const decision = yield* ledger.answer(options.id, answer.right, person(options.as, verb))
        const gone = pending !== undefined &&
          LedgerSetup.isGone(pending.entry.process, ledger.process, LedgerSetup.isAlive, pending.entry.at)
        if (options.json) {
          return yield* Console.log(JSON.stringify({
            id: decision.requestId,
            decided_by: decision.decidedBy,
            at: iso(decision.at),
            answer: answerJson(decision.answer),
            asker_alive: !gone
          }))
        }
        yield* Console.log(
          `${verb === "approve" ? "Approved" : "Denied"} ${Text.visible(options.id)}: ${what(pending?.request)}`
        )
        if (gone) {
          yield* Console.error(
            `Its deputy (pid ${pending!.entry.process.pid}) is gone: the answer is kept in the ledger and sent ` +
              `when the same request is asked again.`
          )
        }
      })
    )
  return verb === "approve"
    ? Command.make("approve", {
      ...base,
      forSession: Options.boolean("for-session").pipe(
        Options.withDescription("Approve it for the rest of the sub-agent's session.")
      )
    }, (options) => handler(options, options.forSession, Option.none())).pipe(
      Command.withDescription("Approve a pending request; the waiting sub-agent receives it.")
    )
    : Command.make("deny", {
      ...base,
      reason: Options.text("reason").pipe(
        Options.withPseudoName("TEXT"),
        Options.withDescription("Why (the sub-agent receives it with the denial)."),
        Options.optional
      )
    }, (options) => handler(options, false, options.reason)).pipe(
      Command.withDescription("Deny a pending request; the waiting sub-agent receives it.")
    )
}

const answerJson = (answer: ApprovalInbox.InboxAnswer): unknown =>
  answer._tag === "Decision"
    ? { _tag: "Decision", decision: answer.decision }
    : { _tag: answer._tag, response: Option.getOrNull(answer.response as Option.Option<unknown>) }

/**
 * `deputy approve [--for-session] [--as NAME] ID`.
 *
 * @since 0.2.0
 * @category commands
 */
export const approve = answerCommand("approve")

/**
 * `deputy deny [--reason TEXT] [--as NAME] ID`.
 *
 * @since 0.2.0
 * @category commands
 */
export const deny = answerCommand("deny")

// ---------------------------------------------------------------------------------------------------------
// deputy log

/**
 * Reads a time: ISO 8601 (`2026-12-02T10:00Z`) or a duration ago (`90s`, `2h`). Epoch ms.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseTime = (text: string, now: number): Option.Option<number> => {
  const ago = Flags.parseDuration(text)
  if (Option.isSome(ago)) return Option.some(now - Duration.toMillis(ago.value))
  const at = Date.parse(text)
  return Number.isNaN(at) ? Option.none() : Option.some(at)
}

const outcomes: ReadonlyArray<string> = [
  "approved",
  "approved_for_session",
  "denied",
  "aborted",
  "timed_out",
  "lost",
  "pending"
]

const kinds = ["command", "patch", "permissions", "user_input"] as const

/**
 * One line of `deputy log` for people: sequence, time, entry type, outcome, who decided, the request,
 * and a reason.
 *
 * @since 0.2.0
 * @category formatting
 */
export const logLine = (entry: ApprovalLedger.LedgerEntry): string => {
  const by = entry.decidedBy === undefined ? "" : ` by ${Text.visible(DecidedBy.describe(entry.decidedBy))}`
  const outcome = entry.outcome === undefined ? "" : ` ${entry.outcome}`
  const request = entry.type === "pending" ? `  ${what(entry.data.request)}` : ""
  const rejection =
    (entry.data.answer as { readonly decision?: { readonly denied?: { readonly rejection?: unknown } } })
      ?.decision?.denied?.rejection
  const why = entry.data.reason ?? (typeof rejection === "string" ? rejection : undefined)
  const reason = why === undefined ? "" : `  (${Text.oneLine(why, 200)})`
  const waited = entry.data.waitedMs === undefined ? "" : ` after ${Render.duration(entry.data.waitedMs)}`
  return `#${entry.seq}  ${iso(entry.at)}  ${entry.type.padEnd(8)}${outcome}${by}${waited}  ${
    Text.visible(entry.requestId)
  }${request}${reason}  [pid ${entry.process.pid}@${Text.visible(entry.process.host)}]`
}

/**
 * `deputy log [filters] [--json] [--verify]`.
 *
 * @since 0.2.0
 * @category commands
 */
export const log = Command.make("log", {
  delegate: Options.text("delegate").pipe(Options.withPseudoName("ID"), Options.optional),
  kind: Options.choice("kind", kinds).pipe(Options.optional),
  outcome: Options.choice("outcome", outcomes).pipe(Options.optional),
  decidedBy: Options.text("decided-by").pipe(Options.withPseudoName("WHO"), Options.optional),
  since: Options.text("since").pipe(Options.withPseudoName("TIME"), Options.optional),
  until: Options.text("until").pipe(Options.withPseudoName("TIME"), Options.optional),
  limit: Options.integer("limit").pipe(Options.withPseudoName("N"), Options.optional),
  verify: Options.boolean("verify").pipe(Options.withDescription("Check the hash chain.")),
  json: json("One JSON object per entry, one a line."),
  ledger: LedgerSetup.option
}, (options) =>
  withLedger(
    options.ledger,
    "log",
    Effect.gen(function*() {
      const ledger = yield* ApprovalLedger.ApprovalLedger
      if (options.verify) {
        const result = yield* ledger.verify
        if (result._tag === "Intact") {
          yield* Console.log(
            options.json
              ? JSON.stringify({ intact: true, entries: result.entries, last_hash: result.lastHash })
              : `The ledger ${Text.visible(ledger.target)} is intact: ${result.entries} entries, the hash chain ` +
                `holds (last hash ${result.lastHash.slice(0, 16)}…).`
          )
          return
        }
        yield* Console.log(
          options.json
            ? JSON.stringify({ intact: false, entries: result.entries, broken_seq: result.seq, reason: result.reason })
            : `The ledger ${Text.visible(ledger.target)} is BROKEN at entry #${result.seq}: ${
              Text.visible(result.reason)
            } (${result.entries} entries checked). Entries from #${result.seq} on cannot be trusted.`
        )
        return yield* new RunFailed({ exitCode: brokenChainExitCode })
      }
      const now = yield* Clock.currentTimeMillis
      const time = (name: string, value: Option.Option<string>) =>
        Option.match(value, {
          onNone: () => Either.right(undefined),
          onSome: (text) =>
            Option.match(parseTime(text, now), {
              onNone: () =>
                Either.left(
                  new UsageError({
                    message: `--${name}: ${
                      JSON.stringify(text)
                    } is not a time; write 2026-12-02T10:00Z or a duration ago (2h)`,
                    command: "log"
                  })
                ),
              onSome: (at) => Either.right(at)
            })
        })
      const since = yield* time("since", options.since)
      const until = yield* time("until", options.until)
      const outcome = Option.getOrUndefined(options.outcome)
      const filter: ApprovalLedger.EntryFilter = {
        delegateId: Option.getOrUndefined(options.delegate),
        kind: Option.getOrUndefined(options.kind),
        ...(outcome === undefined
          ? {}
          : outcome === "pending"
          ? { type: "pending" }
          : { outcome: outcome as ApprovalLedger.LedgerOutcome, type: "settled" }),
        decidedBy: Option.getOrUndefined(options.decidedBy) as DecidedBy.DecidedBy["_tag"] | undefined,
        since,
        until
      }
      let entries = yield* ledger.list(filter)
      if (outcome === "pending") {
        const open = new Set((yield* ledger.pending()).map((item) => item.entry.requestId))
        entries = entries.filter((entry) => open.has(entry.requestId))
      }
      if (Option.isSome(options.limit)) entries = entries.slice(-Math.max(0, options.limit.value))
      for (const entry of entries) {
        yield* Console.log(options.json ? JSON.stringify(entry) : logLine(entry))
      }
      if (!options.json && entries.length === 0) yield* Console.log("No entries.")
    })
  )).pipe(Command.withDescription("Show the approval ledger; --verify checks its hash chain."))
