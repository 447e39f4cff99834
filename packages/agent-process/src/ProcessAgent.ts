/**
 * An `AgentSpawner` for any program that speaks Deputy's protocol as JSON lines on stdio: one `Submission`
 * per line on its stdin, one `Event` per line on its stdout (`examples/reference-agent.mjs` is a complete,
 * dependency-free example of such a program).
 *
 * - **Environment**: only an allow-list of the parent's variables (`PATH`, `HOME`, `LANG`, `LC_*`, `TERM`,
 *   `TMPDIR`, `USER`, `SHELL`, `TZ`; everything with `inheritEnv: true`), then `TRACEPARENT` / `TRACESTATE`
 *   of the current span, then the caller's `env`.
 * - **Bad output** never crashes the parent and is never dropped silently: a line that is not an `Event`, or
 *   is longer than `maxLineLength`, becomes a `deputy_diagnostic` event (line number and snippet) and
 *   reading goes on; with `strict: true` it ends the agent with `AgentExited`.
 * - **Memory**: events read and not yet taken are bounded in count (1024) and in bytes (`maxBufferedBytes`,
 *   default 32 MiB); when the buffer is full Deputy stops reading stdout, so a flooding child blocks on its
 *   own write. A line longer than `maxLineLength` (or `maxBufferedBytes`) is skipped, never held whole.
 * - **End**: `events` ends when stdout ends and the process exits with code 0, and fails with `AgentExited`
 *   (exit code or signal, reason with the line of stderr that explains it, the start and end of stderr)
 *   otherwise. A child that closes stdout and does not exit within `killGracePeriod` is stopped.
 * - **Containment** (`ChildProcess`): no process the child starts outlives it. On Linux with a writable
 *   cgroup v2 the kernel guarantees it (`setsid`, double forks included); elsewhere descendants are tracked
 *   through `/proc` and a warning is logged once.
 * - **Shutdown**, when the spawn's scope closes: stdin is closed, every process of the tree gets SIGTERM, and
 *   SIGKILL after `killGracePeriod`; the close returns once all of them are gone, whatever interrupted it. A
 *   delegate sends `interrupt` and `shutdown` and drains before it closes the scope, so a well-behaved child
 *   has exited by then.
 *
 * @since 0.1.0
 */
import { type Agent, AgentSpawner, Errors, TraceContext } from "@deputy/core"
import { JsonLines } from "@deputy/protocol"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "./ChildProcess.js"
import * as Child from "./internal/Child.js"
import { toSpawnError } from "./internal/SpawnFailure.js"

/**
 * How to run the agent program.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The program: a name looked up on the child's `PATH`, or a path. */
  readonly command: string
  /** Its arguments. */
  readonly args?: ReadonlyArray<string> | undefined
  /** Variables added to the child's environment (they win over inherited ones and the trace context). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Pass the parent's whole environment instead of the allow-list (`defaultEnvAllowList`). Default `false`. */
  readonly inheritEnv?: boolean | undefined
  /** Time between SIGTERM and SIGKILL when stopping the child's process group. Default 2 seconds. */
  readonly killGracePeriod?: Duration.DurationInput | undefined
  /** Longest stdout line read, in characters; longer ones are skipped and reported. Default 8 MiB. */
  readonly maxLineLength?: number | undefined
  /**
   * Bytes of events read and not yet taken by the consumer; when reached, stdout is not read until the
   * consumer takes some. Default 32 MiB.
   *
   * @since 0.2.0
   */
  readonly maxBufferedBytes?: number | undefined
  /** End the agent (`AgentExited`) on the first malformed or over-long line instead of reporting it. */
  readonly strict?: boolean | undefined
  /** How much of the end of the child's stderr is kept for error reports, in bytes. Default 8 KiB. */
  readonly stderrTailBytes?: number | undefined
  /** The agent's name in messages and spans. Default: the command. */
  readonly name?: string | undefined
}

/**
 * The parent's environment variables a child gets by default (and every `LC_*`).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultEnvAllowList: ReadonlyArray<string> = ChildProcess.baseEnvAllowList.names

/**
 * Defaults of `Options`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  killGracePeriod: Duration.seconds(2),
  maxLineLength: JsonLines.defaultMaxLineLength,
  maxBufferedBytes: ChildProcess.eventBufferDefaults.maxBytes,
  stderrTailBytes: 8 * 1024
} as const

/**
 * What `SpawnOptions.config` may set for a process agent, per spawn: another `command` or `args`, and more
 * `env`. Other keys are ignored (they may be meant for other spawners).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SpawnConfig = Schema.Struct({
  command: Schema.optional(Schema.String),
  args: Schema.optional(Schema.Array(Schema.String)),
  env: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
}).annotations({ identifier: "ProcessAgent.SpawnConfig" })

/**
 * @since 0.1.0
 * @category models
 */
