/**
 * A scripted model for offline runs of the real Codex: an OpenAI Responses API server (`POST /v1/responses`,
 * server-sent events) on 127.0.0.1 with an ephemeral port, answering from a **scenario** — per user turn,
 * the list of model responses Codex gets, one per request: tool calls (`exec_command`, `apply_patch`),
 * assistant messages, or an injected failure (HTTP error, `response.failed`, a stream cut before
 * `response.completed`, a stream that never ends). Used by the tests, the benchmarks and `deputy demo`;
 * `CodexHome` writes a Codex configuration pointing at it.
 *
 * Which response a request gets: the turn is the request's position among the turns of its thread (Codex
 * sends `thread-id` and the turn id in `x-codex-turn-metadata`), so several threads and Codex processes can
 * share one server; within a turn, the step is the first one whose tool calls have no output in the request's
 * input yet (call ids are `call_<turn>_<step>_<item>` unless given). Turns past the end of the scenario reuse
 * its last turn; steps past the end of a turn get a short final message.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/**
 * One output item of a model response.
 *
 * @since 0.1.0
 * @category models
 */
export type OutputItem =
  | {
    readonly _tag: "Exec"
    readonly cmd: string
    readonly callId?: string | undefined
    /** Run in a login shell (Codex's default is `true`; scripted commands default to `false`). */
    readonly login: boolean
    /** Ask to run outside the sandbox (`sandbox_permissions: "require_escalated"`), with this justification. */
    readonly justification?: string | undefined
    readonly workdir?: string | undefined
  }
  | { readonly _tag: "Patch"; readonly patch: string; readonly callId?: string | undefined }
  | { readonly _tag: "Message"; readonly text: string }
  | { readonly _tag: "Raw"; readonly item: Readonly<Record<string, unknown>> }

/**
 * What the model does for one request: respond with items, or fail in one of the ways Codex handles
 * (each of the failures ends the turn with an error; `Stall` keeps the turn waiting until it is interrupted).
 *
 * @since 0.1.0
 * @category models
 */
export type Step =
  | { readonly _tag: "Respond"; readonly items: ReadonlyArray<OutputItem> }
  | { readonly _tag: "HttpError"; readonly status: number; readonly message: string }
  | { readonly _tag: "ResponseFailed"; readonly message: string }
  | { readonly _tag: "CutStream"; readonly items: ReadonlyArray<OutputItem> }
  | { readonly _tag: "Stall" }

/**
 * The model's side of one user turn: one step per request. An output item stands for a response with that
 * single item.
 *
 * @since 0.1.0
 * @category models
 */
export type Turn = ReadonlyArray<Step | OutputItem>

/**
 * The turns of a conversation, in order.
 *
 * @since 0.1.0
 * @category models
 */
export interface Scenario {
  readonly turns: ReadonlyArray<Turn>
  /**
   * The scenarios of sub-agents Codex spawns itself (`spawn_agent`), by Codex's agent path (`/root/galileo`:
   * the `agent_name` of a request's `x-codex-turn-metadata`); any other agent follows `turns`.
   *
   * @since 0.2.0
   */
  readonly agents?: Readonly<Record<string, Scenario>> | undefined
}

/**
 * A scenario from its turns.
 *
 * @since 0.1.0
 * @category constructors
 */
export const scenario = (...turns: ReadonlyArray<Turn>): Scenario => ({ turns })

/**
 * An `exec_command` tool call. `justification` makes it an escalation request (`require_escalated`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const exec = (
  cmd: string,
  options?: {
    readonly callId?: string | undefined
    readonly login?: boolean | undefined
    readonly justification?: string | undefined
    readonly workdir?: string | undefined
  }
): OutputItem => ({
  _tag: "Exec",
  cmd,
  login: options?.login ?? false,
  callId: options?.callId,
  justification: options?.justification,
  workdir: options?.workdir
})

/**
 * An `apply_patch` tool call with the patch text (`*** Begin Patch` ... `*** End Patch`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const patch = (text: string, options?: { readonly callId?: string | undefined }): OutputItem => ({
  _tag: "Patch",
  patch: text,
  callId: options?.callId
})

/**
 * The text of a patch that adds one file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const addFilePatch = (path: string, content: string): string => {
  const lines = content.endsWith("\n") ? content.slice(0, -1).split("\n") : content.split("\n")
  return `*** Begin Patch\n*** Add File: ${path}\n${lines.map((line) => `+${line}\n`).join("")}*** End Patch\n`
}

/**
 * An assistant message (streamed as one text delta, then the complete item).
 *
 * @since 0.1.0
 * @category constructors
 */
