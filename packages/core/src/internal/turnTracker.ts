/**
 * The end-of-turn rule, in one place: which event ends the turn a submission started.
 */
import { type Event, EventMsg } from "@deputy/protocol"

/**
 * How a turn ended: `completed` (with the last agent message), `errored` (a failed `task_complete`, or
 * an `error` before the turn started), or `aborted` (`turn_aborted`).
 */
export type TurnEnd =
  | { readonly reason: "completed"; readonly lastAgentMessage: string | null }
  | { readonly reason: "errored"; readonly message: string }
  | { readonly reason: "aborted"; readonly message: string }

/**
 * Follows the events of one turn. An event is the turn's when its id is the submission's id or it names
 * one of the turn ids announced by the turn's `task_started`. The turn ends at its first `task_complete`
 * or `turn_aborted`, or at an `error` that arrives before it started (the child refused the input).
 */
export class TurnTracker {
  private readonly turnIds: Set<string>
  private started = false
  private ended: TurnEnd | undefined

  constructor(readonly submissionId: string) {
    this.turnIds = new Set([submissionId])
  }

  /** The end, once seen. */
  get end(): TurnEnd | undefined {
    return this.ended
  }

  /** Looks at the next event; returns the turn's end if this event is it (and only the first time). */
  observe(event: Event.Event): TurnEnd | undefined {
    if (this.ended !== undefined) return undefined
    const msg = event.msg
    const ours = event.id === this.submissionId ||
      ("turn_id" in msg && typeof msg.turn_id === "string" && this.turnIds.has(msg.turn_id))
    switch (msg.type) {
      case "task_started": {
        if (ours) {
          this.started = true
          if (typeof msg.turn_id === "string") this.turnIds.add(msg.turn_id)
        }
        return undefined
      }
      case "task_complete": {
        if (!ours) return undefined
        const failure = EventMsg.turnError(msg)
        this.ended = failure !== undefined
          ? { reason: "errored", message: failure }
          : { reason: "completed", lastAgentMessage: (msg.last_agent_message as string | null | undefined) ?? null }
        return this.ended
      }
      case "turn_aborted": {
        if (!ours) return undefined
        this.ended = { reason: "aborted", message: `turn aborted: ${String(msg.reason)}` }
        return this.ended
      }
      case "error": {
        if (this.started) return undefined
        this.ended = { reason: "errored", message: String(msg.message) }
        return this.ended
      }
      default:
        return undefined
    }
  }
}
