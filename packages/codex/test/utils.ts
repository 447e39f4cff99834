import { CodexAgent, CodexBinary, CodexHome, ScriptedModel } from "@deputy/codex"
import type { AgentSpawner } from "@deputy/core"
import type { Event, Op } from "@deputy/protocol"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"

/** A temporary working directory for Codex, removed with the scope. */
export const tempDir = Effect.flatMap(
  FileSystem.FileSystem,
  (fs) => fs.makeTempDirectoryScoped({ prefix: "deputy-codex-test-" })
)

/**
 * Starts a scripted model, a Codex home pointing at it (with `homeConfig` appended to its `config.toml`),
 * and Codex in a temporary cwd.
 */
export const spawnScripted = (
  scenario: ScriptedModel.Scenario,
  options: CodexAgent.Options = {},
  spawnOptions: Partial<AgentSpawner.SpawnOptions> = {},
  homeConfig?: string
) =>
  Effect.gen(function*() {
    const model = yield* ScriptedModel.make(scenario)
    const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
    if (homeConfig !== undefined) fs.appendFileSync(path.join(home.path, "config.toml"), homeConfig)
    const cwd = spawnOptions.cwd ?? (yield* tempDir)
    const agent = yield* CodexAgent.spawn(
      { codexHome: home.path, ...options, env: { ...home.env, ...options.env } },
      { source: "review", ...spawnOptions, cwd }
    )
    return { agent, model, home, cwd }
  })

/** A pull-based reader over an agent's single-consumer event stream. */
export interface Reader {
  /** The next event, or none at the end of the stream (fails with the stream's error). */
  readonly next: Effect.Effect<Option.Option<Event.Event>, unknown>
  /**
   * Reads events until `stop` holds (included), answering with `answer` (submitted to the agent) on the way.
   */
  readonly until: (
    stop: (event: Event.Event) => boolean,
    answer?: (event: Event.Event) => Op.Op | undefined
  ) => Effect.Effect<Array<Event.Event>, unknown>
  /** Reads to the end of the stream. */
  readonly rest: Effect.Effect<Array<Event.Event>, unknown>
}

export const reader = (
  agent: CodexAgent.CodexAgent
): Effect.Effect<Reader, never, Scope.Scope> =>
  Effect.map(Stream.toPull(agent.events), (pull) => {
    let buffer: Array<Event.Event> = []
    const next: Effect.Effect<Option.Option<Event.Event>, unknown> = Effect.suspend(() =>
      buffer.length > 0
        ? Effect.succeed(Option.some(buffer.shift()!))
        : Effect.matchEffect(pull, {
          onFailure: (error) => Option.isNone(error) ? Effect.succeed(Option.none()) : Effect.fail(error.value),
          onSuccess: (chunk) => {
            buffer = Chunk.toArray(chunk)
            return next
          }
        })
    )
    const until = (stop: (event: Event.Event) => boolean, answer?: (event: Event.Event) => Op.Op | undefined) =>
      Effect.gen(function*() {
        const seen: Array<Event.Event> = []
        while (true) {
          const event = yield* next
          if (Option.isNone(event)) return seen
          seen.push(event.value)
          const op = answer?.(event.value)
          if (op !== undefined) yield* agent.submit(op)
          if (stop(event.value)) return seen
        }
      })
    const rest = until(() => false)
    return { next, until, rest }
  })

export const isTurnEnd = (event: Event.Event) => event.msg.type === "task_complete" || event.msg.type === "turn_aborted"

export const text = (value: string): Op.Op => ({
  type: "user_input",
  items: [{ type: "text", text: value, text_elements: [] }]
})

/** The running descendants of this test process (Linux `/proc`), by pid. */
const descendants = (): Array<{ readonly pid: number }> => {
  const parents = new Map<number, Array<number>>()
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "latin1")
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      if (state === "Z" || state === "X") continue
      parents.set(Number(ppid), [...(parents.get(Number(ppid)) ?? []), Number(entry)])
    } catch {
      // gone meanwhile
    }
  }
  const found: Array<{ readonly pid: number }> = []
  const queue = [process.pid]
  while (queue.length > 0) {
    for (const pid of parents.get(queue.pop()!) ?? []) {
      found.push({ pid })
      queue.push(pid)
    }
  }
  return found
}

