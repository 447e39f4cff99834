/**
 * The page from an approval ledger (`@deputy/ledger`'s `ApprovalLedger`, read structurally, so
 * `@deputy/web` does not depend on the ledger package): `history` — every decision recorded by any
 * process sharing the ledger, who decided, when, by which client — and `inbox` — the pending requests of
 * every such process, answered through the ledger (`deputy serve` with no task: attach mode).
 *
 * @since 0.2.0
 */
import { ApprovalInbox, type ApprovalRequest, type DecidedBy } from "@deputy/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { HistoryEntry, InboxSource, PendingShown, TreeNode } from "./WebServer.js"

/**
 * What the feed reads of a ledger entry (a subset of `@deputy/ledger`'s `LedgerEntry`).
 *
 * @since 0.2.0
 * @category models
 */
export interface EntryLike {
  readonly seq: number
  readonly at: number
  readonly type: string
  readonly requestId: string
  readonly outcome?: string | undefined
  readonly decidedBy?: DecidedBy.DecidedBy | undefined
  /** The process that wrote the entry. */
  readonly process?: { readonly host: string; readonly pid: number } | undefined
  readonly data: {
    readonly request?: ApprovalRequest.ApprovalRequest | undefined
    readonly deadlineAt?: number | undefined
  }
}

/**
 * What the feed needs of a ledger: `list` with `afterSeq` and `type` (as `ApprovalLedgerService.list`).
 *
 * @since 0.2.0
 * @category models
 */
export interface LedgerLike<E> {
  readonly list: (filter: {
    readonly afterSeq?: number | undefined
    readonly type?: ReadonlyArray<"pending" | "decided"> | undefined
    readonly limit?: number | undefined
  }) => Effect.Effect<ReadonlyArray<EntryLike>, E>
}

/**
 * What `inbox` needs of a ledger besides `list`: `answer` (first answer wins across processes) and,
 * when it has it, `awaitChange` (wakes when any process writes; else the feed reads every `every`).
 *
 * @since 0.2.0
 * @category models
 */
export interface AnsweringLedgerLike<E, A> extends LedgerLike<E> {
  readonly answer: (
    id: string,
    answer: ApprovalInbox.InboxAnswer,
    decidedBy: DecidedBy.DecidedBy
  ) => Effect.Effect<{ readonly entry: EntryLike }, A>
  readonly awaitChange?: ((afterSeq: number) => Effect.Effect<number, E>) | undefined
}

const outcomes: ReadonlySet<string> = new Set(["approved", "approved_for_session", "denied", "aborted", "timed_out"])

/** A ledger outcome as an inbox outcome: `lost` (its child is gone) shows as `aborted`. */
const outcomeOf = (outcome: string): ApprovalRequest.ApprovalOutcome =>
  (outcomes.has(outcome) ? outcome : "aborted") as ApprovalRequest.ApprovalOutcome

/** The history entry a `decided` entry makes of a request recorded `pending` before it. */
const decidedEntry = (request: ApprovalRequest.ApprovalRequest, entry: EntryLike): HistoryEntry => ({
  settlement: { request, outcome: outcomeOf(entry.outcome!), decidedBy: entry.decidedBy!, by: "inbox" },
  at: entry.at
})

/**
 * The decisions of a ledger as they are recorded, oldest first (the ones already there first), read
 * every `every` (default 250 ms) after the last `seq` seen, at most `batch` (default 500) entries a read.
 * A `lost` decision shows as `aborted` (its child is gone). A failing read is retried at the next tick.
 *
 * @since 0.2.0
 * @category constructors
 */
export const history = <E>(
  ledger: LedgerLike<E>,
  options: { readonly every?: Duration.DurationInput | undefined; readonly batch?: number | undefined } = {}
): Stream.Stream<HistoryEntry> => {
  const every = Duration.decode(options.every ?? "250 millis")
  const batch = options.batch ?? 500
  const requests = new Map<string, ApprovalRequest.ApprovalRequest>()
  let afterSeq = 0
  const read = Effect.suspend(() => ledger.list({ afterSeq, type: ["pending", "decided"], limit: batch })).pipe(
    Effect.map((entries) => {
      const out: Array<HistoryEntry> = []
      for (const entry of entries) {
        afterSeq = Math.max(afterSeq, entry.seq)
        if (entry.type === "pending" && entry.data.request !== undefined) {
          requests.set(entry.requestId, entry.data.request)
        } else if (entry.type === "decided" && entry.decidedBy !== undefined && entry.outcome !== undefined) {
          const request = requests.get(entry.requestId)
          if (request === undefined) continue
          requests.delete(entry.requestId)
          out.push(decidedEntry(request, entry))
        }
      }
      return out
    }),
    Effect.option,
    Effect.map(Option.getOrElse((): ReadonlyArray<HistoryEntry> => []))
  )
  return Stream.repeatEffectWithSchedule(read, Schedule.spaced(every)).pipe(
    Stream.flatMap(Stream.fromIterable)
  )
}

