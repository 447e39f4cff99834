/**
 * Which approval ledger a `deputy` command uses, and what a run does with it at start: `--ledger
 * sqlite:PATH | postgres:URL | off`, by default the SQLite file `$DEPUTY_HOME/ledger.db` (else
 * `~/.deputy/ledger.db`). On start a run settles the requests left pending by dead `deputy` processes of
 * this host as `lost` (their child is gone; `writerLiveness`: a `deputy` of another container or machine
 * with the same hostname is never taken for dead), and keeps the decisions that were given but never reached
 * their child, to re-send each to the very request it was given for when that is asked again
 * (`sameRequest`: the same durable Codex thread, else the same working directory soon after the
 * decision). Anything less certain is asked again: a person asked twice rather than an old answer reused.
 *
 * @since 0.2.0
 */
import { CodexAgent } from "@deputy/codex"
import { ApprovalRequest, Approvals, DecidedBy, Delegate } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import type { Op } from "@deputy/protocol"
import * as Options from "@effect/cli/Options"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { UsageError } from "./Errors.js"
import * as Render from "./Render.js"

/**
 * Where requests are recorded: a SQLite file, a PostgreSQL server, or nowhere (`--ledger off`).
 *
 * @since 0.2.0
 * @category models
 */
export type LedgerChoice =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Postgres"; readonly url: string }
  | { readonly _tag: "Off" }

/**
 * `--ledger sqlite:PATH | postgres:URL | off`.
 *
 * @since 0.2.0
 * @category options
 */
export const option: Options.Options<Option.Option<string>> = Options.text("ledger").pipe(
  Options.withPseudoName("LEDGER"),
  Options.withDescription(
    "Where requests are recorded: sqlite:PATH, postgres:URL (postgres://...), or off. " +
      "Default: $DEPUTY_HOME/ledger.db, else ~/.deputy/ledger.db."
  ),
  Options.optional
)

/**
 * `$DEPUTY_HOME`, else `~/.deputy`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const home = (env: Record<string, string | undefined> = process.env): string =>
  env.DEPUTY_HOME !== undefined && env.DEPUTY_HOME !== "" ? env.DEPUTY_HOME : path.join(os.homedir(), ".deputy")

/**
 * Reads `--ledger` (absent: the default SQLite file). `command` names the command in usage errors.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parse = (
  spec: Option.Option<string>,
  command: string,
  env: Record<string, string | undefined> = process.env
): Either.Either<LedgerChoice, UsageError> => {
  if (Option.isNone(spec)) return Either.right({ _tag: "Sqlite", filename: path.join(home(env), "ledger.db") })
  const text = spec.value.trim()
  const usage = (message: string) => Either.left(new UsageError({ message, command }))
  if (text === "off") return Either.right({ _tag: "Off" })
  if (/^postgres(ql)?:\/\//.test(text)) return Either.right({ _tag: "Postgres", url: text })
  if (text.startsWith("postgres:")) {
    const url = text.slice("postgres:".length)
    return /^postgres(ql)?:\/\//.test(url)
      ? Either.right({ _tag: "Postgres", url })
      : usage(`--ledger postgres:URL needs a URL such as postgres://user@host:5432/db (got ${JSON.stringify(url)})`)
  }
  if (text.startsWith("sqlite:")) {
    const file = text.slice("sqlite:".length)
    if (file === "") return usage("--ledger sqlite:PATH needs a file name, e.g. --ledger sqlite:./ledger.db")
    return Either.right({ _tag: "Sqlite", filename: path.resolve(file) })
  }
  return usage(
    `--ledger: ${JSON.stringify(text)} is not a ledger; write sqlite:PATH, postgres://URL or off`
  )
}

/**
 * Where a choice writes, for messages.
 *
 * @since 0.2.0
 * @category formatting
 */
export const describe = (choice: LedgerChoice): string => {
  switch (choice._tag) {
    case "Sqlite":
      return choice.filename
    case "Postgres":
      return redact(choice.url)
    case "Off":
      return "no ledger"
  }
}

/** A URL without its password. */
const redact = (url: string): string => url.replace(/^(postgres(?:ql)?:\/\/[^:@/]+):[^@/]*@/, "$1:***@")

