/**
 * The approval ledger: a durable, append-only, hash-chained record of every request a delegate routes,
 * written before any decider sees the request and appended when it settles. Several processes (and,
 * with PostgreSQL, several machines) share one ledger: a request recorded by one can be answered from
 * another, the first answer wins, and `verify` proves nothing was changed after the fact.
 *
 * Entries, in the order they happen for one request:
 * - `pending`: the request, its provenance, the asking process, its deadline (before it is shown);
 * - `warning`: its deadline is near (by default at 80 % of the wait);
 * - `decided`: the one answer that won (from the in-process decider, another process, the deadline, or
 *   `settleLost`) — at most one per request, enforced by the database;
 * - `settled`: what the child received: outcome, who decided, the exact op, how long it waited;
 * - `rejected`: an answer that lost (the request was already decided) or came after the deadline.
 *
 * @since 0.2.0
 */
import { type ApprovalInbox, type ApprovalRequest, Approvals, DecidedBy } from "@deputy/core"
import type { Op } from "@deputy/protocol"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as os from "node:os"
import * as answers from "./internal/answers.js"
import * as internal from "./internal/ledger.js"
import * as livenessInternal from "./internal/liveness.js"
import * as memory from "./internal/memoryStore.js"
import * as sqlLayers from "./internal/sqlLayers.js"

/**
 * The kinds of entry (see the module doc).
 *
 * @since 0.2.0
 * @category models
 */
export type EntryType = "pending" | "warning" | "decided" | "settled" | "rejected"

/**
 * How a request settled: the delegate's outcomes, and `lost` for a request whose process or child went
 * away before it was answered (`settleLost`).
 *
 * @since 0.2.0
 * @category models
 */
export type LedgerOutcome = ApprovalRequest.ApprovalOutcome | "lost"

/**
 * Which process wrote an entry: the host, its pid, and a run id (a UUID per ledger layer unless given).
 * On Linux also where that pid means something, so another process can tell exactly whether the writer
 * still runs (`liveness`): the kernel's boot id, the pid namespace, the writer's start time in clock ticks,
 * and the machine id. These are absent on other systems, in entries written before they were recorded, and
 * when a ledger is given another `pid` or `host` to write as (the facts of this process are not claimed for
 * it); `liveness` then falls back to the host and pid alone.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProcessIdentity {
  readonly host: string
  readonly pid: number
  readonly runId: string
  /**
   * The running kernel's boot id (`/proc/sys/kernel/random/boot_id`, a UUID): new at every boot, shared by
   * every container on that kernel. With `pidNamespace` it says whether this process sees the writer's pid.
   *
   * @since 0.2.0
   */
  readonly bootId?: string | undefined
  /**
   * The writer's pid namespace (`/proc/self/ns/pid` link target, e.g. `pid:[4026531836]`): two containers
   * on one kernel differ here, so a pid of one is never looked up in the other.
   *
   * @since 0.2.0
   */
  readonly pidNamespace?: string | undefined
  /**
   * When the writer started, in clock ticks after boot (`/proc/self/stat` field 22). A pid that runs a
   * process with other start ticks was reused: exact, no wall clock involved.
   *
   * @since 0.2.0
   */
  readonly startTicks?: number | undefined
  /**
   * The machine id (`/etc/machine-id`, 32 hex digits), when the system has one: with another `bootId` it
   * tells "this machine rebooted" (the writer is dead) from "another machine of the same name" (unknown).
   *
   * @since 0.2.0
   */
  readonly machineId?: string | undefined
}

/**
 * Whether the process that wrote an entry still runs: `unknown` when this process cannot tell (another
 * machine, container or pid namespace; a malformed identity), which callers must treat as "not dead".
 *
 * @since 0.2.0
 * @category processes
 */
export type Liveness = "alive" | "dead" | "unknown"

/**
 * What `liveness` compares a writer with: this process's host and pid and this machine's facts (see
 * `ProcessIdentity`); `bootedAt` is when this kernel booted (epoch ms, `/proc/stat` `btime`).
 *
 * @since 0.2.0
 * @category processes
 */