/**
 * The ledger as the page's inbox (attach mode): what `WebServer.makeWith` serves, the `history` and the
 * `tree` inputs.
 *
 * @since 0.2.0
 * @category models
 */
export interface LedgerInbox extends InboxSource {
  /** Every decision, from the ledger's first entry on (the ones already there first). */
  readonly history: Stream.Stream<HistoryEntry>
  /**
   * The processes and node paths with pending requests, grouped (`host pid N`, then each request's
   * node path); a group with none left says so. The ledger has no live tree: this is all it knows.
   */
  readonly tree: Stream.Stream<ReadonlyArray<TreeNode>>
}

/** The ledger's answers, as `respond` fails: `AlreadyDecided`, `AnswerTooLate`, `UnknownRequest`, `AnswerMismatch`. */
interface AnswerFailure {
  readonly _tag: string
  readonly decidedBy?: unknown
  readonly at?: number
  readonly outcome?: string | undefined
  readonly kind?: string
  readonly answer?: string
}

const historyKept = 1000

/**
 * The pending requests of every process sharing the ledger, oldest first, with the process that asked;
 * read after the last entry seen whenever the ledger wakes (`awaitChange`: SQLite's file watch with its
 * backup poll, PostgreSQL's LISTEN/NOTIFY), else every `every` (default 250 ms). A request decided
 * anywhere — by another tab, a terminal's `deputy approve`, its deadline, or settled lost — leaves the list
 * on that wake. `respond(id, answer, { client })` answers through the ledger as
 * `DecidedBy.InboxClient { client }`; an answer that lost fails with `ApprovalNotPending` and the
 * winner is in the history at once. A failing ledger read is retried at the next wake; a failing answer
 * is a defect (the page says the answer was not given).
 *
 * @since 0.2.0
 * @category constructors
 */
