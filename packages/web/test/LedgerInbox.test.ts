/**
 * `LedgerFeed.inbox`: the ledger's pending requests of every process as the page's source, answered
 * through the ledger; a request decided elsewhere leaves the list; the feed never spins on entries it
 * does not show.
 */
import { ApprovalLedger } from "@deputy/ledger"
import { LedgerFeed } from "@deputy/web"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { approve, command } from "./support.js"

/** Waits (bounded by the test's timeout) until the feed's list holds. */
const until = (
  feed: LedgerFeed.LedgerInbox,
  holds: (ids: ReadonlyArray<string>) => boolean
) =>
  feed.changes.pipe(
    Stream.map((all) => all.map((pending) => pending.request.id)),
    Stream.takeUntil(holds),
    Stream.runLast
  )

const ledgerAt = (filename: string, pid: number) =>
  Effect.map(
    Layer.build(ApprovalLedger.layerSqlite({ filename, process: { host: "h", pid, runId: `run-${pid}` } })),
    (context) => Context.get(context, ApprovalLedger.ApprovalLedger)
  )

describe("LedgerFeed.inbox", () => {
  it.scopedLive("two processes on one SQLite file: both listed with their process; answered as web:<tab>; decided elsewhere leaves", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "deputy-web-ledger-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const filename = path.join(dir, "ledger.db")
      const a = yield* ledgerAt(filename, 1)
      const b = yield* ledgerAt(filename, 2)
      const feed = yield* LedgerFeed.inbox(yield* ledgerAt(filename, 3))
      yield* a.recordPending(command(1))
      yield* b.recordPending(command(2))
      yield* until(feed, (ids) => ids.length === 2)
      const listed = yield* feed.pending
      assert.deepStrictEqual(listed.map((pending) => [pending.request.id, pending.process]), [
        ["other/command/c1", "h pid 1"],
        ["other/command/c2", "h pid 2"]
      ])
      // the page answers c1; the waiting process learns it from the ledger
      const waiting = yield* Effect.fork(a.awaitAnswer("other/command/c1"))
      yield* feed.respond("other/command/c1", approve, { client: "web:tab-1" })
      const won = yield* waiting
      assert.deepStrictEqual(won.decidedBy, { _tag: "InboxClient", client: "web:tab-1" })
      // a terminal answers c2 first: it leaves the list, and the page's answer loses, naming the outcome
      yield* b.answer("other/command/c2", { _tag: "Decision", decision: "denied" }, {
        _tag: "Person",
        channel: "terminal",
        name: "alice"
      })
      yield* until(feed, (ids) => ids.length === 0)
      const late = yield* Effect.exit(feed.respond("other/command/c2", approve, { client: "web:tab-2" }))
      assert.isTrue(Exit.isFailure(late))
      const history = yield* feed.history.pipe(Stream.take(2), Stream.runCollect)
      assert.deepStrictEqual(
        Array.from(
          history,
          (entry) => [entry.settlement.request.id, entry.settlement.outcome, entry.settlement.decidedBy]
        ),
        [
          ["other/command/c1", "approved", { _tag: "InboxClient", client: "web:tab-1" }],
          ["other/command/c2", "denied", { _tag: "Person", channel: "terminal", name: "alice" }]
        ]
      )
    }))

  it.scopedLive("an entry the page does not show (settled, warning) never makes the feed spin: it waits past the head", () =>
    Effect.gen(function*() {
      // a ledger whose head is past every pending/decided entry: awaitChange returns at once below it
      const entries = [
        { seq: 1, at: 1, type: "pending", requestId: "r", data: { request: command(1) } },
        {
          seq: 2,
          at: 2,
          type: "decided",
          requestId: "r",
          outcome: "approved",
          decidedBy: { _tag: "Person", name: "p" },
          data: {}
        },
        {
          seq: 3,
          at: 3,
          type: "settled",
          requestId: "r",
          outcome: "approved",
          decidedBy: { _tag: "Person", name: "p" },
          data: {}
        }
      ] as const
      let reads = 0
      const waitingPastHead = yield* Deferred.make<void>()
      const ledger: LedgerFeed.AnsweringLedgerLike<never, never> = {
        list: (filter) =>
          Effect.sync(() => {
            reads++
            return entries.filter((entry) =>
              entry.seq > (filter.afterSeq ?? 0) &&
              (filter.type === undefined || (filter.type as ReadonlyArray<string>).includes(entry.type))
            ) as never
          }),
        answer: () => Effect.die("not asked"),
        awaitChange: (afterSeq) =>
          afterSeq < 3 ? Effect.succeed(3) : Effect.zipRight(Deferred.succeed(waitingPastHead, undefined), Effect.never)
      }
      yield* LedgerFeed.inbox(ledger)
      yield* Deferred.await(waitingPastHead).pipe(
        Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => `spinning: ${reads} reads` })
      )
      assert.isAtMost(reads, 3)
    }))
})