export interface MachineFacts {
  readonly host: string
  readonly pid: number
  readonly bootId?: string | undefined
  readonly pidNamespace?: string | undefined
  readonly machineId?: string | undefined
  readonly bootedAt?: number | undefined
}

/**
 * Options of `liveness`: `at`, when the entry was written (epoch ms; needed for a reboot, and for the old
 * rule's pid reuse); `machine`, what to compare with (default `thisMachine()`); `runs`, whether a pid runs
 * here (default `processRuns`).
 *
 * @since 0.2.0
 * @category processes
 */
export interface LivenessOptions {
  readonly at?: number | undefined
  readonly machine?: MachineFacts | undefined
  readonly runs?: ((pid: number) => boolean) | undefined
}

/**
 * What an entry carries besides its columns. `pending`: the request (with its provenance: `path`,
 * `chain`) and its deadline; `decided`: the answer; `settled`: the op the child received and the wait;
 * `warning`, `rejected` and `lost` settlements: a reason.
 *
 * @since 0.2.0
 * @category models
 */
export interface EntryData {
  readonly request?: ApprovalRequest.ApprovalRequest | undefined
  /** Epoch ms after which the request is answered by its deadline. */
  readonly deadlineAt?: number | undefined
  /** The answer (`decided`, `rejected`) in its JSON form (`InboxAnswer` with `Option` as value or `null`). */
  readonly answer?: unknown
  readonly op?: Op.Op | undefined
  readonly waitedMs?: number | undefined
  readonly reason?: string | undefined
  /** `pending`: where the child that asked can be reached again after its process died. @since 0.2.0 */
  readonly reattach?: ReattachPoint | undefined
  /** `pending`: where the request was asked (the run's working directory). @since 0.2.0 */
  readonly origin?: RequestOrigin | undefined
}

/**
 * Where a request was asked, as the process that recorded it knows it: the working directory of the run
 * whose child asked. A restarted parent re-sends a decision that never reached its child only to a
 * request asked again from the same place (see the CLI's `LedgerSetup.sameRequest`). A row is untrusted:
 * its readers check every field.
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestOrigin {
  /** The run's working directory, as a real absolute path. */
  readonly workspace?: string | undefined
}

/**
 * Where a child that outlives its parent can be reached again (a durable Codex: its socket, pid, thread).
 *
 * @since 0.2.0
 * @category models
 */
export interface ReattachPoint {
  readonly socketPath: string
  readonly pid: number
  readonly watchdogPid: number
  readonly threadId: string
}

/**
 * One entry of the ledger. `seq` orders all entries of a ledger (1, 2, 3, ...); `hash` is the sha-256 of
 * the entry's canonical JSON including `prevHash`, the previous entry's hash (64 zeros for the first).
 * `digest` is the sha-256 of the request's canonical JSON, the same on every entry of a request.
 *
 * @since 0.2.0
 * @category models
 */
export interface LedgerEntry {
  readonly seq: number
  /** Epoch ms. */
  readonly at: number
  readonly type: EntryType
  readonly requestId: string
  readonly delegateId: string
  readonly kind: ApprovalRequest.ApprovalKind
  readonly outcome?: LedgerOutcome | undefined
  readonly decidedBy?: DecidedBy.DecidedBy | undefined
  readonly process: ProcessIdentity
  readonly traceId?: string | undefined
  readonly digest: string
  readonly data: EntryData
  readonly prevHash: string
  readonly hash: string
}

/**
 * A request recorded as pending and not yet decided, as `pending` lists it.
 *
 * @since 0.2.0
 * @category models
 */
export interface PendingEntry {
  readonly entry: LedgerEntry
  readonly request: ApprovalRequest.ApprovalRequest
  readonly deadlineAt?: number | undefined
}

/**
 * The answer that won for a request, as `awaitAnswer` and `decision` return it.
 *
 * @since 0.2.0
 * @category models
 */
export interface LedgerDecision {
  readonly requestId: string
  readonly answer: ApprovalInbox.InboxAnswer
  readonly decidedBy: DecidedBy.DecidedBy
  /** Epoch ms. */
  readonly at: number
  readonly process: ProcessIdentity
  readonly entry: LedgerEntry
}

