/**
 * The ledger's logic over a storage port (`Store`): entries, the hash chain, first-answer-wins, the
 * Approvals middleware. The memory and SQL layers only implement `Store`.
 */
import { type ApprovalInbox, type ApprovalRequest, type Approvals, DecidedBy } from "@deputy/core"
import type { Op, Permissions, RequestUserInput, ReviewDecision } from "@deputy/protocol"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { createHash, randomUUID } from "node:crypto"
import * as os from "node:os"
import type {
  ApprovalLedgerService,
  EntryData,
  EntryFilter,
  EntryType,
  LedgerDecision,
  LedgerEntry,
  LedgerError,
  LedgerOptions,
  LedgerOutcome,
  MiddlewareOptions,
  PendingEntry,
  PendingFilter,
  ProcessIdentity,
  VerifyResult
} from "../ApprovalLedger.js"
import {
  AlreadyDecided,
  AlreadySettled,
  AnswerInvalid,
  AnswerMismatch,
  AnswerTooLate,
  LedgerUnavailable,
  UnknownRequest
} from "../ApprovalLedger.js"
import type { AnchorState } from "./anchor.js"
import { check, decodeAnswer, defaultAnswer, encodeAnswer, resolve, timedOutAnswer } from "./answers.js"
import * as liveness from "./liveness.js"

type InboxAnswer = ApprovalInbox.InboxAnswer
type Request = ApprovalRequest.ApprovalRequest

// ---------------------------------------------------------------------------------------------------------
// canonical JSON and hashes