/**
 * The ledger of a choice (`Off` has none: the caller decides what that means). A PostgreSQL ledger keeps
 * its anchor on this machine (`pgAnchorFile`: `$DEPUTY_HOME/ledger-pg-<hash>.anchor`), so `deputy log
 * --verify` here detects entries removed up to what this machine appended (a machine without an anchor
 * yet starts at the ledger's head as it first opens it).
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (
  choice: Exclude<LedgerChoice, { readonly _tag: "Off" }>
): Layer.Layer<ApprovalLedger.ApprovalLedger, ApprovalLedger.LedgerError> =>
  choice._tag === "Sqlite"
    ? ApprovalLedger.layerSqlite({ filename: choice.filename })
    : ApprovalLedger.layerPg({
      url: choice.url,
      anchor: { file: ApprovalLedger.pgAnchorFile(choice.url), adoptExisting: true }
    })

/**
 * Whether a process of this host runs. Zombies count as dead (a container's init may never reap them).
 * `ApprovalLedger.processRuns`, by the name the sweep's `alive` parameters default to.
 *
 * @since 0.2.0
 * @category processes
 */
export const isAlive = (pid: number): boolean => ApprovalLedger.processRuns(pid)

/**
 * When a process of this host started (epoch ms, to about a second; Linux `/proc`), if that can be told.
 *
 * @deprecated Use `ApprovalLedger.startedAt`, or `ApprovalLedger.startTicks` (exact, no wall clock).
 * @since 0.2.0
 * @category processes
 */
export const startedAt = (pid: number): number | undefined => ApprovalLedger.startedAt(pid)

/**
 * Whether the `deputy` that wrote an entry still runs, as this process (`self`: the ledger's host and pid)
 * can tell: `ApprovalLedger.liveness` with this machine's facts. `unknown` (another container or machine
 * with the same hostname, a malformed identity) is never to be taken for dead.
 *
 * @since 0.2.0
 * @category processes
 */
export const writerLiveness = (
  writer: ApprovalLedger.LedgerEntry["process"],
  self: { readonly host: string; readonly pid: number },
  alive: (pid: number) => boolean = isAlive,
  at?: number | undefined
): ApprovalLedger.Liveness =>
  ApprovalLedger.liveness(writer, {
    at,
    runs: alive,
    machine: { ...ApprovalLedger.thisMachine(), host: self.host, pid: self.pid }
  })

/**
 * Whether the process that wrote an entry is gone: `writerLiveness` is `dead`. Exact for entries that
 * carry their writer's boot id, pid namespace and start ticks (a reused pid is told by its start ticks); an
 * entry of another container or machine (even of the same hostname) is never gone. Entries without those
 * fields keep the old rule: this host, and the pid no longer runs or runs a process started after the entry
 * was written (`at`).
 *
 * @since 0.2.0
 * @category processes
 */
export const isGone = (
  writer: ApprovalLedger.LedgerEntry["process"],
  self: { readonly host: string; readonly pid: number },
  alive: (pid: number) => boolean = isAlive,
  at?: number | undefined
): boolean => writerLiveness(writer, self, alive, at) === "dead"

/**
 * The reason recorded for a request whose `deputy` died before it was answered.
 *
 * @since 0.2.0
 * @category restart
 */
export const lostReason = (entry: ApprovalLedger.LedgerEntry): string =>
  `its deputy process (pid ${entry.process.pid} on ${entry.process.host}) is gone, and with it the sub-agent ` +
  `that asked; nobody can receive an answer`

/**
 * Settles `lost` the undecided requests of this host's dead `deputy` processes (their child went with
 * them). Returns the `settled` entries.
 *
 * @since 0.2.0
 * @category restart
 */
export const settleDead = (
  alive: (pid: number) => boolean = isAlive,
  /** Requests left alone: their child is reattached instead (`reattachable`). @since 0.2.0 */
  keep: ReadonlySet<string> = new Set()
): Effect.Effect<
  ReadonlyArray<ApprovalLedger.LedgerEntry>,
  ApprovalLedger.LedgerError,
  ApprovalLedger.ApprovalLedger
> =>
  Effect.gen(function*() {
    const ledger = yield* ApprovalLedger.ApprovalLedger
    const self = ledger.process
    const pending = yield* ledger.pending({ host: self.host })
    const settled: Array<ApprovalLedger.LedgerEntry> = []
    const byProcess = new Map<string, ApprovalLedger.LedgerEntry>()
    const dead = pending.filter(({ entry }) => isGone(entry.process, self, alive, entry.at))
    for (const { entry } of dead) byProcess.set(`${entry.process.pid}/${entry.process.runId}`, entry)
    for (const entry of byProcess.values()) {
      const ofProcess = dead.filter((pending) =>
        pending.entry.process.pid === entry.process.pid && pending.entry.process.runId === entry.process.runId
      )
      const requestIds = ofProcess.map((pending) => pending.entry.requestId).filter((id) => !keep.has(id))
      // One at a time: a malformed row (a forged or corrupt one: the ledger cannot answer it) is left as it
      // is and said, instead of failing the run's start.
      for (const requestId of requestIds) {
        settled.push(
          ...(yield* ledger.settleLost(
            { host: entry.process.host, pid: entry.process.pid, runId: entry.process.runId, requestIds: [requestId] },
            lostReason(entry)
          ).pipe(
            Effect.catchAllDefect((defect) =>
              Effect.as(
                Effect.logWarning(
                  `ledger: request ${requestId} could not be settled lost (a malformed entry): ${defect}`
                ),
                []
              )
            )
          ))
        )
      }
    }
    return settled
  })