/**
 * Extra facts recorded with a pending request.
 *
 * @since 0.2.0
 * @category models
 */
export interface PendingMeta {
  readonly traceId?: string | undefined
  /** Epoch ms after which the request is answered by its deadline. */
  readonly deadlineAt?: number | undefined
  /** Where the child that asked can be reached again after this process died. @since 0.2.0 */
  readonly reattach?: ReattachPoint | undefined
  /** Where the request was asked (the run's working directory). @since 0.2.0 */
  readonly origin?: RequestOrigin | undefined
}

/**
 * Extra facts recorded with a settlement.
 *
 * @since 0.2.0
 * @category models
 */
export interface SettledMeta {
  readonly traceId?: string | undefined
}

/**
 * Which pending requests (or, for `settleLost`, which to settle): every condition given must hold.
 *
 * @since 0.2.0
 * @category models
 */
export interface PendingFilter {
  readonly requestIds?: ReadonlyArray<string> | undefined
  readonly delegateId?: string | undefined
  readonly kind?: ApprovalRequest.ApprovalKind | undefined
  readonly host?: string | undefined
  readonly pid?: number | undefined
  readonly runId?: string | undefined
}

/**
 * Which entries `list` returns (for `deputy log`): every condition given must hold; oldest first.
 * `outcome` and `decidedBy` (a `DecidedBy` tag such as `Person`, `Deadline`) match the entries that
 * carry them (`decided`, `settled`). `since` / `until` are epoch ms (inclusive / exclusive).
 *
 * @since 0.2.0
 * @category models
 */
export interface EntryFilter {
  readonly requestId?: string | undefined
  readonly delegateId?: string | undefined
  readonly kind?: ApprovalRequest.ApprovalKind | undefined
  readonly type?: EntryType | ReadonlyArray<EntryType> | undefined
  readonly outcome?: LedgerOutcome | undefined
  readonly decidedBy?: DecidedBy.DecidedBy["_tag"] | undefined
  readonly since?: number | undefined
  readonly until?: number | undefined
  /** Only entries after this `seq`. */
  readonly afterSeq?: number | undefined
  /** At most this many entries (default: all). */
  readonly limit?: number | undefined
}

/**
 * What `verify` found: the number of entries checked and, if the chain is broken, the first broken
 * entry with what is wrong with it. `AnchorMismatch`: the chain holds but disagrees with its anchor
 * outside the database (see `AnchorOptions`): entries from `seq` on were removed or rewritten, or the
 * anchor (`anchor`, the file) is missing or was not written with the ledger's key. `anchorSeq` is the
 * entry the anchor names, when it is readable.
 *
 * @since 0.2.0
 * @category models
 */
export type VerifyResult =
  | { readonly _tag: "Intact"; readonly entries: number; readonly lastHash: string }
  | {
    readonly _tag: "Broken"
    readonly entries: number
    readonly seq: number
    readonly reason: string
  }
  | {
    readonly _tag: "AnchorMismatch"
    readonly entries: number
    readonly seq: number
    readonly anchorSeq: number | undefined
    readonly anchor: string
    readonly reason: string
  }

/**
 * The ledger could not be read or written: the database is locked, the disk is full, the server is gone.
 * `target` names the file or server.
 *
 * @since 0.2.0
 * @category errors
 */
export class LedgerUnavailable extends Schema.TaggedError<LedgerUnavailable>("@deputy/ledger/LedgerUnavailable")(
  "LedgerUnavailable",
  { target: Schema.String, operation: Schema.String, reason: Schema.String }
) {
  override get message(): string {
    return `the approval ledger ${this.target} could not ${this.operation}: ${this.reason}`
  }
}

/**
 * The ledger's file or database is not a Deputy ledger: corrupt, not a database, or another program's
 * database. Nothing was written to it.
 *
 * @since 0.2.0
 * @category errors
 */