/** JSON with object keys sorted at every level and `undefined` members left out: one text per value. */
export const canonical = (value: unknown): string => {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) return "null"
    return value === undefined ? "null" : JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map((item) => item === undefined ? "null" : canonical(item)).join(",")}]`
  const record = value as Record<string, unknown>
  const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical(record[key])}`).join(",")}}`
}

/** The sha-256 of a text, as hex. */
export const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")

/** The digest of a request: sha-256 of its canonical JSON. */
export const digestOf = (request: Request): string => sha256(canonical(request))

/** The `prevHash` of the first entry. */
export const genesis = "0".repeat(64)

// ---------------------------------------------------------------------------------------------------------
// rows and the storage port

/** An entry as the service asks to append it. */
export interface NewRow {
  readonly type: EntryType
  readonly requestId: string
  /** `<requestId>/pending|decided|settled` for the entries a request may have once; unique. */
  readonly key: string | null
  readonly delegateId: string
  readonly kind: string
  readonly outcome: string | null
  /** `DecidedBy` as canonical JSON. */
  readonly decidedBy: string | null
  readonly decidedByTag: string | null
  readonly host: string
  readonly pid: number
  readonly runId: string
  /** The writer's `ProcessIdentity` fields of schema 2; absent in rows written before them. */
  readonly bootId?: string | undefined
  readonly pidNamespace?: string | undefined
  readonly startTicks?: number | undefined
  readonly machineId?: string | undefined
  readonly traceId: string | null
  readonly digest: string
  /** `EntryData` as canonical JSON. */
  readonly data: string
}

/** An entry as stored. */
export interface Row extends NewRow {
  readonly seq: number
  readonly at: number
  readonly prevHash: string
  readonly hash: string
}

/**
 * The hash of a row: sha-256 of the canonical JSON of all its fields but `hash`. The identity fields of
 * schema 2 are left out when absent, so a row written before them hashes as it did.
 */
export const hashOf = (row: Omit<Row, "hash">): string =>
  sha256(canonical({
    seq: row.seq,
    at: row.at,
    type: row.type,
    requestId: row.requestId,
    key: row.key,
    delegateId: row.delegateId,
    kind: row.kind,
    outcome: row.outcome,
    decidedBy: row.decidedBy,
    decidedByTag: row.decidedByTag,
    host: row.host,
    pid: row.pid,
    runId: row.runId,
    bootId: row.bootId,
    pidNamespace: row.pidNamespace,
    startTicks: row.startTicks,
    machineId: row.machineId,
    traceId: row.traceId,
    digest: row.digest,
    data: row.data,
    prevHash: row.prevHash
  }))

/** Gives a new row its place in the chain. */
export const seal = (row: NewRow, seq: number, at: number, prevHash: string): Row => {
  const unsealed = { ...row, seq, at, prevHash }
  return { ...unsealed, hash: hashOf(unsealed) }
}

/** What a `Store.select` returns. */
export interface RowQuery {
  readonly requestIds?: ReadonlyArray<string> | undefined
  readonly delegateId?: string | undefined
  readonly kind?: string | undefined
  readonly types?: ReadonlyArray<EntryType> | undefined
  readonly outcome?: string | undefined
  readonly decidedByTag?: string | undefined
  readonly since?: number | undefined
  readonly until?: number | undefined
  readonly afterSeq?: number | undefined
  readonly limit?: number | undefined
  readonly host?: string | undefined
  readonly pid?: number | undefined
  readonly runId?: string | undefined
  /** Only `pending` rows of requests with no `decided` row. */
  readonly open?: boolean | undefined
}

/** The rows to append, and what to answer once they are committed (which may be a failure). */
export interface Plan<A, E> {
  readonly rows: ReadonlyArray<NewRow>
  readonly result: (rows: ReadonlyArray<Row>) => Effect.Effect<A, E>
}

/**
 * What an append decides from: the rows already recorded for its request and the transaction's time
 * (every row appended gets it). Pure, so a store may run it inside a synchronous transaction.
 */
export type Planner<A, E> = (rows: ReadonlyArray<Row>, now: number) => Plan<A, E>

/** The anchor as a store reads it for `verify`. */
export interface StoreAnchor {
  readonly file: string
  readonly read: Effect.Effect<AnchorState, LedgerError>
}

/**
 * The storage port. `append` reads the rows of `requestId`, runs `plan` on them and appends its rows
 * atomically, serialized with every writer (then moves the anchor, if the store has one).
 */
export interface Store {
  readonly target: string
  readonly append: <A, E>(requestId: string, plan: Planner<A, E>) => Effect.Effect<A, E | LedgerError>
  readonly select: (query: RowQuery) => Effect.Effect<ReadonlyArray<Row>, LedgerError>
  /** The last entry's seq and hash as the store's head records them (0 and `genesis` when empty). */
  readonly head: Effect.Effect<{ readonly seq: number; readonly hash: string }, LedgerError>
  /** Waits until the request has a `decided` row and returns it. */
  readonly awaitDecided: (requestId: string) => Effect.Effect<Row, LedgerError>
  /** Waits until the head is past `afterSeq` and returns its seq. */
  readonly awaitHead: (afterSeq: number) => Effect.Effect<number, LedgerError>
  readonly anchor?: StoreAnchor | undefined
}

/** Filters rows in memory the way the SQL stores do in their `WHERE`. */
export const matches = (row: Row, query: RowQuery): boolean =>
  (query.requestIds === undefined || query.requestIds.includes(row.requestId)) &&
  (query.delegateId === undefined || row.delegateId === query.delegateId) &&
  (query.kind === undefined || row.kind === query.kind) &&
  (query.types === undefined || query.types.includes(row.type)) &&
  (query.outcome === undefined || row.outcome === query.outcome) &&
  (query.decidedByTag === undefined || row.decidedByTag === query.decidedByTag) &&
  (query.since === undefined || row.at >= query.since) &&
  (query.until === undefined || row.at < query.until) &&
  (query.afterSeq === undefined || row.seq > query.afterSeq) &&
  (query.host === undefined || row.host === query.host) &&
  (query.pid === undefined || row.pid === query.pid) &&
  (query.runId === undefined || row.runId === query.runId)

// ---------------------------------------------------------------------------------------------------------
// entries

/** The identity fields of schema 2 that `identity` has. */
const identityFields = (
  identity: Partial<ProcessIdentity>
): Pick<ProcessIdentity, "bootId" | "pidNamespace" | "startTicks" | "machineId"> => ({
  ...(identity.bootId === undefined ? {} : { bootId: identity.bootId }),
  ...(identity.pidNamespace === undefined ? {} : { pidNamespace: identity.pidNamespace }),
  ...(identity.startTicks === undefined ? {} : { startTicks: identity.startTicks }),
  ...(identity.machineId === undefined ? {} : { machineId: identity.machineId })
})

/**
 * This process, with a fresh run id unless given, and this process's boot id, pid namespace, start ticks
 * and machine id unless it is given another host or pid to write as (then only the fields given).
 */
export const processIdentity = (options: LedgerOptions = {}): ProcessIdentity => {
  const given = options.process ?? {}
  const host = given.host ?? os.hostname()
  const pid = given.pid ?? process.pid
  const own = host === os.hostname() && pid === process.pid ? liveness.ownFields() : {}
  return { host, pid, runId: given.runId ?? randomUUID(), ...own, ...identityFields(given) }
}

/** Reads a stored row as an entry. */
export const toEntry = (row: Row): LedgerEntry => ({
  seq: row.seq,
  at: row.at,
  type: row.type,
  requestId: row.requestId,
  delegateId: row.delegateId,
  kind: row.kind as ApprovalRequest.ApprovalKind,
  ...(row.outcome === null ? {} : { outcome: row.outcome as LedgerOutcome }),
  ...(row.decidedBy === null ? {} : { decidedBy: JSON.parse(row.decidedBy) as DecidedBy.DecidedBy }),
  process: { host: row.host, pid: row.pid, runId: row.runId, ...identityFields(row) },
  ...(row.traceId === null ? {} : { traceId: row.traceId }),
  digest: row.digest,
  data: JSON.parse(row.data) as EntryData,
  prevHash: row.prevHash,
  hash: row.hash
})

const errorText = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : canonical(error)

/** Wraps a storage failure. */
export const unavailable = (target: string, operation: string) => (cause: unknown): LedgerUnavailable =>
  new LedgerUnavailable({ target, operation, reason: causeText(cause) })

const causeText = (cause: unknown): string => {
  const inner = (cause as { readonly cause?: unknown })?.cause
  const text = errorText(cause)
  return inner !== undefined && inner !== cause ? `${text}: ${causeText(inner)}` : text
}

const answerFromOp = (op: Op.Op): InboxAnswer => {
  const value = op as {
    readonly type: string
    readonly decision?: ReviewDecision.ReviewDecision
    readonly response?: unknown
  }
  switch (value.type) {
    case "exec_approval":
    case "patch_approval":
      return { _tag: "Decision", decision: value.decision ?? "abort" }
    case "request_permissions_response":
      return { _tag: "Permissions", response: Option.some(value.response as Permissions.RequestPermissionsResponse) }
    case "user_input_answer":
      return { _tag: "UserInput", response: Option.some(value.response as RequestUserInput.RequestUserInputResponse) }
    case "resolve_elicitation": {
      const { content, decision, meta } = op as {
        readonly decision?: ApprovalRequest.ElicitationResponse["action"]
        readonly content?: Readonly<Record<string, unknown>>
        readonly meta?: { readonly persist?: ApprovalRequest.ElicitationPersist }
      }
      return {
        _tag: "Elicitation",
        response: {
          action: decision ?? "decline",
          ...(content === undefined ? {} : { content }),
          ...(meta?.persist === undefined ? {} : { persist: meta.persist })
        }
      }
    }
    default:
      return { _tag: "Decision", decision: "abort" }
  }
}

const answerName = (answer: InboxAnswer): string =>
  answer._tag === "Decision"
    ? "decision"
    : answer._tag === "Permissions"
    ? "permissions"
    : answer._tag === "Elicitation"
    ? "elicitation"
    : "user input"

interface Writer {
  readonly process: ProcessIdentity
}

const baseRow = (
  writer: Writer,
  type: EntryType,
  request: Pick<Request, "id" | "delegateId" | "kind">,
  digest: string,
  fields: Partial<Omit<NewRow, "data">> & { readonly data: EntryData }
): NewRow => ({
  type,
  requestId: request.id,
  key: fields.key ?? null,
  delegateId: request.delegateId,
  kind: request.kind,
  outcome: fields.outcome ?? null,
  decidedBy: fields.decidedBy ?? null,
  decidedByTag: fields.decidedByTag ?? null,
  host: writer.process.host,
  pid: writer.process.pid,
  runId: writer.process.runId,
  ...identityFields(writer.process),
  traceId: fields.traceId ?? null,
  digest,
  data: canonical(fields.data)
})

const decidedByFields = (decidedBy: DecidedBy.DecidedBy) => ({
  decidedBy: canonical(decidedBy),
  decidedByTag: decidedBy._tag
})

const decisionOf = (row: Row): LedgerDecision => {
  const entry = toEntry(row)
  return {
    requestId: row.requestId,
    answer: decodeAnswer(entry.data.answer),
    decidedBy: entry.decidedBy!,
    at: row.at,
    process: entry.process,
    entry
  }
}

const find = (rows: ReadonlyArray<Row>, type: EntryType) => rows.find((row) => row.type === type)

const requestOf = (pending: Row): Request => (JSON.parse(pending.data) as EntryData).request!

const pendingEntryOf = (row: Row): PendingEntry => {
  const entry = toEntry(row)
  return {
    entry,
    request: entry.data.request!,
    ...(entry.data.deadlineAt === undefined ? {} : { deadlineAt: entry.data.deadlineAt })
  }
}

interface VerifyState {
  expectedSeq: number
  prevHash: string
  /** Hashes of the entries at these seqs, as the walk meets them. */
  readonly marks: Map<number, string | undefined>
}

const verifyRows = (
  rows: ReadonlyArray<Row>,
  state: VerifyState
): { readonly seq: number; readonly reason: string } | undefined => {
  for (const row of rows) {
    if (row.seq !== state.expectedSeq) {
      return {
        seq: state.expectedSeq,
        reason: row.seq > state.expectedSeq
          ? `entry ${state.expectedSeq} is missing (the next entry is ${row.seq})`
          : `entry ${row.seq} appears out of order`
      }
    }
    if (row.prevHash !== state.prevHash) {
      return { seq: row.seq, reason: "its previous-entry hash does not match the entry before it" }
    }
    const { hash: _hash, ...unsealed } = row
    if (hashOf(unsealed) !== row.hash) return { seq: row.seq, reason: "its content does not match its hash" }
    if (state.marks.has(row.seq)) state.marks.set(row.seq, row.hash)
    state.expectedSeq = row.seq + 1
    state.prevHash = row.hash
  }
  return undefined
}

/** Compares the verified chain (`entries` long) with its anchor. */
const checkAnchor = (
  file: string,
  anchor: AnchorState,
  entries: number,
  hashAt: (seq: number) => string | undefined
): VerifyResult | undefined => {
  const mismatch = (seq: number, anchorSeq: number | undefined, reason: string): VerifyResult => ({
    _tag: "AnchorMismatch",
    entries,
    seq,
    anchorSeq,
    anchor: file,
    reason
  })
  switch (anchor._tag) {
    case "Missing":
      return entries === 0 ? undefined : mismatch(
        1,
        undefined,
        `its anchor ${file} is missing though the ledger has ${entries} entries ` +
          `(the anchor was removed, or the ledger was copied without it)`
      )
    case "Invalid":
      return mismatch(1, undefined, `its anchor ${file} ${anchor.reason}`)
    case "Valid":
      if (anchor.seq > entries) {
        return mismatch(
          entries + 1,
          anchor.seq,
          `the ledger ends at ${entries} but its anchor says ${anchor.seq} ` +
            `(entries ${entries + 1}–${anchor.seq} were removed)`
        )
      }
      if ((anchor.seq === 0 ? genesis : hashAt(anchor.seq)) !== anchor.hash) {
        return mismatch(
          anchor.seq,
          anchor.seq,
          `entry ${anchor.seq} is not the one its anchor recorded (the history up to it was rewritten)`
        )
      }
      return undefined
  }
}

const verifyPage = 1000

/** The ledger service over a store. */
export const makeService = (store: Store, process: ProcessIdentity): ApprovalLedgerService => {
  const writer: Writer = { process }

  const recordPending: ApprovalLedgerService["recordPending"] = (request, meta = {}) =>
    store.append(request.id, (rows): Plan<LedgerEntry, never> => {
      const existing = find(rows, "pending")
      if (existing !== undefined) return { rows: [], result: () => Effect.succeed(toEntry(existing)) }
      const row = baseRow(writer, "pending", request, digestOf(request), {
        key: `${request.id}/pending`,
        traceId: meta.traceId ?? null,
        data: {
          request,
          deadlineAt: meta.deadlineAt,
          ...(meta.reattach === undefined ? {} : { reattach: meta.reattach }),
          ...(meta.origin === undefined ? {} : { origin: meta.origin })
        }
      })
      return { rows: [row], result: (sealed) => Effect.succeed(toEntry(sealed[0])) }
    })

  const recordWarning: ApprovalLedgerService["recordWarning"] = (id, reason) =>
    store.append(id, (rows): Plan<LedgerEntry, UnknownRequest> => {
      const pending = find(rows, "pending")
      if (pending === undefined) return { rows: [], result: () => Effect.fail(new UnknownRequest({ id })) }
      const row = baseRow(writer, "warning", requestOf(pending), pending.digest, {
        traceId: pending.traceId,
        data: { reason }
      })
      return { rows: [row], result: (sealed) => Effect.succeed(toEntry(sealed[0])) }
    })

  const recordSettled: ApprovalLedgerService["recordSettled"] = (settlement, meta = {}) =>
    store.append(settlement.request.id, (rows): Plan<LedgerEntry, AlreadySettled> => {
      const request = settlement.request
      const settled = find(rows, "settled")
      if (settled !== undefined) {
        return {
          rows: [],
          result: () => Effect.fail(new AlreadySettled({ id: request.id, outcome: settled.outcome ?? "unknown" }))
        }
      }
      const pending = find(rows, "pending")
      const digest = pending?.digest ?? digestOf(request)
      const traceId = meta.traceId ?? pending?.traceId ?? null
      const out: Array<NewRow> = []
      if (pending === undefined) {
        out.push(baseRow(writer, "pending", request, digest, {
          key: `${request.id}/pending`,
          traceId,
          data: { request }
        }))
      }
      if (find(rows, "decided") === undefined) {
        out.push(baseRow(writer, "decided", request, digest, {
          key: `${request.id}/decided`,
          outcome: settlement.outcome,
          ...decidedByFields(settlement.decidedBy),
          traceId,
          data: { answer: encodeAnswer(answerFromOp(settlement.answer)) }
        }))
      }
      out.push(baseRow(writer, "settled", request, digest, {
        key: `${request.id}/settled`,
        outcome: settlement.outcome,
        ...decidedByFields(settlement.decidedBy),
        traceId,
        data: { op: settlement.answer, waitedMs: settlement.waitedMs, reason: settlement.reason }
      }))
      return { rows: out, result: (sealed) => Effect.succeed(toEntry(sealed[sealed.length - 1])) }
    })

  type AnswerError = AlreadyDecided | AnswerTooLate | UnknownRequest | AnswerMismatch | AnswerInvalid

  /**
   * Claims the decision. `checkDeadline` (answers from elsewhere): check the answer against the request
   * (one that does not fit records nothing) and refuse it after the pending deadline.
   */
  const claim = (
    id: string,
    given: InboxAnswer,
    decidedBy: DecidedBy.DecidedBy,
    checkDeadline: boolean,
    outcomeOverride?: LedgerOutcome,
    settleFrom?: number
  ) =>
    store.append(id, (rows, now): Plan<Claimed, AnswerError> => {
      const pending = find(rows, "pending")
      if (pending === undefined) return { rows: [], result: () => Effect.fail(new UnknownRequest({ id })) }
      const request = requestOf(pending)
      if (resolve(request, given) === undefined) {
        return {
          rows: [],
          result: () => Effect.fail(new AnswerMismatch({ id, kind: request.kind, answer: answerName(given) }))
        }
      }
      const checked: ReturnType<typeof check> = checkDeadline ? check(request, given) : { _tag: "Valid", answer: given }
      if (checked._tag === "Invalid") {
        return {
          rows: [],
          result: () => Effect.fail(new AnswerInvalid({ id, kind: request.kind, problem: checked.problem }))
        }
      }
      const answer = checked.answer
      const resolved = resolve(request, answer)!
      const rejected = (reason: string) =>
        baseRow(writer, "rejected", request, pending.digest, {
          ...decidedByFields(decidedBy),
          traceId: pending.traceId,
          data: { answer: encodeAnswer(answer), reason }
        })
      const decided = find(rows, "decided")
      if (decided !== undefined) {
        const winner = toEntry(decided)
        return {
          rows: [rejected("already decided")],
          result: () =>
            Effect.fail(
              new AlreadyDecided({
                id,
                decidedBy: winner.decidedBy,
                at: winner.at,
                ...(winner.outcome === undefined ? {} : { outcome: winner.outcome })
              })
            )
        }
      }
      const deadlineAt = (JSON.parse(pending.data) as EntryData).deadlineAt
      if (checkDeadline && deadlineAt !== undefined && now > deadlineAt) {
        return {
          rows: [rejected("late: after the deadline")],
          result: () => Effect.fail(new AnswerTooLate({ id, deadlineAt, at: now }))
        }
      }
      const outcome = outcomeOverride ?? resolved.outcome
      const row = baseRow(writer, "decided", request, pending.digest, {
        key: `${id}/decided`,
        outcome,
        ...decidedByFields(decidedBy),
        traceId: pending.traceId,
        data: { answer: encodeAnswer(answer) }
      })
      // decided in this process for a waiting request: the settlement goes in the same transaction
      const settle = settleFrom !== undefined && find(rows, "settled") === undefined
      const out = settle
        ? [
          row,
          baseRow(writer, "settled", request, pending.digest, {
            key: `${id}/settled`,
            outcome,
            ...decidedByFields(decidedBy),
            traceId: pending.traceId,
            data: { op: resolved.op, waitedMs: now - settleFrom }
          })
        ]
        : [row]
      return { rows: out, result: (sealed) => Effect.succeed({ ...decisionOf(sealed[0]), settled: settle }) }
    })

  const answer: ApprovalLedgerService["answer"] = (id, value, decidedBy) =>
    Effect.map(claim(id, value, decidedBy, true), ({ settled: _settled, ...decision }) => decision)

  const decision: ApprovalLedgerService["decision"] = (id) =>
    Effect.map(
      store.select({ requestIds: [id], types: ["decided"] }),
      (rows) => rows.length === 0 ? undefined : decisionOf(rows[0])
    )

  const awaitAnswer: ApprovalLedgerService["awaitAnswer"] = (id) => Effect.map(store.awaitDecided(id), decisionOf)
  const awaitChange: ApprovalLedgerService["awaitChange"] = (afterSeq) => store.awaitHead(afterSeq)

  const pendingQuery = (filter: PendingFilter): RowQuery => ({
    requestIds: filter.requestIds,
    delegateId: filter.delegateId,
    kind: filter.kind,
    host: filter.host,
    pid: filter.pid,
    runId: filter.runId,
    types: ["pending"],
    open: true
  })

  const pending: ApprovalLedgerService["pending"] = (filter = {}) =>
    Effect.map(store.select(pendingQuery(filter)), (rows) => rows.map(pendingEntryOf))

  const settleOneLost = (id: string, reason: string) =>
    store.append(id, (rows, now): Plan<Option.Option<LedgerEntry>, never> => {
      const pendingRow = find(rows, "pending")
      if (pendingRow === undefined || find(rows, "decided") !== undefined) {
        return { rows: [], result: () => Effect.succeed(Option.none()) }
      }
      const request = requestOf(pendingRow)
      const decidedBy: DecidedBy.DecidedBy = { _tag: "Cancelled", reason }
      const fallback = defaultAnswer(request)
      const op = resolve(request, fallback)!.op
      const common = { ...decidedByFields(decidedBy), traceId: pendingRow.traceId, outcome: "lost" }
      return {
        rows: [
          baseRow(writer, "decided", request, pendingRow.digest, {
            ...common,
            key: `${id}/decided`,
            data: { answer: encodeAnswer(fallback), reason }
          }),
          baseRow(writer, "settled", request, pendingRow.digest, {
            ...common,
            key: `${id}/settled`,
            data: { op, waitedMs: now - pendingRow.at, reason }
          })
        ],
        result: (sealed) => Effect.succeed(Option.some(toEntry(sealed[1])))
      }
    })

  const settleLost: ApprovalLedgerService["settleLost"] = (filter, reason) =>
    Effect.gen(function*() {
      const open = yield* store.select(pendingQuery(filter))
      const settled: Array<LedgerEntry> = []
      for (const row of open) {
        const entry = yield* settleOneLost(row.requestId, reason)
        if (Option.isSome(entry)) settled.push(entry.value)
      }
      return settled
    })

  const list: ApprovalLedgerService["list"] = (filter: EntryFilter = {}) =>
    Effect.map(
      store.select({
        requestIds: filter.requestId === undefined ? undefined : [filter.requestId],
        delegateId: filter.delegateId,
        kind: filter.kind,
        types: filter.type === undefined ? undefined : typeof filter.type === "string" ? [filter.type] : filter.type,
        outcome: filter.outcome,
        decidedByTag: filter.decidedBy,
        since: filter.since,
        until: filter.until,
        afterSeq: filter.afterSeq,
        limit: filter.limit
      }),
      (rows) => rows.map(toEntry)
    )

  const verify: Effect.Effect<VerifyResult, LedgerError> = Effect.gen(function*() {
    // the anchor first, then the head, then the entries: each read sees at least what the one before it
    // recorded, so entries appended meanwhile never read as missing
    const anchor = store.anchor === undefined ? undefined : yield* store.anchor.read
    const head = yield* store.head
    const state: VerifyState = { expectedSeq: 1, prevHash: genesis, marks: new Map([[head.seq, undefined]]) }
    if (anchor?._tag === "Valid") state.marks.set(anchor.seq, undefined)
    while (true) {
      const rows = yield* store.select({ afterSeq: state.expectedSeq - 1, limit: verifyPage })
      const broken = verifyRows(rows, state)
      if (broken !== undefined) return { _tag: "Broken", entries: state.expectedSeq - 1, ...broken } as const
      if (rows.length < verifyPage) break
    }
    const entries = state.expectedSeq - 1
    if (head.seq > entries || (head.seq > 0 && state.marks.get(head.seq) !== head.hash)) {
      return {
        _tag: "Broken",
        entries,
        seq: entries + 1,
        reason: `the ledger's head records ${head.seq} entries but ${entries} were found (entries were removed)`
      } as const
    }
    if (anchor !== undefined && store.anchor !== undefined) {
      const mismatch = checkAnchor(store.anchor.file, anchor, entries, (seq) => state.marks.get(seq))
      if (mismatch !== undefined) return mismatch
    }
    return { _tag: "Intact", entries, lastHash: state.prevHash } as const
  })

  const service: ApprovalLedgerService = {
    process,
    target: store.target,
    recordPending,
    recordWarning,
    recordSettled,
    answer,
    decision,
    awaitAnswer,
    awaitChange,
    pending,
    settleLost,
    list,
    verify,
    approvals: (inner, options) => middleware(service, claim, inner, options)
  }
  return service
}