// ---------------------------------------------------------------------------------------------------------
// re-sending decisions that never reached their child

/** JSON with keys sorted: one text per value. */
const canonical = (value: unknown): string => {
  if (value === null || typeof value !== "object") return value === undefined ? "null" : JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`
  const record = value as Record<string, unknown>
  return `{${
    Object.keys(record).filter((key) => record[key] !== undefined).sort().map((key) =>
      `${JSON.stringify(key)}:${canonical(record[key])}`
    ).join(",")
  }}`
}

/**
 * What makes two requests the same question, whichever delegate and turn carried them: the kind, the
 * tool call, the sub-agent's source and tree path, and the request itself without its turn id. The same
 * question is not yet the same request: `sameRequest` also asks who asked it, where and when.
 *
 * @since 0.2.0
 * @category restart
 */
export const questionKey = (request: ApprovalRequest.ApprovalRequest): string => {
  const { turn_id: _turn, ...event } = request.event as { readonly turn_id?: unknown }
  return createHash("sha256").update(canonical({
    kind: request.kind,
    callId: request.callId,
    source: request.source,
    path: request.path,
    event
  })).digest("hex")
}

/**
 * A decision recorded for a request that never reached its child (its `deputy` died first).
 *
 * @since 0.2.0
 * @category restart
 */
export interface Undelivered {
  readonly request: ApprovalRequest.ApprovalRequest
  /**
   * The old request's `pending` entry: where it was asked (`data.origin`), by which durable child
   * (`data.reattach`), and its deadline (`data.deadlineAt`). Without it, the decision is re-sent to nothing.
   *
   * @since 0.2.0
   */
  readonly asked?: ApprovalLedger.LedgerEntry | undefined
  readonly decided: ApprovalLedger.LedgerEntry
  readonly decidedBy: DecidedBy.DecidedBy
  /** The answer in the ledger's JSON form. */
  readonly answer: unknown
}

/**
 * How long after a decision it may still be re-sent to the same question asked again from the same
 * working directory by a child that cannot be named (a process agent, a Codex that died with its
 * `deputy`): 15 minutes.
 *
 * @since 0.2.0
 * @category restart
 */
export const defaultResendWithin: Duration.Duration = Duration.minutes(15)

/**
 * A run's working directory as the ledger records it (`ApprovalLedger.RequestOrigin.workspace`) and
 * `sameRequest` compares it: absolute, with symbolic links resolved when it exists.
 *
 * @since 0.2.0
 * @category restart
 */
export const workspaceOf = (cwd: string): string => {
  const absolute = path.resolve(cwd)
  try {
    return fs.realpathSync(absolute)
  } catch {
    return absolute
  }
}

/**
 * Where this run asks, for `resending`. Without `workspace` and `childOf` nothing is re-sent.
 *
 * @since 0.2.0
 * @category restart
 */
export interface ResendOptions {
  /** This run's working directory (`workspaceOf`). */
  readonly workspace?: string | undefined
  /** How long after a decision a same-directory re-ask gets it (default `defaultResendWithin`). */
  readonly within?: Duration.DurationInput | undefined
  /**
   * The child that asks a request, where one is known across restarts: a durable Codex and its thread
   * (`CodexAgent.reattachPointOf`), as the ledger records it with a pending request (`reattach`).
   */
  readonly childOf?:
    | ((request: ApprovalRequest.ApprovalRequest) => ApprovalLedger.ReattachPoint | undefined)
    | undefined
  /** Told of a decision of the same question that is not re-sent to `request`, and why (it is asked). */
  readonly onNotResent?:
    | ((request: ApprovalRequest.ApprovalRequest, from: Undelivered, why: string) => Effect.Effect<void>)
    | undefined
}

/**
 * Whether a new request is the very request an undelivered decision was given for, and why (for the
 * person and the ledger).
 *
 * @since 0.2.0
 * @category restart
 */
export type Verdict =
  | { readonly _tag: "Same"; readonly why: string }
  | { readonly _tag: "Other"; readonly why: string }

const same = (why: string): Verdict => ({ _tag: "Same", why })
const other = (why: string): Verdict => ({ _tag: "Other", why })

/** A recorded origin as a ledger row holds it: untrusted JSON. */
const workspaceRecorded = (origin: unknown): string | undefined => {
  if (typeof origin !== "object" || origin === null) return undefined
  const workspace = (origin as Record<string, unknown>).workspace
  return typeof workspace === "string" && workspace !== "" ? workspace : undefined
}

/** How far a decision's time may lie ahead of this clock (another machine's, on a shared ledger). */
const clockSkewMs = 60_000

/**
 * The specification of "the same request asked again", so that a decision that never reached its child
 * goes only to a genuine re-ask (anything less specific is asked: a person asked twice rather than an old
 * answer reused). A new request is the very request an undelivered decision was given for when it is:
 * 1. the same question (`questionKey`: kind, call id, source, tree path, the request without its turn);
 * 2. if either request names its child (the old one's `reattach` point, the new one's `here.child`: a
 *    durable Codex), the same child: the same Codex process (socket, pid, watchdog) and thread, which a
 *    reattached Codex replaying its own pending request is, at any time (a fresh Codex reporting the old
 *    thread id is not: its socket and pid are its own);
 * 3. else the same working directory, recorded with the old request (`data.origin.workspace`; a row
 *    without one is never matched), asked again at most `withinMs` after the decision and not after the
 *    old request's own deadline (`data.deadlineAt`). Process agents reuse call ids (`call_1`) from run to
 *    run: this is what keeps one run's decision from answering another's identical question.
 * Rows are untrusted: a malformed `reattach`, `origin` or `deadlineAt`, or a decision dated more than a
 * minute ahead of this clock, never matches. `Verdict.why` says which rule held, or which failed.
 *
 * @since 0.2.0
 * @category restart
 */
export const sameRequest = (
  from: Undelivered,
  request: ApprovalRequest.ApprovalRequest,
  here: {
    readonly workspace?: string | undefined
    readonly child?: ApprovalLedger.ReattachPoint | undefined
    /** Epoch ms. */
    readonly now: number
    readonly withinMs: number
  }
): Verdict => {
  if (questionKey(from.request) !== questionKey(request)) return other("another question")
  const data = from.asked?.data
  if (data?.reattach !== undefined && pointOf(data.reattach) === undefined) {
    return other("its ledger entry names its child in a malformed way")
  }
  const child = pointOf(data?.reattach)
  if (child !== undefined || here.child !== undefined) {
    if (child === undefined) return other(`asked by a child (codex pid ${here.child!.pid}) where none could be named`)
    const theSame = here.child !== undefined && here.child.socketPath === child.socketPath &&
      here.child.pid === child.pid && here.child.watchdogPid === child.watchdogPid &&
      here.child.threadId === child.threadId
    return theSame
      ? same(`the same request, replayed by the same child (codex pid ${child.pid}, thread ${child.threadId})`)
      : other(`it was asked by another child (codex pid ${child.pid}, thread ${child.threadId})`)
  }
  const workspace = workspaceRecorded(data?.origin)
  if (workspace === undefined) return other("its ledger entry does not say where it was asked")
  if (workspace !== here.workspace) return other(`it was asked in ${workspace}`)
  const after = here.now - from.decided.at
  if (after < -clockSkewMs) return other("its decision is dated in the future")
  if (after > here.withinMs) {
    return other(`it was decided ${Render.duration(after)} before, more than ${Render.duration(here.withinMs)}`)
  }
  // A deadline the row holds, malformed or passed, ends the re-send.
  const deadline: unknown = data?.deadlineAt
  if (deadline !== undefined && !(typeof deadline === "number" && here.now <= deadline)) {
    return other("its own deadline has passed")
  }
  return same(
    `the same request, asked again in the same working directory (${workspace}) ${
      Render.duration(Math.max(0, after))
    } after the decision`
  )
}

const notResent: ReadonlySet<string> = new Set(["Deadline", "Cancelled", "ServiceFailed"])

/**
 * The decisions of this host's dead `deputy` processes that have no `settled` entry (the child never
 * received them), within `since` (epoch ms), by question (`questionKey`), oldest first, each with its
 * `pending` entry (`asked`: where and by which child it was asked, for `sameRequest`). Decisions of a
 * deadline, a cancellation or a failure are not re-sent: the new request has its own wait.
 *
 * @since 0.2.0
 * @category restart
 */
export const undelivered = (
  since: number,
  alive: (pid: number) => boolean = isAlive
): Effect.Effect<Map<string, Array<Undelivered>>, ApprovalLedger.LedgerError, ApprovalLedger.ApprovalLedger> =>
  Effect.gen(function*() {
    const ledger = yield* ApprovalLedger.ApprovalLedger
    const entries = yield* ledger.list({ type: ["pending", "decided", "settled"], since })
    const pending = new Map<string, ApprovalLedger.LedgerEntry>()
    const decided = new Map<string, ApprovalLedger.LedgerEntry>()
    const settled = new Set<string>()
    for (const entry of entries) {
      if (entry.type === "pending") pending.set(entry.requestId, entry)
      else if (entry.type === "decided") decided.set(entry.requestId, entry)
      else settled.add(entry.requestId)
    }
    const found = new Map<string, Array<Undelivered>>()
    for (const [id, entry] of decided) {
      const asked = pending.get(id)
      // Rows are untrusted: a malformed one (forged, corrupt) is never re-sent, nor a reason to fail.
      if (settled.has(id) || asked === undefined || !wellFormed(asked.data.request)) continue
      if (typeof entry.decidedBy !== "object" || entry.decidedBy === null) continue
      // Only an answer someone or something gave: a deadline, a cancellation or a failure belongs to its wait.
      if (notResent.has(entry.decidedBy._tag)) continue
      if (!isGone(asked.process, ledger.process, alive, asked.at)) continue
      const request = asked.data.request
      const key = questionKey(request)
      const list = found.get(key) ?? []
      list.push({ request, asked, decided: entry, decidedBy: entry.decidedBy, answer: entry.data.answer })
      found.set(key, list)
    }
    return found
  })

/** The ledger's JSON form of an answer, read back as the value an `Approvals` method returns. */
const answerValue = (request: ApprovalRequest.ApprovalRequest, json: unknown): unknown => {
  const answer = json as { readonly _tag?: string; readonly decision?: unknown; readonly response?: unknown }
  if (request.kind === "command" || request.kind === "patch") {
    return answer._tag === "Decision" ? answer.decision : undefined
  }
  if (request.kind === "elicitation") return answer._tag === "Elicitation" ? answer.response ?? undefined : undefined
  const expected = request.kind === "permissions" ? "Permissions" : "UserInput"
  if (answer._tag !== expected) return undefined
  return Option.fromNullable(answer.response)
}

/** The op a decision reached the child as (the same rules as the delegate's routing, SPEC §2.1). */
const opOf = (request: ApprovalRequest.ApprovalRequest, value: unknown): Op.Op => {
  switch (request.kind) {
    case "command":
      return {
        type: "exec_approval",
        id: request.event.approval_id ?? request.event.call_id,
        turn_id: request.turnId,
        decision: value as never
      }
    case "patch":
      return { type: "patch_approval", id: request.event.call_id, decision: value as never }
    case "permissions":
      return {
        type: "request_permissions_response",
        id: request.event.call_id,
        response: Option.getOrElse(value as Option.Option<never>, () => ({ permissions: {}, scope: "turn" }) as never)
      }
    case "user_input":
      return {
        type: "user_input_answer",
        id: request.turnId,
        response: Option.getOrElse(value as Option.Option<never>, () => ({ answers: {} }) as never)
      }
    case "elicitation":
      return ApprovalRequest.elicitationAnswerOp(request, value as ApprovalRequest.ElicitationResponse)
  }
}

const outcomeOf = (request: ApprovalRequest.ApprovalRequest, value: unknown): ApprovalRequest.ApprovalOutcome => {
  if (request.kind === "elicitation") {
    return ApprovalRequest.outcomeOfElicitation(value as ApprovalRequest.ElicitationResponse)
  }
  if (request.kind === "permissions" || request.kind === "user_input") {
    const response = value as Option.Option<{ readonly scope?: string }>
    if (Option.isNone(response)) return "denied"
    return response.value.scope === "session" ? "approved_for_session" : "approved"
  }
  if (value === "approved_for_session") return "approved_for_session"
  if (value === "abort") return "aborted"
  if (value === "timed_out") return "timed_out"
  if (value === "approved") return "approved"
  if (typeof value === "object" && value !== null && "approved_execpolicy_amendment" in value) return "approved"
  return "denied"
}

/**
 * An `Approvals` that answers a request asked again after a restart with the decision already in the
 * ledger (given before the old `deputy` could pass it on), without asking anyone, when it is the very
 * request the decision was given for (`sameRequest`, with `options`: this run's working directory, the
 * window, the child of a request); other requests go to `inner`. Each recorded decision is re-sent once:
 * it is claimed by appending the old request's `settled` entry, which names the new request and why it
 * is the same (a second claim, by another process, fails and asks `inner`). `onResent` is told, with why.
 *
 * @since 0.2.0
 * @category restart
 */
export const resending = (
  found: Map<string, Array<Undelivered>>,
  inner: Approvals.ApprovalsService,
  onResent: (
    request: ApprovalRequest.ApprovalRequest,
    from: Undelivered,
    /** Why it is the same request (`Verdict`). @since 0.2.0 */
    why?: string
  ) => Effect.Effect<void> = () => Effect.void,
  /** @since 0.2.0 */
  options: ResendOptions = {}
): Effect.Effect<Approvals.ApprovalsService, never, ApprovalLedger.ApprovalLedger> =>
  Effect.map(ApprovalLedger.ApprovalLedger, (ledger) => {
    const withinMs = Duration.toMillis(options.within ?? defaultResendWithin)
    const take = (
      request: ApprovalRequest.ApprovalRequest
    ): Effect.Effect<Option.Option<[Undelivered, unknown, string]>> =>
      Effect.gen(function*() {
        const candidates = found.get(questionKey(request))
        if (candidates === undefined) return Option.none()
        const now = yield* Clock.currentTimeMillis
        const here = { workspace: options.workspace, child: options.childOf?.(request), now, withinMs }
        const skipped: Array<[Undelivered, string]> = []
        for (const candidate of [...candidates]) {
          const value = answerValue(candidate.request, candidate.answer)
          const verdict = sameRequest(candidate, request, here)
          // Another request's decision stays for it; one that cannot be read back is dropped.
          if (value !== undefined && verdict._tag === "Other") {
            skipped.push([candidate, verdict.why])
            continue
          }
          const at = candidates.indexOf(candidate)
          // Taken meanwhile by a request asked at the same time.
          if (at === -1) continue
          candidates.splice(at, 1)
          if (value === undefined) continue
          const claimed = yield* Effect.either(ledger.recordSettled({
            request: candidate.request,
            outcome: outcomeOf(candidate.request, value),
            decidedBy: candidate.decidedBy,
            // The new request's id first: `deputy log` keeps a long reason's head and tail.
            reason: `re-sent to ${request.id}: ${verdict.why}; its deputy had died before passing it on`,
            waitedMs: now - candidate.decided.at,
            answer: opOf(request, value)
          }))
          if (Either.isRight(claimed)) {
            return Option.some<[Undelivered, unknown, string]>([candidate, value, verdict.why])
          }
        }
        // Said only when the request is asked (not when another decision was re-sent to it).
        if (options.onNotResent !== undefined) {
          for (const [candidate, why] of skipped) yield* options.onNotResent(request, candidate, why)
        }
        return Option.none()
      })
    const route = <Q extends ApprovalRequest.ApprovalRequest, A>(
      ask: (request: Q) => Effect.Effect<DecidedBy.Answer<A>>
    ) =>
    (request: Q): Effect.Effect<DecidedBy.Answer<A>> =>
      Effect.flatMap(take(request), (taken) =>
        Option.match(taken, {
          onNone: () => ask(request),
          onSome: ([from, value, why]) =>
            Effect.as(onResent(request, from, why), DecidedBy.decided(value as A, from.decidedBy))
        }))
    return {
      command: route(inner.command),
      patch: route(inner.patch),
      permissions: route(inner.permissions),
      userInput: route(inner.userInput),
      ...(inner.elicitation === undefined ? {} : { elicitation: route(inner.elicitation) })
    }
  })

// ---------------------------------------------------------------------------------------------------------
// reattaching to a durable Codex that outlived its deputy

/**
 * A durable Codex left by a dead `deputy` (`CodexAgent.Options.durable`), still reachable, with the
 * requests it had pending in the ledger (recorded with its `reattach` point): those not yet decided are
 * asked again once the Codex replays them, a decision already given is re-sent (`resending`).
 *
 * @since 0.2.0
 * @category restart
 */
export interface Reattachable {
  readonly point: ApprovalLedger.ReattachPoint
  readonly entries: ReadonlyArray<ApprovalLedger.LedgerEntry>
  /** The request ids among `entries` that nobody decided yet. */
  readonly undecided: ReadonlyArray<string>
}

/**
 * Where this `deputy` keeps its durable Codex processes: `$DEPUTY_HOME/codex` (see `home`). A reattach
 * point anywhere else is not one of its own.
 *
 * @since 0.2.0
 * @category restart
 */
export const durableRoot = (env: Record<string, string | undefined> = process.env): string =>
  path.join(home(env), "codex")

/** A reattach point as a ledger row holds it: untrusted JSON, so every field is checked. */
const pointOf = (value: unknown): ApprovalLedger.ReattachPoint | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  const point = value as Record<string, unknown>
  const pid = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n > 1
  return typeof point.socketPath === "string" && pid(point.pid) && pid(point.watchdogPid) &&
      typeof point.threadId === "string"
    ? {
      socketPath: point.socketPath,
      pid: point.pid as number,
      watchdogPid: point.watchdogPid as number,
      threadId: point.threadId
    }
    : undefined
}

/** Whether a row's request has the shape the sweep reads (kind, id, source, an event object). */
const wellFormed = (request: unknown): request is ApprovalRequest.ApprovalRequest => {
  if (typeof request !== "object" || request === null) return false
  const fields = request as Record<string, unknown>
  return typeof fields.id === "string" && typeof fields.kind === "string" && fields.source !== undefined &&
    fields.source !== null && typeof fields.event === "object" && fields.event !== null
}

/**
 * Whether a durable Codex is another user's (its socket directory, or its process, is not ours): its
 * requests are theirs to reattach, never settled here.
 */
const foreignOwner = (point: ApprovalLedger.ReattachPoint): string | undefined => {
  const uid = process.getuid?.()
  if (uid === undefined) return undefined
  try {
    const owner = fs.lstatSync(path.dirname(point.socketPath)).uid
    if (owner !== uid) return `its socket directory belongs to uid ${owner}`
  } catch {
    // missing: not another user's (it is gone, or never was)
  }
  try {
    process.kill(point.pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EPERM") return `its process (pid ${point.pid}) runs as another user`
  }
  return undefined
}

/**
 * The durable Codex processes of this host's dead `deputy` processes that can be reattached, within
 * `since` (epoch ms): pending entries with a `reattach` point, not settled, whose Codex runs and whose
 * socket is in `options.root` (default `durableRoot()`) and passes `CodexAgent.checkReattach`.
 * `unreachable` is told why the others cannot be (they settle `lost` as before), except those of another
 * user (`options.foreign` is told; their requests are left pending for them). A row is untrusted input:
 * a malformed point or request is unreachable, never a crash.
 *
 * @since 0.2.0
 * @category restart
 */
export const reattachable = (
  since: number,
  unreachable: (point: ApprovalLedger.ReattachPoint, reason: string) => Effect.Effect<void> = () => Effect.void,
  alive: (pid: number) => boolean = isAlive,
  options: {
    /** Where this deputy's durable Codex processes are (default `durableRoot()`). @since 0.2.0 */
    readonly root?: string | undefined
    /** Told of another user's durable Codex; its requests (`requestIds`) are not to be settled. @since 0.2.0 */
    readonly foreign?:
      | ((
        point: ApprovalLedger.ReattachPoint,
        reason: string,
        requestIds: ReadonlyArray<string>
      ) => Effect.Effect<void>)
      | undefined
  } = {}
): Effect.Effect<ReadonlyArray<Reattachable>, ApprovalLedger.LedgerError, ApprovalLedger.ApprovalLedger> =>
  Effect.gen(function*() {
    const ledger = yield* ApprovalLedger.ApprovalLedger
    const root = options.root ?? durableRoot()
    const entries = yield* ledger.list({ type: ["pending", "decided", "settled"], since })
    const decided = new Set<string>()
    const settled = new Set<string>()
    for (const entry of entries) {
      if (entry.type === "decided") decided.add(entry.requestId)
      if (entry.type === "settled") settled.add(entry.requestId)
    }
    const bySocket = new Map<
      string,
      { point: ApprovalLedger.ReattachPoint; entries: Array<ApprovalLedger.LedgerEntry> }
    >()
    const malformed: Array<ApprovalLedger.LedgerEntry> = []
    for (const entry of entries) {
      if (entry.type !== "pending" || entry.data.reattach === undefined || settled.has(entry.requestId)) continue
      if (!isGone(entry.process, ledger.process, alive, entry.at)) continue
      const point = pointOf(entry.data.reattach)
      if (point === undefined || !wellFormed(entry.data.request)) {
        malformed.push(entry)
        continue
      }
      const group = bySocket.get(point.socketPath) ?? { point, entries: [] }
      group.entries.push(entry)
      bySocket.set(point.socketPath, group)
    }
    for (const entry of malformed) {
      yield* unreachable(
        {
          socketPath: String((entry.data.reattach as { socketPath?: unknown }).socketPath),
          pid: 0,
          watchdogPid: 0,
          threadId: ""
        },
        `the ledger's record of it (request ${entry.requestId}) is malformed`
      )
    }
    const found: Array<Reattachable> = []
    for (const { entries: pending, point } of bySocket.values()) {
      const theirs = foreignOwner(point)
      if (theirs !== undefined) {
        if (options.foreign !== undefined) {
          yield* options.foreign(point, theirs, pending.map((entry) => entry.requestId))
        }
        continue
      }
      const dir = path.dirname(point.socketPath)
      const problem = path.basename(point.socketPath) !== CodexAgent.durableSocketName || path.dirname(dir) !== root
        ? Option.some(`its socket is not in ${root}, where this deputy keeps its durable Codex processes`)
        : CodexAgent.checkReattach(point)
      if (Option.isSome(problem)) {
        yield* unreachable(point, problem.value)
        continue
      }
      found.push({
        point,
        entries: pending,
        undecided: pending.map((entry) => entry.requestId).filter((id) => !decided.has(id))
      })
    }
    return found
  })