export class LedgerCorrupt extends Schema.TaggedError<LedgerCorrupt>("@deputy/ledger/LedgerCorrupt")(
  "LedgerCorrupt",
  { target: Schema.String, reason: Schema.String }
) {
  override get message(): string {
    return `${this.target} is not a usable Deputy approval ledger (${this.reason}); nothing was written to it. ` +
      `Move it away or point DEPUTY_HOME elsewhere.`
  }
}

/**
 * An answer lost: the request was already decided, by `decidedBy` at `at` (epoch ms). The losing answer
 * is recorded as `rejected`.
 *
 * @since 0.2.0
 * @category errors
 */
export class AlreadyDecided extends Schema.TaggedError<AlreadyDecided>("@deputy/ledger/AlreadyDecided")(
  "AlreadyDecided",
  { id: Schema.String, decidedBy: Schema.Unknown, at: Schema.Number, outcome: Schema.optional(Schema.String) }
) {
  override get message(): string {
    const by = DecidedBy.describe(this.decidedBy as DecidedBy.DecidedBy)
    return `request ${this.id} was already decided by ${by} at ${new Date(this.at).toISOString()}` +
      `${this.outcome === undefined ? "" : ` (${this.outcome})`}; this answer was not used`
  }
}

/**
 * An answer came after the request's deadline; it is recorded as `rejected` (late) and not used.
 *
 * @since 0.2.0
 * @category errors
 */
export class AnswerTooLate extends Schema.TaggedError<AnswerTooLate>("@deputy/ledger/AnswerTooLate")(
  "AnswerTooLate",
  { id: Schema.String, deadlineAt: Schema.Number, at: Schema.Number }
) {
  override get message(): string {
    return `request ${this.id} timed out at ${new Date(this.deadlineAt).toISOString()}; the answer given ` +
      `${Math.round(this.at - this.deadlineAt)} ms later was recorded as late and not used`
  }
}

/**
 * No request with this id was ever recorded pending.
 *
 * @since 0.2.0
 * @category errors
 */
export class UnknownRequest extends Schema.TaggedError<UnknownRequest>("@deputy/ledger/UnknownRequest")(
  "UnknownRequest",
  { id: Schema.String }
) {
  override get message(): string {
    return `no request with id ${this.id} is in the approval ledger`
  }
}

/**
 * The answer does not fit the request (a decision for a user-input request, ...).
 *
 * @since 0.2.0
 * @category errors
 */
export class AnswerMismatch extends Schema.TaggedError<AnswerMismatch>("@deputy/ledger/AnswerMismatch")(
  "AnswerMismatch",
  { id: Schema.String, kind: Schema.String, answer: Schema.String }
) {
  override get message(): string {
    return `request ${this.id} is a ${this.kind} request and cannot take a ${this.answer} answer`
  }
}

/**
 * An answer from another process (`answer`) does not fit what the request asks: a form value of the wrong
 * type or a field the form does not have, a `persist` choice the tool-call approval does not offer, an
 * answer to a question the request does not ask, an option a question does not list. Nothing is recorded;
 * the request stays pending. `problem` says what does not fit.
 *
 * @since 0.2.0
 * @category errors
 */
export class AnswerInvalid extends Schema.TaggedError<AnswerInvalid>("@deputy/ledger/AnswerInvalid")(
  "AnswerInvalid",
  { id: Schema.String, kind: Schema.String, problem: Schema.String }
) {
  override get message(): string {
    return `the answer does not fit request ${this.id} (${this.kind}): ${this.problem}; nothing was recorded, ` +
      `the request still waits`
  }
}

/**
 * A request was settled twice: the second settlement is not recorded.
 *
 * @since 0.2.0
 * @category errors
 */
export class AlreadySettled extends Schema.TaggedError<AlreadySettled>("@deputy/ledger/AlreadySettled")(
  "AlreadySettled",
  { id: Schema.String, outcome: Schema.String }
) {
  override get message(): string {
    return `request ${this.id} was already settled (${this.outcome}); the second settlement was not recorded`
  }
}

/**
 * What the ledger's storage can fail with.
 *
 * @since 0.2.0
 * @category errors
 */
export type LedgerError = LedgerUnavailable | LedgerCorrupt