export const message = (text: string): OutputItem => ({ _tag: "Message", text })

/**
 * Any Responses API output item, sent as given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const raw = (item: Readonly<Record<string, unknown>>): OutputItem => ({ _tag: "Raw", item })

/**
 * A `spawn_agent` tool call (Codex 0.171's `collaboration` tools, on with `features.multi_agent_v2`): the
 * new agent's path is `/root/<taskName>` (see `Scenario.agents`); `fork_turns: "none"` unless given.
 *
 * @since 0.2.0
 * @category constructors
 */
export const spawnAgent = (
  taskName: string,
  message: string,
  options?: { readonly callId?: string | undefined; readonly forkTurns?: "all" | "none" | undefined }
): OutputItem =>
  collaboration(options?.callId ?? `spawn_${taskName}`, "spawn_agent", {
    task_name: taskName,
    message,
    fork_turns: options?.forkTurns ?? "none"
  })

/**
 * A `wait_agent` tool call: waits until a spawned agent's turn ends (at most `timeoutMs`, default 60 s;
 * Codex's minimum is 10 s).
 *
 * @since 0.2.0
 * @category constructors
 */
export const waitAgent = (
  options?: { readonly callId?: string | undefined; readonly timeoutMs?: number | undefined }
): OutputItem =>
  collaboration(options?.callId ?? "wait_agent", "wait_agent", { timeout_ms: options?.timeoutMs ?? 60_000 })

const collaboration = (callId: string, name: string, args: Record<string, unknown>): OutputItem =>
  raw({ type: "function_call", call_id: callId, name, namespace: "collaboration", arguments: JSON.stringify(args) })

/**
 * A response with several items.
 *
 * @since 0.1.0
 * @category constructors
 */
export const respond = (...items: ReadonlyArray<OutputItem>): Step => ({ _tag: "Respond", items })

/**
 * An HTTP error status instead of a stream (500 by default).
 *
 * @since 0.1.0
 * @category constructors
 */
export const httpError = (status = 500, message = "scripted server error"): Step => ({
  _tag: "HttpError",
  status,
  message
})

/**
 * A stream ending in `response.failed`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const responseFailed = (message = "scripted failure"): Step => ({ _tag: "ResponseFailed", message })

/**
 * A stream that sends these items, then ends before `response.completed`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const cutStream = (...items: ReadonlyArray<OutputItem>): Step => ({ _tag: "CutStream", items })

/**
 * A stream that starts and never ends (until Codex hangs up): the turn stays in progress. Codex 0.169 does not
 * hang up when its turn is interrupted (the next turn reads on from the same stream), so a stalled stream
 * suits turns that end by shutdown or a crash; to test an interrupt, interrupt a long command instead.
 *
 * @since 0.1.0
 * @category constructors
 */
export const stall: Step = { _tag: "Stall" }

/**
 * A scenario whose every turn is this one message.
 *
 * @since 0.1.0
 * @category scenarios
 */
export const messageScenario = (text = "Hello from the scripted model."): Scenario => scenario([message(text)])

/**
 * The demo: the agent asks to run a command (which writes `deputy-demo.txt` in its working directory), then
 * to apply a patch (adding `NOTES.md`), then reports.
 *
 * @since 0.1.0
 * @category scenarios
 */
export const demoScenario: Scenario = scenario([
  exec("echo 'hello from a Deputy sub-agent' > deputy-demo.txt && cat deputy-demo.txt"),
  patch(addFilePatch("NOTES.md", "# Notes\n\nWritten through apply_patch by Deputy's scripted demo model.\n")),
  message(
    "Done. I asked to run a command that writes deputy-demo.txt, then to add NOTES.md with a patch; " +
      "what happened to each is in the events above."
  )
])

/**
 * Codex's own sub-agent (needs `features.multi_agent_v2` on Codex 0.171): the root agent spawns `galileo`
 * (call `spawn_1`) and waits for it, galileo asks to append `sub` to `sub.txt` and reports `sub done`,
 * then the root reports `parent done`.
 *
 * @since 0.2.0
 * @category scenarios
 */
export const subAgentScenario: Scenario = {
  turns: [[
    spawnAgent("galileo", "write sub.txt", { callId: "spawn_1" }),
    waitAgent(),
    message("parent done")
  ]],
  agents: { "/root/galileo": scenario([exec("echo sub >> sub.txt"), message("sub done")]) }
}

/**
 * A request the server received, with where it was in the scenario.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  /** The thread key (`thread-id` header, else `prompt_cache_key`). */
  readonly thread: string
  /** The turn's position in its thread, from 0. */
  readonly turn: number
  /** The step within the turn, from 0 (the length of the turn when it was past its end). */
  readonly step: number
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  /** The JSON body (its text when it is not JSON). */
  readonly body: unknown
}

