/**
 * A minimal in-memory child for measurements that need to see exactly when an event enters the child's
 * event stream and when a submission reaches the child: events go straight into an `Agent.EventChannel`
 * (whole batches with `offerAll`, or one synchronously with `emitNow`), and every submission is reported, with its arrival
 * time, before it is handled. It acknowledges `shutdown` with `shutdown_complete` and ends its events.
 * (`TestAgent` is measured too; its `emitAll` offers event by event, and its bookkeeping would sit inside the
 * timed window of a round trip.)
 */
import { Agent, AgentSpawner, Errors } from "@deputy/core"
import type { EventMsg, Submission } from "@deputy/protocol"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { check } from "./stats.js"

export interface BenchChild {
  readonly events: Agent.EventChannel
  /** Emits one event now (no effect, no waiting): the instant it is in the child's stream. */
  readonly emitNow: (msg: EventMsg.EventMsg, id?: string) => void
  /** Emits a batch with one `offerAll` (no copy), then waits while the child's buffer is over capacity. */
  readonly emitAll: (msgs: ReadonlyArray<EventMsg.EventMsg>, id?: string) => Effect.Effect<void>
}

export class BenchAgents {
  /** The most recently spawned child. */
  latest: BenchChild | undefined = undefined
  /** Called synchronously with each submission any child receives, and its arrival time (ms). */
  onSubmission: ((submission: Submission.Submission, at: number) => void) | undefined = undefined

  constructor(readonly capacity: number = 64) {}

  readonly layer: Layer.Layer<AgentSpawner.AgentSpawner> = Layer.succeed(AgentSpawner.AgentSpawner, {
    spawn: () =>
      Effect.gen(this, function*() {
        const events = Agent.makeChannel(this.capacity)
        let closed = false
        yield* Effect.addFinalizer(() => Effect.zipRight(Effect.sync(() => void (closed = true)), events.end))
        const child: BenchChild = {
          events,
          emitNow: (msg, id = "") => void events.unsafeOfferAll([{ id, msg }]),
          emitAll: (msgs, id = "") => Effect.asVoid(events.offerAll(msgs.map((msg) => ({ id, msg }))))
        }
        this.latest = child
        return yield* Agent.make({
          name: "bench-child",
          events,
          submitWithId: (submission) =>
            Effect.suspend(() => {
              const at = performance.now()
              if (closed) return Effect.fail(new Errors.AgentClosed({ reason: "the bench child has ended" }))
              this.onSubmission?.(submission, at)
              if (submission.op.type === "shutdown") {
                events.unsafeOfferAll([{ id: "", msg: { type: "shutdown_complete" } }])
                events.unsafeDone(Exit.void)
              }
              return Effect.void
            })
        })
      })
  })
}

/**
 * `count` sequential approval round trips, the i-th asked by `children(i)`: from the child's
 * `exec_approval_request` entering its events to the `exec_approval` answer (checked `approved`) reaching
 * its `submitWithId`; the latencies in µs. The scaffold the approval, supervisor and ledger sections share.
 */
export const approvalRoundTrips = (
  agents: BenchAgents,
  children: (i: number) => BenchChild,
  count: number,
  run: number
): Effect.Effect<Array<number>> =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    for (let i = 0; i < count; i++) {
      const callId = `call_${run}_${i}`
      const answered = yield* Deferred.make<number>()
      agents.onSubmission = (submission, at) => {
        if (submission.op.type === "exec_approval" && submission.op.id === callId) {
          check(submission.op.decision === "approved", `request ${callId} was answered ${submission.op.decision}`)
          Deferred.unsafeDone(answered, Exit.succeed(at))
        }
      }
      const started = performance.now()
      children(i).emitNow(
        { type: "exec_approval_request", call_id: callId, command: ["git", "status"], cwd: "/repo" },
        "t"
      )
      latencies.push(((yield* Deferred.await(answered)) - started) * 1000)
    }
    agents.onSubmission = undefined
    return latencies
  })