/**
 * Options of the Approvals middleware (`approvals(inner, options)`).
 *
 * - `deadline`: how long a request may wait; a `warning` entry at `warnAt` (default 0.8) of it, then it
 *   settles `timed_out` (`DecidedBy.Deadline`). Prefer this to the delegate's `approvalTimeout` so the
 *   ledger records the timeout as the winner against late answers.
 * - `remote`: also wait for an answer from another process (`answer`), racing the inner `Approvals`;
 *   the first answer wins. With `inner` never answering this is the inbox mode.
 * - `recordTimeout`: how long recording may take before the request fails closed (default 5 s).
 *
 * @since 0.2.0
 * @category models
 */
export interface MiddlewareOptions {
  readonly deadline?: Duration.DurationInput | undefined
  readonly warnAt?: number | undefined
  readonly remote?: boolean | undefined
  readonly recordTimeout?: Duration.DurationInput | undefined
  /** Where the child that asked a request can be reached again, recorded with it pending. @since 0.2.0 */
  readonly reattachOf?: ((request: ApprovalRequest.ApprovalRequest) => ReattachPoint | undefined) | undefined
  /** Where a request was asked, recorded with it pending. @since 0.2.0 */
  readonly originOf?: ((request: ApprovalRequest.ApprovalRequest) => RequestOrigin | undefined) | undefined
  /** Called when recording failed and the request was answered with the fail-closed default. */
  readonly onFailure?: ((request: ApprovalRequest.ApprovalRequest, error: unknown) => Effect.Effect<void>) | undefined
}

/**
 * The ledger's operations.
 *
 * @since 0.2.0
 * @category models
 */
export interface ApprovalLedgerService {
  /** Who this ledger writes as. */
  readonly process: ProcessIdentity
  /** Where it writes (a file, a server), for messages. */
  readonly target: string
  /** Records a request before anyone sees it. Recording the same request id twice records it once. */
  readonly recordPending: (
    request: ApprovalRequest.ApprovalRequest,
    meta?: PendingMeta
  ) => Effect.Effect<LedgerEntry, LedgerError>
  /** Appends a `warning` entry: the request's deadline is near. */
  readonly recordWarning: (id: string, reason: string) => Effect.Effect<LedgerEntry, LedgerError | UnknownRequest>
  /**
   * Appends what the child received. Claims the decision too if nobody decided yet (a settlement decided
   * in this process); fails with `AlreadySettled` for a second settlement.
   */
  readonly recordSettled: (
    settlement: ApprovalRequest.ApprovalSettlement,
    meta?: SettledMeta
  ) => Effect.Effect<LedgerEntry, LedgerError | AlreadySettled>
  /**
   * Answers a pending request from anywhere: the first answer wins, atomically across processes; a later
   * one fails with `AlreadyDecided` (who, when) and one after the deadline with `AnswerTooLate`, both
   * recorded as `rejected`. The answer is checked against the request first (an elicitation against its
   * form or its `persist` choices, answers against the questions asked): one that does not fit fails with
   * `AnswerInvalid` and nothing is recorded. The answer recorded, and received by the waiting delegate, is
   * the checked one (an elicitation's `content` as its schema has it; a decline without content).
   */
  readonly answer: (
    id: string,
    answer: ApprovalInbox.InboxAnswer,
    decidedBy: DecidedBy.DecidedBy
  ) => Effect.Effect<
    LedgerDecision,
    LedgerError | AlreadyDecided | AnswerTooLate | UnknownRequest | AnswerMismatch | AnswerInvalid
  >
  /** The winning answer of a request, if it is decided. */
  readonly decision: (id: string) => Effect.Effect<LedgerDecision | undefined, LedgerError>
  /** Waits until a request is decided (from any process) and returns the winning answer. */
  readonly awaitAnswer: (id: string) => Effect.Effect<LedgerDecision, LedgerError>
  /**
   * Waits until the ledger has an entry after `afterSeq` (written by any process) and returns the last
   * entry's `seq`. It wakes as `awaitAnswer` does: SQLite's file watch (and its backup poll), PostgreSQL's
   * LISTEN/NOTIFY (a `pending` or `decided` entry notifies).
   */
  readonly awaitChange: (afterSeq: number) => Effect.Effect<number, LedgerError>
  /** Undecided requests of every process sharing the ledger, oldest first. */
  readonly pending: (filter?: PendingFilter) => Effect.Effect<ReadonlyArray<PendingEntry>, LedgerError>
  /**
   * Settles undecided requests `lost` with a reason (their process or child is gone): a `decided` entry
   * (`DecidedBy.Cancelled`) and a `settled` entry each. Returns the `settled` entries.
   */
  readonly settleLost: (filter: PendingFilter, reason: string) => Effect.Effect<ReadonlyArray<LedgerEntry>, LedgerError>
  /** Entries, oldest first (see `EntryFilter`). */
  readonly list: (filter?: EntryFilter) => Effect.Effect<ReadonlyArray<LedgerEntry>, LedgerError>
  /** Checks the hash chain from the first entry; reports the first broken entry. */
  readonly verify: Effect.Effect<VerifyResult, LedgerError>
  /**
   * An `Approvals` that records every request pending before asking `inner`, and its settlement after;
   * when recording fails it answers the fail-closed default (`DecidedBy.ServiceFailed`) and reports it.
   */
  readonly approvals: (inner: Approvals.ApprovalsService, options?: MiddlewareOptions) => Approvals.ApprovalsService
}