/** Codex processes (and their helpers) still running under this test process. */
export const leftovers = (): Array<string> =>
  descendants().flatMap((child) => {
    try {
      const cmdline = fs.readFileSync(`/proc/${child.pid}/cmdline`, "utf8").replace(/\0/g, " ").trim()
      return /codex|bwrap|sleep/.test(cmdline) ? [`${child.pid} ${cmdline}`] : []
    } catch {
      return []
    }
  })

export const provideNode = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provide(effect, NodeContext.layer)

/** Waits (up to 2 s) until no Codex process of this test process is left, and returns those still there. */
export const awaitNoLeftovers = Effect.gen(function*() {
  for (let i = 0; i < 100; i++) {
    if (leftovers().length === 0) return []
    yield* Effect.sleep("20 millis")
  }
  return leftovers()
})

/** Features that make Codex offer `request_user_input` and `request_permissions` to the model. */
export const requestToolsArgs = [
  "-c",
  "features.default_mode_request_user_input=true",
  "-c",
  "features.request_permissions_tool=true",
  "-c",
  "suppress_unstable_features_warning=true"
]

/**
 * The Codex versions the end-to-end core runs against: the pinned one, and the previous one kept under an
 * npm alias (`@openai/codex-0169`), each with its own native binary.
 */
export const codexVersions =
  (Object.keys(CodexBinary.bundledPackages) as Array<keyof typeof CodexBinary.bundledPackages>)
    .map((version) => ({ version, binary: Effect.runSync(CodexBinary.bundledBinary(version)).path }))

/** The binary of the pinned version. */
export const pinnedBinary = codexVersions.find((entry) => entry.version === CodexBinary.bundledVersion)!.binary

/** Codex's collaboration tools (`spawn_agent`, `followup_task`, …): off unless this feature is on. */
export const multiAgentArgs = ["-c", "features.multi_agent_v2=true"] as const

/** A scripted Codex spawner with the collaboration tools on, its model playing `scenario`. */
export const multiAgentCodex = (binary: string, scenario: ScriptedModel.Scenario) =>
  CodexAgent.layerScripted({ binary, args: [...multiAgentArgs] }).pipe(
    Layer.provideMerge(ScriptedModel.layer(scenario)),
    Layer.provide(NodeContext.layer)
  )

/** Sets `vars` in the parent's environment (the one Codex is spawned from) while the scope lives. */
export const withParentEnv = (vars: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const before = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]))
      Object.assign(process.env, vars)
      return before
    }),
    (before) =>
      Effect.sync(() => {
        for (const [name, value] of Object.entries(before)) {
          if (value === undefined) delete process.env[name]
          else process.env[name] = value
        }
      })
  )

const approveCommand = (event: Event.Event): Op.Op | undefined =>
  event.msg.type === "exec_approval_request"
    ? {
      type: "exec_approval",
      id: String(event.msg.approval_id ?? event.msg.call_id),
      turn_id: event.id,
      decision: "approved"
    }
    : undefined

/** The environment a command the real Codex runs (`env > env.txt`, approved) sees. */
export const envSeenByCommand = (options: CodexAgent.Options = {}, homeConfig?: string) =>
  Effect.gen(function*() {
    const { agent, cwd } = yield* spawnScripted(
      ScriptedModel.scenario([ScriptedModel.exec("env > env.txt"), ScriptedModel.message("done")]),
      options,
      {},
      homeConfig
    )
    const events = yield* reader(agent)
    yield* agent.submit(text("show the environment"))
    yield* events.until(isTurnEnd, approveCommand)
    return fs.readFileSync(path.join(cwd, "env.txt"), "utf8")
  })