/** An `Approvals` whose every method first waits for `open`. */
const gated = (approvals: Approvals.ApprovalsService, open: Effect.Effect<void>): Approvals.ApprovalsService => {
  const gate = <Q, A>(ask: (request: Q) => Effect.Effect<A>) => (request: Q) => Effect.zipRight(open, ask(request))
  const elicitation = approvals.elicitation
  return {
    command: gate(approvals.command),
    patch: gate(approvals.patch),
    permissions: gate(approvals.permissions),
    userInput: gate(approvals.userInput),
    ...(elicitation === undefined ? {} : { elicitation: gate(elicitation) })
  }
}

/**
 * Reattaches to a durable Codex (`reattachable`) and lets the turn it left in progress finish with
 * `approvals` (the run's, which re-send a decision already in the ledger). Attaching takes the Codex's
 * lease, which is exclusive: a `deputy` that finds another one attached does nothing (`not reattached`,
 * nothing settled). Only once attached are the undecided requests of the dead `deputy` settled (`lost`,
 * saying they are asked again), so that each question is asked once, under the new request's id; the
 * requests the Codex replays wait for that. A decision given to one of them in the meantime is added to
 * `options.resend` (the map `resending` reads, refreshed with `undelivered(options.since)`), so it is
 * re-sent rather than asked again. Ends when the turn ends; the Codex and its tree are then ended. A
 * Codex that cannot be reattached settles its requests `lost`. Returns how the turn ended.
 *
 * @since 0.2.0
 * @category restart
 */