/**
 * Options shared by every ledger layer.
 *
 * @since 0.2.0
 * @category models
 */
export interface LedgerOptions {
  /**
   * Who writes (default: this host and pid, a fresh run id, and on Linux this process's boot id, pid
   * namespace, start ticks and machine id; given another host or pid, those are left out unless given).
   */
  readonly process?: Partial<ProcessIdentity> | undefined
}

/**
 * Where a ledger keeps its anchor: after each append it writes the head `(seq, hash)` to `file`
 * (one fixed-size record rewritten in place) with an HMAC-SHA256 keyed by `keyFile` (32 random bytes
 * as hex, created with mode 0600 if missing; a key others can read is refused). `verify` then reports
 * an `AnchorMismatch` when entries at the end were removed (even with the head row rewound) or the
 * history was rewritten with fresh hashes. The anchor only moves forward, and only along the chain it
 * anchors, so the next append does not launder a truncation.
 *
 * What it cannot stop: someone who can read the key (by default anyone who runs as the ledger's user)
 * can write any anchor; someone who keeps an old copy of both the database and the anchor can put both
 * back (a rollback to that copy). Deleting the database and its anchor together leaves an empty ledger.
 * The anchor is written after the commit and not synced: after an OS crash or power loss the anchor may
 * name entries SQLite lost (synchronous=NORMAL), which `verify` then reports as removed.
 *
 * @since 0.2.0
 * @category models
 */
export interface AnchorOptions {
  readonly file: string
  /** Default: `ledger.key` in the anchor file's directory. */
  readonly keyFile?: string | undefined
  /**
   * When the anchor file is missing and the ledger already has entries: anchor its current head (trust on
   * first use) instead of reporting the anchor missing. For a ledger shared by several machines
   * (PostgreSQL), where each machine anchors what it saw from the first time it opened the ledger; the
   * CLI sets it for `--ledger postgres:…`. The price: removing this machine's anchor file makes the next
   * open adopt the head again, so a truncation made before that goes unseen here. Default `false`.
   *
   * @since 0.2.0
   */
  readonly adoptExisting?: boolean | undefined
}

/**
 * Options of the SQLite ledger. The file is `filename`, else `$DEPUTY_HOME/ledger.db`, else
 * `~/.deputy/ledger.db` (the directory is created). WAL mode; `busyTimeout` (default 5 s) bounds how
 * long a write waits for another process; `wake` / `pollInterval` say how `awaitAnswer` learns of an
 * answer from another process.
 *
 * @since 0.2.0
 * @category models
 */
