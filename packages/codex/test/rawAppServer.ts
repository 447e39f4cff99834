/**
 * A raw JSON-RPC session with a real `codex app-server`, read through Deputy's `Translator`: for the e2e
 * tests that need what `CodexAgent` does not send (a client's `dynamicTools`, an approval policy of their
 * own). Requests are awaited on their response (a `Deferred` per id, no polling); the translated events
 * and the raw notifications are kept for the test to read; `turnCompleted` waits for `turn/completed`.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"
import * as childProcess from "node:child_process"
import * as readline from "node:readline"
import type { Outcome } from "../src/internal/translate.js"
import { Translator } from "../src/internal/translate.js"

/** A JSON-RPC message, loosely typed: the tests read what they assert on. */
export type Json = Record<string, any>

/** The session: `request` a method and get its result, `send` anything, read what came back. */
export interface RawAppServer {
  readonly translator: Translator
  /** Writes one message as a line. */
  readonly send: (message: Json) => void
  /** Sends a request with the next id and waits for its result; an error response fails with it. */
  readonly request: (method: string, params: Json) => Effect.Effect<Json, Error>
  /** `initialize` (experimental API on) and `initialized`. */
  readonly initialize: Effect.Effect<void, Error>
  /** Completes at the first `turn/completed`; fails if the app-server exits first. */
  readonly turnCompleted: Effect.Effect<void, Error>
  /** Every notification (a message with a method and no id), in order. */
  readonly notifications: ReadonlyArray<Json>
  /** Every event the translator made, in order. */
  readonly events: ReadonlyArray<Json>
}

/** What to start: the binary, its working directory and environment, and what to do with each event. */
export interface RawAppServerOptions {
  readonly binary: string
  readonly cwd: string
  readonly env: NodeJS.ProcessEnv
  /** Called with each translated event's `msg` as it comes (e.g. to answer a request with `translator.answer`). */
  readonly onEvent?: (msg: Json, server: RawAppServer) => void
}

/**
 * Starts `codex app-server` in the current scope (killed with SIGKILL when the scope closes).
 */
export const start = (options: RawAppServerOptions): Effect.Effect<RawAppServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        childProcess.spawn(options.binary, ["app-server"], {
          cwd: options.cwd,
          env: options.env,
          stdio: ["pipe", "pipe", "ignore"]
        })
      ),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    const waiting = new Map<unknown, Deferred.Deferred<Outcome>>()
    const responseTo = (id: unknown) => {
      let deferred = waiting.get(id)
      if (deferred === undefined) {
        deferred = Deferred.unsafeMake<Outcome>(FiberId.none)
        waiting.set(id, deferred)
      }
      return deferred
    }
    const completed = yield* Deferred.make<void, Error>()
    const translator = new Translator(
      (id, outcome) => Deferred.unsafeDone(responseTo(id), Exit.succeed(outcome)),
      Date.now,
      new Set()
    )
    const notifications: Array<Json> = []
    const events: Array<Json> = []
    const write = (text: string) => child.stdin.write(`${text}\n`)
    let nextId = 0
    const server: RawAppServer = {
      translator,
      send: (message) => write(JSON.stringify(message)),
      request: (method, params) =>
        Effect.suspend(() => {
          const id = nextId++
          const response = responseTo(id)
          write(JSON.stringify({ method, id, params }))
          return Deferred.await(response)
        }).pipe(
          Effect.flatMap((outcome) =>
            outcome._tag === "Success"
              ? Effect.succeed(outcome.result as Json)
              : Effect.fail(new Error(`${method}: ${JSON.stringify(outcome)}`))
          )
        ),
      initialize: Effect.suspend(() =>
        server.request("initialize", {
          clientInfo: { name: "deputy_raw_test", version: "0.0.1" },
          capabilities: { experimentalApi: true }
        })
      ).pipe(Effect.zipRight(Effect.sync(() => write(JSON.stringify({ method: "initialized" }))))),
      turnCompleted: Deferred.await(completed),
      notifications,
      events
    }
    child.on("exit", (code) => {
      const exited = new Error(`codex app-server exited (${code})`)
      Deferred.unsafeDone(completed, Exit.fail(exited))
      for (const deferred of waiting.values()) Deferred.unsafeDone(deferred, Exit.die(exited))
    })
    let line = 0
    readline.createInterface({ input: child.stdout }).on("line", (text) => {
      const message = JSON.parse(text) as Json
      if (typeof message.method === "string" && message.id === undefined) notifications.push(message)
      translator.line(Either.right({ line: ++line, text }))
      for (const reply of translator.takeReplies()) write(reply)
      for (const event of translator.takeEvents()) {
        events.push(event.msg as Json)
        options.onEvent?.(event.msg as Json, server)
        for (const reply of translator.takeReplies()) write(reply)
      }
      if (message.method === "turn/completed") Deferred.unsafeDone(completed, Exit.void)
    })
    return server
  })

/** The items of the model requests that answer one call (`function_call_output` and the like). */
export const callOutputs = (requests: ReadonlyArray<{ readonly body: unknown }>, callId: string): Array<Json> =>
  requests.flatMap((request) =>
    ((request.body as Json).input as Array<Json>).filter((item) =>
      item.call_id === callId && typeof item.type === "string" && item.type.endsWith("_output")
    )
  )