export const reattach = (
  found: Reattachable,
  approvals: Approvals.ApprovalsService,
  options: {
    readonly drainTimeout?: Duration.DurationInput | undefined
    /** The decisions `approvals` re-sends (`undelivered`, as given to `resending`). @since 0.2.0 */
    readonly resend?: Map<string, Array<Undelivered>> | undefined
    /** How far back `resend` looks (epoch ms; default: 7 days ago). @since 0.2.0 */
    readonly since?: number | undefined
  } = {}
): Effect.Effect<string, ApprovalLedger.LedgerError, ApprovalLedger.ApprovalLedger> =>
  Effect.gen(function*() {
    const ledger = yield* ApprovalLedger.ApprovalLedger
    const first = found.entries[0]!.data.request!
    const attached = yield* Deferred.make<void>()
    const claim = Effect.gen(function*() {
      if (found.undecided.length === 0) return
      const settled = yield* ledger.settleLost(
        { requestIds: found.undecided },
        `its deputy process is gone; its sub-agent (codex pid ${found.point.pid}) was reattached by deputy ` +
          `pid ${ledger.process.pid} and the request is asked again once, under a new id`
      )
      // Decided (from elsewhere) since `reattachable` looked: that decision is re-sent, not asked again.
      if (settled.length < found.undecided.length && options.resend !== undefined) {
        const now = yield* Clock.currentTimeMillis
        const fresh = yield* undelivered(options.since ?? now - 7 * 24 * 3_600_000)
        for (const [key, list] of fresh) options.resend.set(key, list)
      }
    })
    const delegate = Effect.gen(function*() {
      const handle = yield* Delegate.interactive({
        source: first.source,
        drainTimeout: options.drainTimeout
      })
      // Attached: the lease is this process's until the turn ends.
      yield* Effect.ensuring(claim, Deferred.succeed(attached, undefined))
      const end = yield* handle.events.pipe(
        Stream.filter((event) => event.msg.type === "task_complete" || event.msg.type === "turn_aborted"),
        Stream.runHead
      )
      return Option.match(end, { onNone: () => "its events ended", onSome: (event) => event.msg.type })
    }).pipe(
      Effect.scoped,
      Effect.provide(CodexAgent.layerNode({ attach: found.point })),
      Effect.provideService(Approvals.Approvals, gated(approvals, Deferred.await(attached)))
    )
    return yield* delegate.pipe(
      Effect.catchAll((error) => {
        // Another deputy holds the lease: it is alive and drives that Codex; its requests are its own.
        if (CodexAgent.leaseIsBusy(error)) return Effect.succeed(`not reattached: ${error.message}`)
        const message = "message" in error ? error.message : String(error)
        return Effect.as(
          ledger.settleLost(
            { requestIds: found.entries.map((entry) => entry.requestId) },
            `its deputy process is gone and its sub-agent could not be reattached: ${message}`
          ),
          `not reattached: ${message}`
        )
      })
    )
  })