/**
 * The running server.
 *
 * @since 0.1.0
 * @category tags
 */
export class ScriptedModel extends Context.Tag("@deputy/codex/ScriptedModel")<ScriptedModel, {
  /** `http://127.0.0.1:<port>/v1`: a model provider's `base_url`. */
  readonly baseUrl: string
  readonly port: number
  readonly scenario: Scenario
  /** Every request received so far, in order. */
  readonly requests: Effect.Effect<ReadonlyArray<RecordedRequest>>
}>() {}

/**
 * The server could not listen.
 *
 * @since 0.1.0
 * @category errors
 */
export class ScriptedModelError extends Data.TaggedError("ScriptedModelError")<{ readonly reason: string }> {
  override get message(): string {
    return `the scripted model server could not start: ${this.reason}`
  }
}

type Json = Record<string, unknown>

const record = (value: unknown): Json =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? value as Json : {}

const asStep = (entry: Step | OutputItem): Step =>
  entry._tag === "Exec" || entry._tag === "Patch" || entry._tag === "Message" || entry._tag === "Raw"
    ? { _tag: "Respond", items: [entry] }
    : entry

const callIdOf = (item: OutputItem, turn: number, step: number, index: number): string | undefined => {
  switch (item._tag) {
    case "Exec":
    case "Patch":
      return item.callId ?? `call_${turn}_${step}_${index}`
    case "Raw":
      return typeof item.item.call_id === "string" ? item.item.call_id : undefined
    case "Message":
      return undefined
  }
}

const stepCallIds = (step: Step, turn: number, index: number): Array<string> =>
  step._tag === "Respond" || step._tag === "CutStream"
    ? step.items.flatMap((item, i) => {
      const id = callIdOf(item, turn, index, i)
      return id === undefined ? [] : [id]
    })
    : []

/** The step for a request: the first whose calls are not all answered in the input. */
const currentStep = (steps: ReadonlyArray<Step>, turn: number, answered: ReadonlySet<string>): number => {
  for (let index = 0; index < steps.length; index++) {
    const ids = stepCallIds(steps[index]!, turn, index)
    if (ids.length === 0 || !ids.every((id) => answered.has(id))) return index
  }
  return steps.length
}

const answeredCalls = (input: unknown): Set<string> => {
  const ids = new Set<string>()
  if (!Array.isArray(input)) return ids
  for (const item of input) {
    const entry = record(item)
    if (
      (entry.type === "function_call_output" || entry.type === "custom_tool_call_output" ||
        entry.type === "tool_search_output") &&
      typeof entry.call_id === "string"
    ) ids.add(entry.call_id)
  }
  return ids
}

const header = (request: http.IncomingMessage, name: string): string | undefined => {
  const value = request.headers[name]
  return typeof value === "string" && value !== "" ? value : undefined
}

const turnKey = (request: http.IncomingMessage, body: Json): string => {
  const metadata = header(request, "x-codex-turn-metadata")
  if (metadata !== undefined) {
    try {
      const turnId = record(JSON.parse(metadata)).turn_id
      if (typeof turnId === "string") return turnId
    } catch {
      // fall through
    }
  }
  const turnId = record(body.client_metadata).turn_id
  if (typeof turnId === "string") return turnId
  const userMessages = Array.isArray(body.input)
    ? body.input.filter((item) => record(item).type === "message" && record(item).role === "user").length
    : 0
  return `user-messages:${userMessages}`
}

/** Codex's agent path of a request (`/root`, `/root/galileo`), from `x-codex-turn-metadata`. */
const agentOf = (request: http.IncomingMessage): string | undefined => {
  const metadata = header(request, "x-codex-turn-metadata")
  if (metadata === undefined) return undefined
  try {
    const name = record(JSON.parse(metadata)).agent_name
    return typeof name === "string" ? name : undefined
  } catch {
    return undefined
  }
}

const outputItem = (item: OutputItem, callId: string | undefined, messageId: string): Json => {
  switch (item._tag) {
    case "Exec":
      return {
        type: "function_call",
        call_id: callId,
        name: "exec_command",
        arguments: JSON.stringify({
          cmd: item.cmd,
          login: item.login,
          ...(item.workdir === undefined ? {} : { workdir: item.workdir }),
          ...(item.justification === undefined
            ? {}
            : { sandbox_permissions: "require_escalated", justification: item.justification })
        })
      }
    case "Patch":
      return { type: "custom_tool_call", call_id: callId, name: "apply_patch", input: item.patch }
    case "Message":
      return {
        type: "message",
        role: "assistant",
        id: messageId,
        content: [{ type: "output_text", text: item.text, annotations: [] }]
      }
    case "Raw":
      return item.item
  }
}