export type SpawnConfig = typeof SpawnConfig.Type

const decodeConfig = Schema.decodeUnknownEither(SpawnConfig)

/**
 * Starts the program as an agent living in the current scope. `spawnOptions.cwd` is its working directory;
 * `spawnOptions.config` may override the command (`SpawnConfig`). A process starts with a new history:
 * a resumed or forked `initialHistory` is refused.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { ProcessAgent } from "@deputy/agent-process"
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const agent = yield* ProcessAgent.spawn({ command: "node", args: ["reference-agent.mjs"] }, { source: "review" })
 *   yield* agent.submit({ type: "user_input", items: [{ type: "text", text: "hello", text_elements: [] }] })
 *   yield* agent.events.pipe(Stream.takeUntil((event) => event.msg.type === "task_complete"), Stream.runDrain)
 * }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
 * ```
 */
export const spawn = (
  options: Options,
  spawnOptions: AgentSpawner.SpawnOptions
): Effect.Effect<Agent.Agent, Errors.SpawnError, CommandExecutor.CommandExecutor | Scope.Scope> =>
  Effect.gen(function*() {
    // The caller's span (not the spawn span below) is the child's parent trace.
    const trace = yield* TraceContext.current
    const config = decodeConfig(spawnOptions.config ?? {})
    if (Either.isLeft(config)) {
      return yield* new Errors.SpawnError({
        agent: options.command,
        reason: `invalid config: ${ParseResult.TreeFormatter.formatErrorSync(config.left)}`
      })
    }
    const command = config.right.command ?? options.command
    const args = config.right.args ?? options.args ?? []
    const history = spawnOptions.initialHistory
    if (typeof history === "object" && history !== null) {
      return yield* new Errors.SpawnError({
        agent: command,
        reason: `a process agent starts with a new history; ${
          "Resumed" in history ? "resuming" : "forking"
        } one is not supported`
      })
    }
    const env = ChildProcess.environment({
      parent: process.env,
      inherit: options.inheritEnv ?? false,
      trace: Option.match(trace, { onNone: () => ({}), onSome: TraceContext.toEnv }),
      extra: [options.env, config.right.env]
    })
    const cwd = spawnOptions.cwd
    const settings: Child.ChildSettings = {
      name: options.name ?? command,
      strict: options.strict ?? false,
      maxLineLength: options.maxLineLength ?? defaults.maxLineLength,
      maxBufferedBytes: options.maxBufferedBytes ?? defaults.maxBufferedBytes,
      killGracePeriod: Duration.decode(options.killGracePeriod ?? defaults.killGracePeriod)
    }
    // Uninterruptible from the start of the process until its stopping finalizer is in the scope (a few
    // milliseconds): an interruption in between would leave the stop to the executor's own release, which
    // waits without bound for a child that ignores SIGTERM.
    return yield* ChildProcess.start({
      command,
      args,
      env,
      cwd,
      stderrTailBytes: options.stderrTailBytes ?? defaults.stderrTailBytes,
      exitGracePeriod: Duration.zero,
      killGracePeriod: settings.killGracePeriod,
      inputCapacity: Child.submissionCapacity
    }).pipe(
      Effect.mapError(toSpawnError(command, { cwd, path: env.PATH })),
      Effect.withSpan("ProcessAgent.spawn", { attributes: { "deputy.command": command, "deputy.args": args } }),
      Effect.flatMap((child) => Child.agent(child, settings)),
      Effect.uninterruptible
    )
  })

/**
 * The spawner service for these options, using the `CommandExecutor` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<AgentSpawner.AgentSpawner["Type"], never, CommandExecutor.CommandExecutor> =>
  Effect.map(CommandExecutor.CommandExecutor, (executor) =>
    AgentSpawner.AgentSpawner.of({
      spawn: (spawnOptions) =>
        spawn(options, spawnOptions).pipe(Effect.provideService(CommandExecutor.CommandExecutor, executor))
    }))

/**
 * An `AgentSpawner` that runs the program; needs a `CommandExecutor` (e.g. `NodeContext.layer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<AgentSpawner.AgentSpawner, never, CommandExecutor.CommandExecutor> =>
  Layer.effect(AgentSpawner.AgentSpawner, make(options))

/**
 * `layer` with Node's command executor (`NodeContext.layer`) provided.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNode = (options: Options): Layer.Layer<AgentSpawner.AgentSpawner> =>
  layer(options).pipe(Layer.provide(NodeContext.layer))
