/**
 * The `history` input from an approval ledger (`@deputy/ledger`'s `ApprovalLedger`, or anything with its
 * `list`): every decision recorded by any process sharing the ledger — who decided, when, by which client
 * — as the page's history entries. Structural, so `@deputy/web` does not depend on the ledger package.
 *
 * @since 0.2.0
 */
import type { ApprovalRequest, DecidedBy } from "@deputy/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { HistoryEntry } from "./WebServer.js"

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
  readonly data: { readonly request?: ApprovalRequest.ApprovalRequest | undefined }
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

const outcomes: ReadonlySet<string> = new Set(["approved", "approved_for_session", "denied", "aborted", "timed_out"])

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
          const outcome = (outcomes.has(entry.outcome) ? entry.outcome : "aborted") as ApprovalRequest.ApprovalOutcome
          out.push({ settlement: { request, outcome, decidedBy: entry.decidedBy, by: "inbox" }, at: entry.at })
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