export const inbox = <E, A>(
  ledger: AnsweringLedgerLike<E, A>,
  options: { readonly every?: Duration.DurationInput | undefined; readonly batch?: number | undefined } = {}
): Effect.Effect<LedgerInbox, never, Scope.Scope> =>
  Effect.gen(function*() {
    const every = Duration.decode(options.every ?? "250 millis")
    const batch = options.batch ?? 500
    const open = new Map<string, PendingShown>()
    const list = yield* SubscriptionRef.make<ReadonlyArray<PendingShown>>([])
    const publishList = SubscriptionRef.update(list, () => [...open.values()])

    // the history: numbered, the last `historyKept` kept for subscribers that come later
    let historySeq = 0
    const past: Array<{ readonly seq: number; readonly entry: HistoryEntry }> = []
    const historyHub = yield* PubSub.unbounded<{ readonly seq: number; readonly entry: HistoryEntry }>()
    const settle = (id: string, entry: (request: ApprovalRequest.ApprovalRequest) => HistoryEntry): boolean => {
      const pending = open.get(id)
      if (pending === undefined) return false
      open.delete(id)
      const numbered = { seq: ++historySeq, entry: entry(pending.request) }
      past.push(numbered)
      if (past.length > historyKept) past.splice(0, past.length - historyKept)
      historyHub.unsafeOffer(numbered)
      return true
    }

    let afterSeq = 0
    // every type: `afterSeq` must reach the head, or `awaitChange` would return at once, again and again
    const read = Effect.suspend(() => ledger.list({ afterSeq, limit: batch })).pipe(
      Effect.flatMap((entries) => {
        let changed = false
        for (const entry of entries) {
          afterSeq = Math.max(afterSeq, entry.seq)
          if (entry.type === "pending" && entry.data.request !== undefined) {
            const process = entry.process === undefined ? undefined : `${entry.process.host} pid ${entry.process.pid}`
            open.set(entry.requestId, {
              request: entry.data.request,
              receivedAt: entry.at,
              deadline: entry.data.deadlineAt,
              process
            })
            changed = true
          } else if (entry.type === "decided" && entry.decidedBy !== undefined && entry.outcome !== undefined) {
            changed = settle(entry.requestId, (request) => decidedEntry(request, entry)) || changed
          }
        }
        return Effect.as(changed ? publishList : Effect.void, entries.length)
      }),
      Effect.orElseSucceed(() => 0)
    )
    const wake = Effect.suspend(() =>
      ledger.awaitChange === undefined ? Effect.sleep(every) : Effect.asVoid(ledger.awaitChange(afterSeq))
    ).pipe(Effect.orElse(() => Effect.sleep(every)))
    yield* read
    yield* Effect.gen(function*() {
      while (true) {
        const read$ = yield* read
        if (read$ < batch) yield* wake
      }
    }).pipe(Effect.forkScoped)

    const respond: InboxSource["respond"] = (id, answer, respondOptions) =>
      Effect.gen(function*() {
        const client = respondOptions?.client ?? "inbox"
        const decided = yield* ledger.answer(id, answer, { _tag: "InboxClient", client }).pipe(
          Effect.catchAll(
            (error): Effect.Effect<never, ApprovalInbox.ApprovalNotPending | ApprovalInbox.ApprovalAnswerMismatch> => {
              const failure = error as AnswerFailure
              switch (failure._tag) {
                case "AlreadyDecided": {
                  const outcome = outcomeOf(failure.outcome ?? "aborted")
                  const won = settle(id, (request) => ({
                    settlement: { request, outcome, decidedBy: failure.decidedBy as DecidedBy.DecidedBy, by: "inbox" },
                    at: failure.at ?? 0
                  }))
                  return Effect.zipRight(
                    won ? publishList : Effect.void,
                    new ApprovalInbox.ApprovalNotPending({ id, settled: outcome })
                  )
                }
                case "AnswerTooLate":
                  return Effect.fail(new ApprovalInbox.ApprovalNotPending({ id, settled: "timed_out" }))
                case "UnknownRequest":
                  return Effect.fail(new ApprovalInbox.ApprovalNotPending({ id }))
                case "AnswerMismatch":
                  return Effect.fail(
                    new ApprovalInbox.ApprovalAnswerMismatch({
                      id,
                      kind: failure.kind ?? "",
                      answer: failure.answer ?? ""
                    })
                  )
                case "AnswerInvalid": // an answer that does not fit what the request asks: nothing was recorded
                  return Effect.fail(
                    new ApprovalInbox.ApprovalAnswerMismatch({ id, kind: failure.kind ?? "", answer: "invalid" })
                  )
                default:
                  return Effect.die(error)
              }
            }
          )
        )
        if (settle(id, (request) => decidedEntry(request, decided.entry))) yield* publishList
      })

    const history: Stream.Stream<HistoryEntry> = Stream.unwrapScoped(Effect.gen(function*() {
      const subscription = yield* PubSub.subscribe(historyHub)
      const seen = historySeq
      return Stream.concat(
        Stream.fromIterable(past.map((numbered) => numbered.entry)),
        Stream.fromQueue(subscription).pipe(
          Stream.filter((numbered) => numbered.seq > seen),
          Stream.map((numbered) => numbered.entry)
        )
      )
    }))

    const tree = Stream.map(list.changes, groups())
    return { pending: SubscriptionRef.get(list), changes: list.changes, respond, history, tree }
  })

/** The pending requests grouped by process, then node path, as tree nodes; a group that had some and has none left says so. */
const groups = () => {
  const known = new Map<string, TreeNode>()
  return (all: ReadonlyArray<PendingShown>): ReadonlyArray<TreeNode> => {
    const counts = new Map<string, { node: TreeNode; n: number }>()
    const count = (node: TreeNode) => {
      const group = counts.get(node.id) ?? { node, n: 0 }
      group.n++
      counts.set(node.id, group)
    }
    for (const pending of all) {
      const process = pending.process ?? "a process"
      const at = pending.request.path ?? pending.request.delegateId
      count({ id: `process:${process}`, path: process })
      count({ id: `process:${process}/${at}`, path: `${process}/${at}`, parent: `process:${process}` })
    }
    const out: Array<TreeNode> = []
    for (const { n, node } of counts.values()) {
      known.set(node.id, node)
      out.push({ ...node, status: `${n} pending` })
    }
    for (const [id, node] of known) {
      if (!counts.has(id)) out.push({ ...node, status: "no pending requests" })
    }
    return out
  }
}