export interface SqliteOptions extends LedgerOptions {
  readonly filename?: string | undefined
  readonly busyTimeout?: Duration.DurationInput | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
  /**
   * How `awaitAnswer` learns of an answer from another process: `watch` (the default: a file-system
   * watch on the database's directory, asking every 50 ms as a backup) or `poll` (every `pollInterval`).
   */
  readonly wake?: "poll" | "watch" | undefined
  /** Prefix of the ledger's tables (default `deputy_ledger_`). */
  readonly tablePrefix?: string | undefined
  /**
   * The anchor (see `AnchorOptions`); default: `<filename>.anchor`, keyed by `ledger.key` in the same
   * directory. `false`: no anchor (truncating the tail and rewinding the head then passes `verify`).
   */
  readonly anchor?: Partial<AnchorOptions> | false | undefined
}

/**
 * Options of the PostgreSQL ledger: a connection URL, and the table prefix (default `deputy_ledger_`).
 * Answers from other processes arrive through LISTEN/NOTIFY.
 *
 * @since 0.2.0
 * @category models
 */
export interface PgOptions extends LedgerOptions {
  readonly url: string
  readonly tablePrefix?: string | undefined
  /** At most this many connections (default 4). */
  readonly maxConnections?: number | undefined
  /**
   * An anchor file on this machine (see `AnchorOptions`, and `pgAnchorFile` for the CLI's default):
   * it records the head as this machine last appended it, so `verify` here detects entries removed up to
   * that point. Weaker than SQLite's: what other machines appended after it is not anchored here, and
   * the server's administrator can rewrite the tables. Default: no anchor.
   */
  readonly anchor?: AnchorOptions | undefined
}

/**
 * The default SQLite file: `$DEPUTY_HOME/ledger.db`, else `~/.deputy/ledger.db`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const defaultFilename = (env: Record<string, string | undefined> = process.env): string =>
  sqlLayers.defaultFilename(env)

/**
 * The anchor file of a PostgreSQL ledger on this machine: `$DEPUTY_HOME` (else `~/.deputy`)
 * `/ledger-pg-<hash>.anchor`, one per server, database and table prefix.
 *
 * @since 0.2.0
 * @category constructors
 */
export const pgAnchorFile = (
  url: string,
  tablePrefix?: string,
  env: Record<string, string | undefined> = process.env
): string => sqlLayers.pgAnchorFile(url, tablePrefix, env)

/**
 * The sha-256 (hex) of a request's canonical JSON (keys sorted, no whitespace).
 *
 * @since 0.2.0
 * @category hashing
 */
export const digest = (request: ApprovalRequest.ApprovalRequest): string => internal.digestOf(request)

/**
 * Checks an answer to a request as `answer` does for one given from another process: an elicitation
 * against its form or `persist` choices (`ApprovalRequest.checkElicitationResponse`), user-input answers
 * against its questions (only questions it asks, each answered with texts, and only with its options unless
 * it takes free text, `isOther`), a command's approval against the decisions it lists (`available_decisions`,
 * when it lists them: `approved_for_session` only if listed; a denial always passes). `Valid` carries the
 * answer as it would be recorded and sent; grants always pass (`answer` still refuses an answer of the
 * wrong kind with `AnswerMismatch`).
 *
 * @since 0.2.0
 * @category answers
 */
export const checkAnswer = (
  request: ApprovalRequest.ApprovalRequest,
  answer: ApprovalInbox.InboxAnswer
):
  | { readonly _tag: "Valid"; readonly answer: ApprovalInbox.InboxAnswer }
  | { readonly _tag: "Invalid"; readonly problem: string } => answers.check(request, answer)

/**
 * Whether the process that wrote an entry (`entry.process`, written at `entry.at`) still runs, as this
 * process can tell:
 * - same host, boot id and pid namespace: exact. `alive` if the pid runs, is not a zombie and started at
 *   the recorded `startTicks`; `dead` if it does not run or runs another process (a reused pid). `unknown`
 *   if it runs but cannot be read (`/proc` mounted `hidepid`).
 * - same host and machine id, another boot id, written before this boot began: `dead` (it died with the
 *   reboot).
 * - anything else with the fields (another pid namespace: another container; another boot id without the
 *   same machine id: another machine of the same name; a malformed field: a forged row): `unknown`.
 * - an identity without any of the fields (written before they were recorded, or off Linux): the old
 *   rule. Another host is `unknown`; this host: `dead` if the pid does not run, or runs a process started
 *   more than 2 s (by the wall clock) after `at`; else `alive` (also for this process's own pid).
 *
 * Never throws: an entry is untrusted input.
 *
 * @since 0.2.0
 * @category processes
 */
