/**
 * Approval round trip in process: from the child's `exec_approval_request` entering its event stream to the
 * `exec_approval` answer reaching the child's `submitWithId`, one request at a time through one delegate;
 * with `Approvals.layerApproveAll` and with an `ApprovalInbox` answered by a fiber that follows `changes`
 * and calls `respond`. The child is a `BenchAgents` child, so both ends are timed exactly.
 */
import { ApprovalInbox, Approvals, Delegate } from "@deputy/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { approvalRoundTrips, BenchAgents } from "./benchAgent.js"
import { gc, percentile, type SectionResult, series, type Size } from "./stats.js"

/** `count` sequential round trips through one delegate; returns the latencies in µs. */
const roundTrips = (agents: BenchAgents, count: number, run: number) =>
  Effect.gen(function*() {
    yield* Delegate.interactive({ source: "review" })
    const child = agents.latest!
    return yield* approvalRoundTrips(agents, () => child, count, run)
  })

/** An inbox with a responder fiber: every request that shows up in `changes` is approved. */
const inboxResponder = Effect.gen(function*() {
  const inbox = yield* ApprovalInbox.ApprovalInbox
  yield* inbox.changes.pipe(
    Stream.runForEach((pending) =>
      Effect.forEach(
        pending,
        (entry) => Effect.ignore(inbox.respond(entry.request.id, ApprovalInbox.decision("approved"))),
        { discard: true }
      )
    ),
    Effect.forkScoped
  )
})

const measure = (count: number, run: number, withInbox: boolean) => {
  const agents = new BenchAgents()
  return withInbox
    ? Effect.zipRight(inboxResponder, roundTrips(agents, count, run)).pipe(
      Effect.scoped,
      Effect.provide(Layer.merge(agents.layer, ApprovalInbox.layer))
    )
    : roundTrips(agents, count, run).pipe(
      Effect.scoped,
      Effect.provide(Layer.merge(agents.layer, Approvals.layerApproveAll))
    )
}

export const run = async (size: Size): Promise<SectionResult> => {
  const count = size.quick ? 200 : 5000
  const metrics = await series(size, async (run) => {
    gc()
    const approveAll = await Effect.runPromise(measure(count, run, false))
    gc()
    const inbox = await Effect.runPromise(measure(count, run, true))
    return {
      p50Us: percentile(approveAll, 50),
      p99Us: percentile(approveAll, 99),
      inboxP50Us: percentile(inbox, 50),
      inboxP99Us: percentile(inbox, 99)
    }
  })
  return {
    metrics,
    notes: [`${count} sequential round trips per run and approver through one delegate; p50/p99 within each run`]
  }
}
