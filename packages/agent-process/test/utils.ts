import type { Agent, Errors } from "@deputy/core"
import type { Event, EventMsg, Op } from "@deputy/protocol"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The reference agent, run with the same node as the tests. */
export const referenceAgent = {
  command: process.execPath,
  args: [fileURLToPath(new URL("../examples/reference-agent.mjs", import.meta.url))]
}

/** A text `user_input` op. */
export const userInput = (text: string): Op.Op => ({
  type: "user_input",
  items: [{ type: "text", text, text_elements: [] }]
})

/**
 * Whether a process runs. Zombies count as dead: in containers whose init does not reap orphans, a killed
 * grandchild stays a zombie forever, and `kill(pid, 0)` still finds it.
 */
export const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
    return state !== "Z" && state !== "X"
  } catch {
    return process.platform === "linux" ? false : true
  }
}

/** Running processes (Linux `/proc`) whose command line has `mark` as an argument. */
export const processesWith = (mark: string): Array<number> =>
  fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).map(Number).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(mark) && isRunning(pid)
    } catch {
      return false
    }
  })

/** A temporary directory removed when the scope closes. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "deputy-agent-process-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** The ending of an events stream: `"ended"` (clean) or the `AgentExited` it failed with. */
export type Ending = "ended" | Errors.AgentExited

/** Reads an agent's events one at a time, keeping everything read. */
export interface Reader {
  readonly seen: Array<Event.Event>
  /** The next event whose type is `type` (events before it are kept in `seen`); dies if the events end. */
  readonly next: {
    <T extends EventMsg.KnownEventMsg["type"]>(
      type: T
    ): Effect.Effect<{ readonly id: string; readonly msg: Extract<EventMsg.KnownEventMsg, { readonly type: T }> }>
    (type: string): Effect.Effect<{ readonly id: string; readonly msg: EventMsg.UnknownEventMsg }>
  }
  /** Reads to the end of the events. */
  readonly end: Effect.Effect<Ending>
}

export const reader = (agent: Agent.Agent): Effect.Effect<Reader, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pull = yield* Stream.toPull(agent.events)
    const seen: Array<Event.Event> = []
    let buffer: Array<Event.Event> = []
    let ending: Ending | undefined
    const one: Effect.Effect<Option.Option<Event.Event>> = Effect.suspend(() => {
      if (buffer.length > 0) {
        const event = buffer.shift()!
        seen.push(event)
        return Effect.succeed(Option.some(event))
      }
      if (ending !== undefined) return Effect.succeed(Option.none())
      return pull.pipe(
        Effect.either,
        Effect.flatMap((result) => {
          if (Either.isRight(result)) {
            buffer = Chunk.toArray(result.right)
          } else {
            ending = Option.match(result.left, { onNone: () => "ended" as const, onSome: (error) => error })
          }
          return one
        })
      )
    })
    const next = (type: string) =>
      Effect.gen(function*() {
        while (true) {
          const event = yield* one
          if (Option.isNone(event)) {
            return yield* Effect.dieMessage(`events ended (${String(ending)}) before a ${type} event`)
          }
          if (event.value.msg.type === type) return event.value as any
        }
      })
    const end = Effect.gen(function*() {
      while (Option.isSome(yield* one)) {
        // keep reading
      }
      return ending!
    })
    return { seen, next: next as Reader["next"], end }
  })

/** Types of the events read so far. */
export const types = (events: ReadonlyArray<Event.Event>): Array<string> => events.map((event) => event.msg.type)

/** The `pid` the reference agent adds to `session_configured` (and `reference_grandchild` carries). */
export const pidOf = (event: { readonly msg: object }): number => (event.msg as { readonly pid: number }).pid