export const liveness = (writer: ProcessIdentity, options: LivenessOptions = {}): Liveness =>
  livenessInternal.judge(writer, options)

/**
 * This process's host and pid, and this machine's boot id, pid namespace, machine id and boot time, as
 * `liveness` compares them (each absent where the system does not tell).
 *
 * @since 0.2.0
 * @category processes
 */
export const thisMachine = (): MachineFacts => livenessInternal.thisMachine()

/**
 * Whether a pid runs in this pid namespace (as any user); a zombie counts as ended (a container's init may
 * never reap it).
 *
 * @since 0.2.0
 * @category processes
 */
export const processRuns = (pid: number): boolean => livenessInternal.processRuns(pid)

/**
 * When a process of this pid namespace started, in clock ticks after boot (`/proc/<pid>/stat` field 22);
 * `undefined` off Linux or when it cannot be read.
 *
 * @since 0.2.0
 * @category processes
 */
export const startTicks = (pid: number): number | undefined => livenessInternal.startTicks(pid)

/**
 * When a process of this pid namespace started, epoch ms to about a second (boot time by the wall clock
 * plus its start ticks); `undefined` off Linux. Only the old rule of `liveness` uses it.
 *
 * @since 0.2.0
 * @category processes
 */
export const startedAt = (pid: number): number | undefined => livenessInternal.startedAt(pid)

/**
 * Whether the process that wrote an entry is still running: `liveness` with this host (or `host`) as
 * `true` (alive), `false` (dead), `undefined` (unknown).
 *
 * @deprecated Use `liveness`, which also takes the entry's time.
 * @since 0.2.0
 * @category processes
 */
export const processAlive = (identity: ProcessIdentity, host: string = os.hostname()): boolean | undefined => {
  const state = liveness(identity, { machine: { ...thisMachine(), host } })
  return state === "unknown" ? undefined : state === "alive"
}

/**
 * The port (`yield* ApprovalLedger.ApprovalLedger`); its layers are this module's `layerMemory`,
 * `layerSqlite`, `layerPg` and `layerApprovals`.
 *
 * @since 0.2.0
 * @category tags
 */
export class ApprovalLedger extends Context.Tag("@deputy/ledger/ApprovalLedger")<
  ApprovalLedger,
  ApprovalLedgerService
>() {}

/**
 * An in-memory ledger (tests; one process).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemory = (options: LedgerOptions = {}): Layer.Layer<ApprovalLedger> =>
  Layer.effect(ApprovalLedger, memory.make(options))

/**
 * The embedded SQLite ledger (see `SqliteOptions`).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerSqlite = (options: SqliteOptions = {}): Layer.Layer<ApprovalLedger, LedgerError> =>
  Layer.scoped(ApprovalLedger, sqlLayers.makeSqlite(options))

/**
 * A PostgreSQL ledger shared by several machines (see `PgOptions`).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerPg = (options: PgOptions): Layer.Layer<ApprovalLedger, LedgerError> =>
  Layer.scoped(ApprovalLedger, sqlLayers.makePg(options))

/**
 * The `Approvals` middleware as a layer: records every request in the `ApprovalLedger` before asking the
 * `Approvals` below it, and its settlement after.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerApprovals = (
  options: MiddlewareOptions = {}
): Layer.Layer<Approvals.Approvals, never, Approvals.Approvals | ApprovalLedger> =>
  Layer.effect(
    Approvals.Approvals,
    Effect.gen(function*() {
      const ledger = yield* ApprovalLedger
      const inner = yield* Approvals.Approvals
      return ledger.approvals(inner, options)
    })
  )
