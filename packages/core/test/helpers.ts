import type { Delegate } from "@deputy/core"
import type { Event, Submission } from "@deputy/protocol"
import * as Effect from "effect/Effect"

/** The op types a child received, in order. */
export const opTypes = (received: ReadonlyArray<Submission.Submission>): ReadonlyArray<string> =>
  received.map((submission) => submission.op.type)

/** The msg types of events, in order. */
export const msgTypes = (events: Iterable<Event.Event>): ReadonlyArray<string> =>
  Array.from(events, (event) => event.msg.type)

/** A plain event the delegate forwards unchanged. */
export const message = (text: string) => ({ type: "agent_message", message: text }) as const

/** Reads every event of a delegate until it ends. */
export const readAll = (handle: Delegate.DelegateHandle) =>
  Effect.gen(function*() {
    const events: Array<Event.Event> = []
    while (true) {
      const next = yield* handle.nextEvent
      if (next._tag === "None") return events
      events.push(next.value)
    }
  })

export const execRequest = (callId: string, extra: Record<string, unknown> = {}) => ({
  type: "exec_approval_request" as const,
  call_id: callId,
  command: ["git", "status"],
  cwd: "/repo",
  ...extra
})

export const patchRequest = (callId: string) => ({
  type: "apply_patch_approval_request" as const,
  call_id: callId,
  changes: { "/repo/a.txt": { type: "add" as const, content: "hi\n" } }
})

export const permissionsRequest = (callId: string) => ({
  type: "request_permissions" as const,
  call_id: callId,
  permissions: { network: { enabled: true } }
})

export const userInputRequest = (callId: string) => ({
  type: "request_user_input" as const,
  call_id: callId,
  questions: [{ id: "q1", header: "Pick", question: "Which one?" }]
})