const usage = {
  input_tokens: 100,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 10,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 110
}

/** Writes a step's answer. */
const answer = (
  response: http.ServerResponse,
  step: Step,
  ids: { readonly response: string; readonly turn: number; readonly step: number }
): void => {
  if (step._tag === "HttpError") {
    response.writeHead(step.status, { "content-type": "application/json" })
    response.end(JSON.stringify({ error: { message: step.message, type: "server_error", code: null } }))
    return
  }
  response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
  const frame = (event: Json) => response.write(`event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`)
  frame({ type: "response.created", response: { id: ids.response } })
  switch (step._tag) {
    case "Stall":
      return
    case "ResponseFailed":
      frame({
        type: "response.failed",
        response: { id: ids.response, error: { code: "server_error", message: step.message } }
      })
      response.end()
      return
    case "Respond":
    case "CutStream": {
      step.items.forEach((item, index) => {
        const messageId = `msg_${ids.turn}_${ids.step}_${index}`
        const full = outputItem(item, callIdOf(item, ids.turn, ids.step, index), messageId)
        if (item._tag === "Message") {
          frame({ type: "response.output_item.added", output_index: index, item: { ...full, content: [] } })
          frame({
            type: "response.output_text.delta",
            item_id: messageId,
            output_index: index,
            content_index: 0,
            delta: item.text
          })
        }
        frame({ type: "response.output_item.done", output_index: index, item: full })
      })
      if (step._tag === "Respond") frame({ type: "response.completed", response: { id: ids.response, usage } })
      response.end()
    }
  }
}

const endOfTurn: Step = { _tag: "Respond", items: [{ _tag: "Message", text: "(scripted model: end of turn)" }] }

/**
 * Starts the server in the current scope (closing the scope closes it and its connections).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (scenario: Scenario): Effect.Effect<ScriptedModel["Type"], ScriptedModelError, Scope.Scope> =>
  Effect.gen(function*() {
    const requests: Array<RecordedRequest> = []
    const threads = new Map<string, Array<string>>()
    let responses = 0

    const handle = (request: http.IncomingMessage, response: http.ServerResponse) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        let body: unknown = text
        try {
          body = JSON.parse(text)
        } catch {
          // kept as text
        }
        const json = record(body)
        const path = request.url ?? "/"
        const base = {
          method: request.method ?? "GET",
          path,
          headers: request.headers,
          body
        }
        if (request.method !== "POST" || !path.split("?")[0]!.endsWith("/responses")) {
          requests.push({ ...base, thread: "", turn: -1, step: -1 })
          response.writeHead(404, { "content-type": "application/json" })
          response.end(JSON.stringify({ error: { message: `no such route: ${request.method} ${path}` } }))
          return
        }
        const thread = header(request, "thread-id") ?? header(request, "session-id") ??
          (typeof json.prompt_cache_key === "string" ? json.prompt_cache_key : "default")
        const turns = threads.get(thread) ?? []
        threads.set(thread, turns)
        const key = turnKey(request, json)
        let turn = turns.indexOf(key)
        if (turn === -1) turn = turns.push(key) - 1
        const agent = agentOf(request)
        const agentTurns = agent !== undefined && scenario.agents !== undefined && Object.hasOwn(scenario.agents, agent)
          ? scenario.agents[agent]!.turns
          : scenario.turns
        const script = agentTurns.length === 0 ? [] : agentTurns[Math.min(turn, agentTurns.length - 1)]!
        const steps = script.map(asStep)
        const step = currentStep(steps, turn, answeredCalls(json.input))
        requests.push({ ...base, thread, turn, step })
        responses += 1
        answer(response, steps[step] ?? endOfTurn, { response: `resp_${responses}`, turn, step })
      })
    }

    const server = yield* Effect.acquireRelease(
      Effect.async<http.Server, ScriptedModelError>((resume) => {
        const server = http.createServer(handle)
        server.once("error", (error) => resume(Effect.fail(new ScriptedModelError({ reason: error.message }))))
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    const port = (server.address() as AddressInfo).port
    return {
      baseUrl: `http://127.0.0.1:${port}/v1`,
      port,
      scenario,
      requests: Effect.sync(() => requests.slice())
    }
  })

/**
 * The server as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (scenario: Scenario): Layer.Layer<ScriptedModel, ScriptedModelError> =>
  Layer.scoped(ScriptedModel, make(scenario))