// ---------------------------------------------------------------------------------------------------------
// the Approvals middleware

/** A decision, and whether its settlement was appended with it. */
interface Claimed extends LedgerDecision {
  readonly settled: boolean
}

type Claim = (
  id: string,
  answer: InboxAnswer,
  decidedBy: DecidedBy.DecidedBy,
  checkDeadline: boolean,
  outcomeOverride?: LedgerOutcome,
  settleFrom?: number
) => Effect.Effect<
  Claimed,
  LedgerError | AlreadyDecided | AnswerTooLate | UnknownRequest | AnswerMismatch | AnswerInvalid
>

const defaultRecordTimeout = Duration.seconds(5)

const middleware = (
  ledger: ApprovalLedgerService,
  claim: Claim,
  inner: Approvals.ApprovalsService,
  options: MiddlewareOptions = {}
): Approvals.ApprovalsService => {
  const recordTimeout = Duration.decode(options.recordTimeout ?? defaultRecordTimeout)
  const deadlineMs = options.deadline === undefined ? undefined : Duration.toMillis(Duration.decode(options.deadline))
  const warnAt = Math.min(Math.max(options.warnAt ?? 0.8, 0), 1)

  const bounded = <A, E>(effect: Effect.Effect<A, E>, what: string) =>
    effect.pipe(
      Effect.timeoutFail({
        duration: recordTimeout,
        onTimeout: () =>
          new LedgerUnavailable({
            target: ledger.target,
            operation: what,
            reason: `no answer within ${Duration.format(recordTimeout)}`
          })
      })
    )

  /** Claims in-process decisions; if another answer won, that one is the decision. */
  const claimOrWinner = (
    id: string,
    answer: InboxAnswer,
    decidedBy: DecidedBy.DecidedBy,
    settleFrom: number,
    outcome?: LedgerOutcome
  ): Effect.Effect<Claimed, unknown> =>
    claim(id, answer, decidedBy, false, outcome, settleFrom).pipe(
      Effect.catchTag("AlreadyDecided", () => Effect.map(ledger.awaitAnswer(id), (won) => ({ ...won, settled: false })))
    )

  const ask = <A>(
    request: Request,
    askInner: Effect.Effect<DecidedBy.Answer<A>>,
    toInbox: (value: A) => InboxAnswer,
    fromInbox: (answer: InboxAnswer) => A
  ): Effect.Effect<DecidedBy.Answer<A>> =>
    Effect.gen(function*() {
      const failClosed = (error: unknown) => {
        const text = errorText(error)
        return Effect.zipRight(
          Effect.logError(`approval ledger: ${text}; answering ${request.id} with the fail-closed default`),
          options.onFailure === undefined ? Effect.void : options.onFailure(request, error)
        ).pipe(Effect.as(DecidedBy.decided(fromInbox(defaultAnswer(request)), { _tag: "ServiceFailed", error: text })))
      }
      const started = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      const span = yield* Effect.option(Effect.currentSpan)
      const traceId = Option.isSome(span) ? span.value.traceId : undefined
      const deadlineAt = deadlineMs === undefined ? undefined : started + deadlineMs
      const recorded = yield* Effect.either(bounded(
        ledger.recordPending(request, {
          traceId,
          deadlineAt,
          reattach: options.reattachOf?.(request),
          origin: options.originOf?.(request)
        }),
        "record"
      ))
      if (recorded._tag === "Left") return yield* failClosed(recorded.left)

      const fromInner = Effect.flatMap(askInner, (given) => {
        const { decidedBy, value } = DecidedBy.split(given, "Approvals")
        return claimOrWinner(request.id, toInbox(value), decidedBy, started)
      })
      const racers: Array<Effect.Effect<Claimed, unknown>> = [fromInner]
      if (options.remote === true) {
        racers.push(Effect.map(ledger.awaitAnswer(request.id), (won) => ({ ...won, settled: false })))
      }
      if (deadlineMs !== undefined) {
        racers.push(
          Effect.sleep(Duration.millis(deadlineMs * warnAt)).pipe(
            Effect.zipRight(
              warnAt < 1
                ? Effect.ignore(ledger.recordWarning(
                  request.id,
                  `the deadline (${Math.round(deadlineMs)} ms) passes in ${Math.round(deadlineMs * (1 - warnAt))} ms`
                ))
                : Effect.void
            ),
            Effect.zipRight(Effect.sleep(Duration.millis(deadlineMs * (1 - warnAt)))),
            Effect.zipRight(
              claimOrWinner(
                request.id,
                timedOutAnswer(request),
                { _tag: "Deadline", afterMs: deadlineMs },
                started,
                "timed_out"
              )
            )
          )
        )
      }
      // the first racer to finish decides, a failure included (a failed claim fails closed at once rather
      // than waiting on the others)
      const decided =
        yield* (racers.length === 1 ? Effect.either(fromInner) : Effect.raceAll(racers.map(Effect.either))).pipe(
          Effect.onInterrupt(() =>
            Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
              Effect.flatMap((now) => {
                const abort = request.kind === "command" || request.kind === "patch"
                  ? { _tag: "Decision", decision: "abort" } as const
                  : defaultAnswer(request)
                return bounded(
                  ledger.recordSettled({
                    request,
                    outcome: "aborted",
                    decidedBy: { _tag: "Cancelled", reason: "the delegate stopped waiting" },
                    reason: "the delegate stopped waiting (shutdown or its own deadline)",
                    waitedMs: now - started,
                    answer: resolve(request, abort)!.op
                  }, { traceId }),
                  "record"
                )
              }),
              Effect.ignore
            )
          )
        )
      if (decided._tag === "Left") return yield* failClosed(decided.left)
      const winner = decided.right
      const resolved = resolve(request, winner.answer)
      if (resolved === undefined) {
        return yield* failClosed(`the recorded answer does not fit the ${request.kind} request`)
      }
      if (winner.settled) return DecidedBy.decided(fromInbox(winner.answer), winner.decidedBy)
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      const settled = yield* Effect.either(bounded(
        ledger.recordSettled({
          request,
          outcome: winner.decidedBy._tag === "Deadline" ? "timed_out" : resolved.outcome,
          decidedBy: winner.decidedBy,
          waitedMs: now - started,
          answer: resolved.op
        }, { traceId }),
        "record"
      ))
      if (settled._tag === "Left" && settled.left._tag !== "AlreadySettled") return yield* failClosed(settled.left)
      return DecidedBy.decided(fromInbox(winner.answer), winner.decidedBy)
    }).pipe(
      Effect.catchAllDefect((defect) =>
        Effect.logError(`approval ledger: ${Cause.pretty(Cause.die(defect))}`).pipe(
          Effect.zipRight(options.onFailure === undefined ? Effect.void : options.onFailure(request, defect)),
          Effect.as(DecidedBy.decided(fromInbox(defaultAnswer(request)), {
            _tag: "ServiceFailed",
            error: errorText(defect)
          }))
        )
      )
    )

  const decisionOfAnswer = (answer: InboxAnswer): ReviewDecision.ReviewDecision =>
    answer._tag === "Decision" ? answer.decision : "denied"
  const responseOf = <A>(answer: InboxAnswer): Option.Option<A> =>
    answer._tag === "Decision" || answer._tag === "Elicitation"
      ? Option.none()
      : answer.response as unknown as Option.Option<A>
  const elicitationOf = (answer: InboxAnswer): ApprovalRequest.ElicitationResponse =>
    answer._tag === "Elicitation" ? answer.response : { action: "decline" }
  const innerElicitation = inner.elicitation

  return {
    command: (request) =>
      ask(request, inner.command(request), (decision) => ({ _tag: "Decision", decision }), decisionOfAnswer),
    patch: (request) =>
      ask(request, inner.patch(request), (decision) => ({ _tag: "Decision", decision }), decisionOfAnswer),
    permissions: (request) =>
      ask(request, inner.permissions(request), (response) => ({ _tag: "Permissions", response }), responseOf),
    userInput: (request) =>
      ask(request, inner.userInput(request), (response) => ({ _tag: "UserInput", response }), responseOf),
    ...(innerElicitation === undefined ? {} : {
      elicitation: (request: ApprovalRequest.ElicitationRequest) =>
        ask(request, innerElicitation(request), (response) => ({ _tag: "Elicitation", response }), elicitationOf)
    })
  }
}
