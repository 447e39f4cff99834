/**
 * An `AgentSpawner` for the real Codex CLI, through `codex app-server` (JSON-RPC on stdio): Codex's
 * notifications and approval requests become Deputy events, Deputy's ops become JSON-RPC requests and
 * answers. See the package README for the full mapping.
 *
 * - **Binary**: `binary`, else `codex` on `PATH`, else the pinned `@openai/codex` package's native binary
 *   (`CodexBinary.resolve`).
 * - **Start**: `initialize`, `initialized`, then the thread — `thread/start`, or `thread/resume` /
 *   `thread/fork` for a resumed / forked `initialHistory` — during the spawn, so a Codex that cannot start
 *   fails the spawn with a `SpawnError` (with its stderr); then a `session_configured` event (id `""`).
 * - **Ops**: `user_input → turn/start`, `interrupt → turn/interrupt` (nothing when idle), answers →
 *   JSON-RPC results, `shutdown` → the turn in progress is interrupted, stdin is closed and, once Codex has
 *   exited, `shutdown_complete` ends the events. Other ops become `deputy_diagnostic` events.
 * - **Environment**: like a process agent's, an allow-list of the parent's variables: the base list
 *   (`ChildProcess.baseEnvAllowList`), then Codex's own (`codexEnvAllowList`: `OPENAI_*`, `CODEX_*`, proxies
 *   and certificates), then `TRACEPARENT` / `TRACESTATE`, then the caller's `env`; `inheritEnv: true` passes
 *   the parent's whole environment. Secrets of the parent (`AWS_SECRET_ACCESS_KEY`, `GITHUB_TOKEN`…) never
 *   reach the commands Codex runs unless passed.
 * - **End**: the events fail with `AgentExited` (code or signal, the stderr line that explains it, stderr's
 *   start and end) when Codex exits unasked. Closing the spawn's scope closes stdin, then SIGTERM / SIGKILL to
 *   every process of its tree after the grace periods (`ChildProcess`: contained in a cgroup where the
 *   machine allows it), and returns once all of them are gone.
 *
 * @since 0.1.0
 */
import { ChildProcess } from "@deputy/agent-process"
import { Agent, AgentSpawner, Errors, TraceContext } from "@deputy/core"
import {
  type EventMsg,
  type InitialHistory,
  JsonLines,
  Op,
  type Submission,
  type UserInput,
  type W3cTraceContext
} from "@deputy/protocol"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import type { PlatformError } from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as CodexBinary from "./CodexBinary.js"
import * as CodexHome from "./CodexHome.js"
import * as CommandEnv from "./internal/commandEnv.js"
import * as Durable from "./internal/durable.js"
import * as HomeOverlay from "./internal/homeOverlay.js"
import * as JsonRpc from "./internal/jsonRpc.js"
import * as Session from "./internal/session.js"
import { isAnswer } from "./internal/translate.js"
import type { ScriptedModel } from "./ScriptedModel.js"

/**
 * When Codex asks before acting (`untrusted`: anything not known safe; `on-request`: when the model asks to
 * leave the sandbox; `never`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ApprovalPolicy = Schema.Literal("untrusted", "on-request", "never")

/**
 * @since 0.1.0
 * @category models
 */
export type ApprovalPolicy = typeof ApprovalPolicy.Type

/**
 * Codex's sandbox for the commands it runs.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SandboxMode = Schema.Literal("read-only", "workspace-write", "danger-full-access")

/**
 * @since 0.1.0
 * @category models
 */
export type SandboxMode = typeof SandboxMode.Type

/**
 * How to run Codex.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Path of the Codex executable (default: `codex` on `PATH`, else the bundled one). */
  readonly binary?: string | undefined
  /** `CODEX_HOME` for the process (default: inherited, i.e. `~/.codex`). */
  readonly codexHome?: string | undefined
  /** Default `untrusted`: every command that is not known safe, and every patch, is asked for. */
  readonly approvalPolicy?: ApprovalPolicy | undefined
  /** Default `workspace-write`. */
  readonly sandbox?: SandboxMode | undefined
  /** A model slug; default: Codex's configuration. */
  readonly model?: string | undefined
  /** Variables added to the child's environment (they win over inherited ones and the trace context). */
  readonly env?: Readonly<Record<string, string>> | undefined
  /**
   * Pass the parent's whole environment instead of the allow-list (`codexEnvAllowList`). Default `false`.
   *
   * @since 0.2.0
   */
  readonly inheritEnv?: boolean | undefined
  /** Do not persist the thread in `CODEX_HOME/sessions` (it then cannot be resumed). Default `false`. */
  readonly ephemeral?: boolean | undefined
  /** More arguments for `codex app-server`, e.g. `["-c", "model_reasoning_effort=\"low\""]`. */
  readonly args?: ReadonlyArray<string> | undefined
  /** How long `initialize` and the thread start may take. Default 30 seconds. */
  readonly startupTimeout?: Duration.DurationInput | undefined
  /** After stdin is closed, how long Codex may take to exit before SIGTERM. Default 2 seconds. */
  readonly exitGracePeriod?: Duration.DurationInput | undefined
  /** After SIGTERM, how long before SIGKILL. Default 2 seconds. */
  readonly killGracePeriod?: Duration.DurationInput | undefined
  /** Longest stdout line read; longer ones are skipped and reported. Default 8 MiB. */
  readonly maxLineLength?: number | undefined
  /**
   * Bytes of events read and not yet taken; when reached, stdout is not read until the consumer takes some.
   * Default 32 MiB.
   *
   * @since 0.2.0
   */
  readonly maxBufferedBytes?: number | undefined
  /** How much of the end of Codex's stderr is kept for error reports, in bytes. Default 8 KiB. */
  readonly stderrTailBytes?: number | undefined
  /**
   * How long a turn may go without progress (an event other than Codex's retry notices) while it waits on
   * the model: past it, the turn is interrupted and ends with an error that says so (the model stream
   * stalled, or the network is down). Time spent running a command or waiting on the parent does not
   * count. Default 3 minutes.
   *
   * @since 0.2.0
   */
  readonly turnTimeout?: Duration.DurationInput | undefined
  /**
   * Let Codex write into the Codex home's `config.toml` (it appends `[projects."<cwd>"] trust_level` for a
   * git working directory). Default `false`: Codex runs on a scratch overlay of the home (a copy of
   * `config.toml`, links to everything else), and the user's file stays byte-identical.
   *
   * @since 0.2.0
   */
  readonly writeCodexConfig?: boolean | undefined
  /**
   * An OTLP/HTTP endpoint (e.g. `http://127.0.0.1:4318/v1/traces`) Codex exports its spans to, as JSON
   * (`-c otel.trace_exporter=…`). Codex parents each request's spans to the request's trace context, so its
   * spans join the delegate's trace. Default: Codex's configuration.
   *
   * @since 0.2.0
   */
  readonly otlpTracesEndpoint?: string | undefined
  /**
   * Run Codex so that it survives a crash of this process (SIGKILL included): `codex app-server --listen
   * unix://…` in a fresh 0700 directory under `socketDir`, under a small watchdog, over WebSocket; the agent
   * behaves as the stdio one (same events). A clean end or a stop ends Codex and its whole tree as always;
   * after a crash, Codex waits for a new parent (`attach`) and is ended by its watchdog when none has come
   * for `idleTimeout` (default 30 minutes). Where it is: `CodexAgent.durable`.
   *
   * @since 0.2.0
   */
  readonly durable?: {
    readonly socketDir: string
    readonly idleTimeout?: Duration.DurationInput | undefined
  } | undefined
  /**
   * Reattach to the durable Codex a dead parent left (instead of starting one): the socket is checked (a
   * socket of ours, not a symbolic link, in a 0700 directory of ours), the thread resumed (`thread/resume`:
   * Codex replays its pending requests). The agent's end ends that Codex and its tree.
   *
   * @since 0.2.0
   */
  readonly attach?: ReattachPoint | undefined
}

/**
 * Where a durable Codex (`Options.durable`) runs, and its thread: what a new parent needs to reattach.
 *
 * @since 0.2.0
 * @category models
 */
export interface ReattachPoint {
  readonly socketPath: string
  /** The `codex app-server` process. */
  readonly pid: number
  /** Its watchdog. */
  readonly watchdogPid: number
  readonly threadId: string
}

/**
 * Defaults of `Options`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  approvalPolicy: "untrusted",
  sandbox: "workspace-write",
  startupTimeout: Duration.seconds(30),
  exitGracePeriod: Duration.seconds(2),
  killGracePeriod: Duration.seconds(2),
  maxLineLength: JsonLines.defaultMaxLineLength,
  maxBufferedBytes: ChildProcess.eventBufferDefaults.maxBytes,
  stderrTailBytes: 8 * 1024,
  turnTimeout: Duration.minutes(3),
  durableIdleTimeout: Duration.minutes(30)
} as const

/**
 * The parent's variables Codex gets besides the base list (`ChildProcess.baseEnvAllowList`): its own
 * (`OPENAI_*`, `CODEX_*`), and what its HTTP client needs to reach the model through a proxy or a private
 * certificate authority.
 *
 * @since 0.2.0
 * @category constants
 */
export const codexEnvAllowList: ChildProcess.EnvAllowList = {
  names: [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "LOGNAME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "RUST_LOG",
    "RUST_BACKTRACE"
  ],
  prefixes: ["OPENAI_", "CODEX_"]
}

/**
 * What `SpawnOptions.config` may set per spawn; other keys are ignored (they may be meant for other spawners).
 *
 * @since 0.1.0
 * @category schemas
 */
export const SpawnConfig = Schema.Struct({
  binary: Schema.optional(Schema.String),
  codexHome: Schema.optional(Schema.String),
  approvalPolicy: Schema.optional(ApprovalPolicy),
  sandbox: Schema.optional(SandboxMode),
  model: Schema.optional(Schema.String),
  ephemeral: Schema.optional(Schema.Boolean),
  env: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
}).annotations({ identifier: "CodexAgent.SpawnConfig" })

/**
 * @since 0.1.0
 * @category models
 */
export type SpawnConfig = typeof SpawnConfig.Type

const decodeConfig = Schema.decodeUnknownEither(SpawnConfig)

/**
 * A Codex agent: an `Agent` plus the app-server's process id and thread.
 *
 * @since 0.1.0
 * @category models
 */
export interface CodexAgent extends Agent.Agent {
  readonly pid: number
  readonly threadId: string
  /** Where Codex records the thread (absent for an ephemeral thread). */
  readonly rolloutPath: string | undefined
  /** Where a durable Codex runs (`Options.durable`, `Options.attach`). @since 0.2.0 */
  readonly durable?: ReattachPoint | undefined
}

/** The durable Codex of each turn in progress, by Codex turn id (`reattachPointOf`). */
const durableTurns = new Map<string, ReattachPoint>()

/**
 * The durable Codex (`Options.durable`) that asked a request, by the request's Codex turn id
 * (`request.event.turn_id`), while its agent lives: what the approval ledger records with the pending
 * request so that a new parent can reattach.
 *
 * @since 0.2.0
 * @category durable
 */
export const reattachPointOf = (turnId: string): ReattachPoint | undefined => durableTurns.get(turnId)

/**
 * Whether a reattach failed because another `deputy` holds the Codex's lease: that one is alive and drives
 * it (its requests are not to be settled `lost`). Any other failure means the Codex cannot be reattached.
 *
 * @since 0.2.0
 * @category restart
 */
export const leaseIsBusy = (error: unknown): boolean =>
  error instanceof Errors.SpawnError && error.cause instanceof Durable.LeaseBusy

/**
 * The name of a durable Codex's socket in its directory (`Options.durable.socketDir/<dir>/codex.sock`): a
 * reattach point whose socket has another name was not written by Deputy.
 *
 * @since 0.2.0
 * @category restart
 */
export const durableSocketName: string = Durable.socketName

/**
 * Why a durable Codex cannot be reattached (`Options.attach`), or none: its process is gone, or its socket
 * is not a socket of ours in a private directory of ours (a symbolic link, another owner, missing).
 *
 * @since 0.2.0
 * @category durable
 */
export const checkReattach = (point: ReattachPoint): Option.Option<string> => {
  if (!Durable.isRunning(point.pid)) return Option.some(`its codex app-server (pid ${point.pid}) is gone`)
  return Either.match(Durable.checkSocket(point.socketPath), {
    onLeft: (reason) => Option.some(`its socket cannot be trusted: ${reason}`),
    onRight: () => Option.none()
  })
}

type Json = Record<string, unknown>

const record = (value: unknown): Json =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? value as Json : {}

const string = (value: unknown): string | undefined => typeof value === "string" ? value : undefined

/** A `UserInput` item in the app-server's spelling. */
const toAppServerInput = (item: UserInput.UserInput): unknown => {
  switch (item.type) {
    case "text":
      return { type: "text", text: item.text, text_elements: item.text_elements ?? [] }
    case "image":
      return { type: "image", url: item.image_url }
    case "local_image":
      return { type: "localImage", path: item.path }
    default:
      return item
  }
}

/** The request that opens the thread, from the initial history. */
const threadRequest = (
  history: InitialHistory.InitialHistory | undefined,
  settings: Json
): Either.Either<{ readonly method: string; readonly params: Json }, string> => {
  if (history === undefined || typeof history === "string") {
    return Either.right({ method: "thread/start", params: settings })
  }
  if ("Resumed" in history) {
    const resumed = history.Resumed
    return Either.right({
      method: "thread/resume",
      params: {
        ...settings,
        threadId: resumed.conversation_id,
        ...(typeof resumed.rollout_path === "string" ? { path: resumed.rollout_path } : {})
      }
    })
  }
  const meta = history.Forked.find((item) => item.type === "session_meta")
  const source = string(record(meta?.payload).id)
  return source === undefined
    ? Either.left("a forked history must start with the source thread's `session_meta` (its id is what Codex forks)")
    : Either.right({ method: "thread/fork", params: { ...settings, threadId: source } })
}

/**
 * The stderr lines that say why Codex could not start (`Error: CODEX_HOME points to …`), else its last
 * lines that are not backtrace frames.
 */
const explainStartFailure = (tail: string | undefined): Array<string> => {
  const messages = ChildProcess.explainStderr(tail, 5)
  if (messages.length > 0) return messages
  const lines = (tail ?? "").trimEnd().split("\n").filter((line) => line.trim() !== "")
  return lines.filter((line) => !/^\s*(\d+: |at )/.test(line)).slice(-5)
}

/**
 * The `-c` override that makes Codex export its spans to an OTLP/HTTP endpoint as JSON (the key and shape
 * are Codex's `[otel] trace_exporter = { otlp-http = { endpoint, protocol } }`, in 0.169 and 0.171).
 *
 * @since 0.2.0
 * @category utils
 */
export const traceExporterArgs = (endpoint: string | undefined): ReadonlyArray<string> =>
  endpoint === undefined
    ? []
    : ["-c", `otel.trace_exporter={otlp-http={endpoint=${JSON.stringify(endpoint)},protocol="json"}}`]

/**
 * Why Codex cannot reach its model (`account/read` says it needs an OpenAI login and has none, and no
 * API key is in the child's environment), or none.
 */
export const missingCredentials = (
  accountRead: unknown,
  env: Readonly<Record<string, string | undefined>>
): Option.Option<string> => {
  const result = record(accountRead)
  if (result.requiresOpenaiAuth !== true || (result.account !== null && result.account !== undefined)) {
    return Option.none()
  }
  if ((env.OPENAI_API_KEY ?? "") !== "" || (env.CODEX_API_KEY ?? "") !== "") return Option.none()
  return Option.some(
    "Codex has no credentials for its model provider: run `codex login` (or set OPENAI_API_KEY) and try again"
  )
}

/** A `thread/start` refused for its approval policy, said as such. */
const policyRefused = (error: Session.RequestFailed, policy: unknown): Session.RequestFailed =>
  typeof policy === "string" && (error.message.includes(policy) || /approval/i.test(error.message))
    ? new Session.RequestFailed({
      method: error.method,
      code: error.code,
      message: `this Codex refuses the approval policy "${policy}" (${error.message}); ` +
        "Deputy does not run it with a looser one unasked: pick a policy it accepts (approvalPolicy)"
    })
    : error

/** A thread Codex opened with another approval policy than the one asked for (it would ask less), or none. */
const policyDowngraded = (requested: unknown, granted: unknown): string | undefined =>
  typeof requested !== "string" || granted === undefined || granted === null || granted === requested
    ? undefined
    : `Codex opened the thread with approval policy ${JSON.stringify(granted)} instead of "${requested}": ` +
      "it would not ask the parent for everything the requested policy asks for, so Deputy refuses to run it"

/**
 * Stops a turn that makes no progress for `timeout` while it waits on the model (a stalled stream, a
 * network that is down: Codex's own retries do not count as progress): `turn/interrupt`, and the turn ends
 * with an error saying so (ended by Deputy if Codex does not end it within `grace`).
 */
const watchdog = (
  session: Session.Session,
  threadId: string,
  timeout: Duration.Duration,
  grace: Duration.Duration
): Effect.Effect<never> => {
  const { translator } = session
  const limit = Duration.toMillis(timeout)
  const tick = Duration.millis(Math.max(10, Math.min(1000, Math.floor(limit / 4))))
  const check = Effect.suspend(() => {
    const active = translator.activeTurn
    if (active === undefined || translator.isTimedOut(active.turnId)) return Effect.void
    if (translator.busy) {
      translator.touch()
      return Effect.void
    }
    if (Date.now() - translator.lastProgress < limit) return Effect.void
    const retries = translator.retries
    translator.timeOut(
      active.turnId,
      `Codex made no progress for ${Duration.format(timeout)}: the model stream stalled or the network is down` +
        `${retries > 0 ? ` (Codex retried ${retries} time${retries === 1 ? "" : "s"})` : ""}; the turn was stopped. ` +
        "Check the network and the model provider, or allow more time (turnTimeout, `--turn-timeout`)"
    )
    return session.request("turn/interrupt", { threadId, turnId: active.turnId }).pipe(
      Effect.timeoutOption(grace),
      Effect.ignore,
      Effect.zipRight(idle(session, grace)),
      Effect.zipRight(Effect.suspend(() => {
        translator.forceEnd(active.turnId)
        return session.flush
      }))
    )
  })
  return Effect.forever(Effect.zipRight(Effect.sleep(tick), check))
}

/** Waits until no turn is in progress, at most `limit`. */
const idle = (session: Session.Session, limit: Duration.Duration): Effect.Effect<void> =>
  Effect.async<void>((resume) => session.translator.whenIdle(() => resume(Effect.void))).pipe(
    Effect.timeoutOption(limit),
    Effect.asVoid
  )

/** Processes submissions in order, one at a time (a turn start waits for its answer, so ids pair up). */
const processOps = (
  session: Session.Session,
  ops: Mailbox.ReadonlyMailbox<Submission.Submission>,
  threadId: string,
  settings: { readonly turnEndWait: Duration.Duration; readonly onTurn: (turnId: string) => void }
): Effect.Effect<void> => {
  const { translator } = session
  const diagnostic = (message: string) =>
    Effect.suspend(() => {
      translator.emit("", { type: "deputy_diagnostic", kind: "protocol", message } as EventMsg.EventMsg)
      return session.flush
    })
  const interrupt = (trace: W3cTraceContext.W3cTraceContext | undefined) =>
    Effect.suspend(() => {
      const active = translator.activeTurn
      if (active === undefined) return Effect.void
      return session.request("turn/interrupt", { threadId, turnId: active.turnId }, trace).pipe(
        Effect.catchAll((error) => diagnostic(`turn/interrupt of turn ${active.turnId} failed: ${error.message}`)),
        Effect.asVoid
      )
    })
  const handle = (submission: Submission.Submission): Effect.Effect<void> => {
    const op = submission.op
    const trace = submission.trace ?? undefined
    if (Op.isOp(op, "user_input")) {
      const schema = op.final_output_json_schema
      translator.turnStartSent(submission.id)
      return session.request(
        "turn/start",
        { threadId, input: op.items.map(toAppServerInput), ...(schema === undefined ? {} : { outputSchema: schema }) },
        trace
      ).pipe(
        Effect.matchEffect({
          onSuccess: (result) =>
            Effect.sync(() => {
              const turnId = string(record(record(result).turn).id)
              translator.turnStartAnswered(submission.id, turnId)
              if (turnId !== undefined) settings.onTurn(turnId)
            }),
          onFailure: (error) =>
            Effect.suspend(() => {
              translator.turnStartFailed(submission.id)
              translator.emit(submission.id, {
                type: "error",
                message: `codex app-server refused the turn: ${error.message}`
              })
              return session.flush
            })
        })
      )
    }
    if (Op.isOp(op, "interrupt")) return interrupt(trace)
    if (Op.isOp(op, "shutdown")) {
      return Effect.gen(function*() {
        if (translator.activeTurn !== undefined) {
          yield* interrupt(trace)
          yield* idle(session, settings.turnEndWait)
        }
        yield* session.shutdown(submission.id)
        yield* session.stop
      })
    }
    if (isAnswer(op)) {
      return Effect.suspend(() => {
        translator.answer(op)
        return session.flush
      })
    }
    return diagnostic(`the op \`${op.type}\` is not supported by the Codex app-server agent; it was ignored`)
  }
  return Effect.gen(function*() {
    while (true) {
      const [batch, done] = yield* ops.takeAll
      for (const submission of batch) yield* handle(submission)
      if (done) return
    }
  })
}

/**
 * Starts `codex app-server` as an agent living in the current scope. `spawnOptions.cwd` is Codex's working
 * directory (and the thread's), `spawnOptions.initialHistory` picks `thread/start` (new, cleared),
 * `thread/resume` (resumed: the thread Codex stored under `conversation_id`, or at `rollout_path`) or
 * `thread/fork` (forked: the source thread named by the history's `session_meta`), `spawnOptions.config`
 * may override some options (`SpawnConfig`). Interrupting the spawn or failing it stops the process.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { CodexAgent } from "@deputy/codex"
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect, Stream } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const agent = yield* CodexAgent.spawn({ approvalPolicy: "untrusted" }, { source: "review", cwd: "/tmp/work" })
 *   yield* agent.submit({ type: "user_input", items: [{ type: "text", text: "Run the tests", text_elements: [] }] })
 *   yield* agent.events.pipe(Stream.takeUntil((event) => event.msg.type === "task_complete"), Stream.runDrain)
 * }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
 * ```
 */
export const spawn = (
  options: Options,
  spawnOptions: AgentSpawner.SpawnOptions
): Effect.Effect<CodexAgent, Errors.SpawnError, CommandExecutor.CommandExecutor | Scope.Scope> =>
  Effect.gen(function*() {
    const config = decodeConfig(spawnOptions.config ?? {})
    if (Either.isLeft(config)) {
      return yield* new Errors.SpawnError({
        agent: "codex",
        reason: `invalid config: ${ParseResult.TreeFormatter.formatErrorSync(config.left)}`
      })
    }
    const settings = { ...options, ...config.right }
    const cwd = spawnOptions.cwd ?? process.cwd()
    const threadSettings: Json = {
      cwd,
      approvalPolicy: settings.approvalPolicy ?? defaults.approvalPolicy,
      sandbox: settings.sandbox ?? defaults.sandbox,
      ...(settings.model === undefined ? {} : { model: settings.model })
    }
    const attach = options.attach
    const thread = attach !== undefined
      ? Either.right({ method: "thread/resume", params: { threadId: attach.threadId } as Json })
      : threadRequest(spawnOptions.initialHistory, {
        ...threadSettings,
        ...(spawnOptions.initialHistory === undefined || typeof spawnOptions.initialHistory === "string"
          ? { ephemeral: settings.ephemeral ?? false }
          : {})
      })
    if (Either.isLeft(thread)) return yield* new Errors.SpawnError({ agent: "codex", reason: thread.left })
    const binary = yield* CodexBinary.resolve(settings.binary)
    const trace = Option.getOrUndefined(yield* TraceContext.current)
    const explicitEnv = [
      settings.codexHome === undefined ? undefined : { CODEX_HOME: settings.codexHome },
      options.env,
      config.right.env
    ]
    // Codex needs the parent's OPENAI_* / CODEX_* (its model key); the commands it runs do not get them.
    const codexEnv = ChildProcess.environment({
      parent: process.env,
      inherit: options.inheritEnv ?? false,
      allow: codexEnvAllowList,
      trace: trace === undefined ? {} : TraceContext.toEnv(trace),
      extra: explicitEnv
    })
    const commandPolicy = CommandEnv.commandEnvPolicy({
      env: codexEnv,
      prefixes: codexEnvAllowList.prefixes,
      explicit: new Set(explicitEnv.flatMap((extra) => extra === undefined ? [] : Object.keys(extra))),
      configFile: CommandEnv.configFileOf(codexEnv)
    })
    const env = commandPolicy.env
    const startupTimeout = Duration.decode(settings.startupTimeout ?? defaults.startupTimeout)
    const sessionSettings: Session.SessionSettings = {
      maxLineLength: settings.maxLineLength ?? defaults.maxLineLength,
      maxBufferedBytes: settings.maxBufferedBytes ?? defaults.maxBufferedBytes,
      exitGrace: Duration.decode(settings.exitGracePeriod ?? defaults.exitGracePeriod),
      killGrace: Duration.decode(settings.killGracePeriod ?? defaults.killGracePeriod)
    }

    // The process lives in a child of the caller's scope, closed at once if the spawn fails or is interrupted.
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const started = Effect.gen(function*() {
      // Codex's writes to `config.toml` (trust entries) go to a scratch copy, removed after the process.
      const overlay = settings.writeCodexConfig === true || attach !== undefined
        ? HomeOverlay.none
        : yield* HomeOverlay.make(env, settings.ephemeral !== true).pipe(
          Effect.mapError((reason) => new Errors.SpawnError({ agent: "codex", reason }))
        )
      const childEnv = { ...env, ...overlay.env }
      const args = [
        "app-server",
        ...traceExporterArgs(settings.otlpTracesEndpoint),
        ...commandPolicy.args,
        ...(settings.args ?? [])
      ]
      const durableSettings: Durable.Settings = {
        maxMessageBytes: sessionSettings.maxLineLength,
        timeout: startupTimeout,
        graceMs: Duration.toMillis(sessionSettings.exitGrace) + Duration.toMillis(sessionSettings.killGrace)
      }
      const supervised: ChildProcess.StartOptions = {
        command: binary.path,
        args,
        env: childEnv,
        cwd,
        stderrTailBytes: settings.stderrTailBytes ?? defaults.stderrTailBytes,
        exitGracePeriod: sessionSettings.exitGrace,
        killGracePeriod: sessionSettings.killGrace
      }
      const durableFailed = (what: string) => (reason: string) =>
        new Errors.SpawnError({ agent: "codex", reason: `${what}: ${reason}` })
      const started: Effect.Effect<
        { readonly child: ChildProcess.Child; readonly location?: Durable.Location | undefined },
        Errors.SpawnError,
        CommandExecutor.CommandExecutor | Scope.Scope
      > = attach !== undefined
        ? Durable.attach(attach, durableSettings).pipe(
          Effect.map((child) => ({ child, location: attach })),
          Effect.mapError((error) => {
            const what = `could not reattach to the Codex at ${attach.socketPath}`
            return typeof error === "string"
              ? durableFailed(what)(error)
              : new Errors.SpawnError({ agent: "codex", reason: `${what}: ${error.reason}`, cause: error })
          })
        )
        : options.durable !== undefined
        ? Durable.launch({
          root: options.durable.socketDir,
          idleMs: Duration.toMillis(Duration.decode(options.durable.idleTimeout ?? defaults.durableIdleTimeout)),
          alsoRemove: overlay.env.CODEX_HOME,
          ...supervised
        }, durableSettings).pipe(Effect.mapError(durableFailed(`could not start a durable ${binary.path} in ${cwd}`)))
        : ChildProcess.start(supervised).pipe(
          Effect.map((child) => ({ child })),
          Effect.mapError((error) =>
            new Errors.SpawnError({
              agent: "codex",
              reason:
                `could not start ${binary.path} (found ${binary.source === "path" ? "on PATH" : binary.source}) ` +
                `in ${cwd}: ${error.message}`,
              cause: error
            })
          )
        )
      // Uninterruptible from the start of the process until its stopping finalizer is in the scope.
      const { location, session } = yield* started.pipe(
        Effect.flatMap(({ child, location }) =>
          Effect.map(Session.start(child, sessionSettings), (session) => ({ location, session }))
        ),
        Effect.uninterruptible
      )
      const startFailed = (step: string) => (error: Session.RequestFailed | { readonly message: string }) =>
        Effect.flatMap(
          session.exit.pipe(Effect.timeoutOption(Duration.millis(200))),
          (status) => {
            const explained = explainStartFailure(session.stderrTail())
            const exit = Option.match(status, {
              onNone: () => "",
              onSome: (status) =>
                status.signal !== null ? ` (killed by ${status.signal})` : ` (exit code ${status.code})`
            })
            return Effect.fail(
              new Errors.SpawnError({
                agent: "codex",
                reason: `${step} failed${exit}: ${error.message}${
                  explained.length === 0 ? "" : `\n  stderr: ${explained.join("\n          ")}`
                }`
              })
            )
          }
        )
      const timed = <A>(step: string, effect: Effect.Effect<A, Session.RequestFailed>) =>
        effect.pipe(
          Effect.timeoutFail({
            duration: startupTimeout,
            onTimeout: () => ({ message: `no answer within ${Duration.format(startupTimeout)}` })
          }),
          Effect.catchAll(startFailed(step))
        )

      yield* timed(
        "initialize",
        session.request("initialize", {
          clientInfo: { name: "deputy", title: "Deputy", version: "0.1.0" },
          capabilities: { experimentalApi: false }
        }, trace)
      )
      session.send(JsonRpc.notification("initialized"))
      // Without credentials Codex would retry the model for minutes: fail now, saying what to do.
      const account = yield* session.request("account/read", { refreshToken: false }).pipe(
        Effect.timeoutOption(startupTimeout),
        Effect.option
      )
      const missing = Option.flatten(account).pipe(Option.flatMap((result) => missingCredentials(result, childEnv)))
      if (Option.isSome(missing)) {
        return yield* new Errors.SpawnError({
          agent: "codex",
          reason: `${missing.value} (CODEX_HOME ${overlay.toReal(childEnv.CODEX_HOME ?? "~/.codex")})`
        })
      }
      yield* Effect.try({
        try: overlay.ensureSessions,
        catch: (error) =>
          new Errors.SpawnError({ agent: "codex", reason: `could not link Codex's sessions: ${String(error)}` })
      })
      const opened = record(
        yield* timed(
          thread.right.method,
          session.request(thread.right.method, thread.right.params, trace).pipe(
            Effect.mapError((error) => policyRefused(error, threadSettings.approvalPolicy))
          )
        )
      )
      const threadInfo = record(opened.thread)
      const threadId = string(threadInfo.id)
      if (threadId === undefined) {
        return yield* startFailed(thread.right.method)({ message: "the answer has no thread id" })
      }
      session.translator.mainThread = threadId
      // A reattached thread keeps the policy it was started with (and checked for) by its first parent.
      const downgraded = attach !== undefined
        ? undefined
        : policyDowngraded(threadSettings.approvalPolicy, opened.approvalPolicy)
      if (downgraded !== undefined) return yield* new Errors.SpawnError({ agent: "codex", reason: downgraded })
      const rolloutPath = typeof threadInfo.path === "string" ? overlay.toReal(threadInfo.path) : undefined
      session.translator.emit("", {
        type: "session_configured",
        session_id: threadId,
        model: string(opened.model) ?? "",
        model_provider_id: opened.modelProvider,
        approval_policy: opened.approvalPolicy,
        sandbox_policy: opened.sandbox,
        cwd: opened.cwd,
        reasoning_effort: opened.reasoningEffort,
        rollout_path: rolloutPath ?? null,
        forked_from_id: threadInfo.forkedFromId ?? null
      } as EventMsg.EventMsg)
      yield* session.flush

      const durable: ReattachPoint | undefined = location === undefined ? undefined : { ...location, threadId }
      const turns: Array<string> = []
      const onTurn = (turnId: string) => {
        if (durable === undefined) return
        turns.push(turnId)
        durableTurns.set(turnId, durable)
      }
      yield* Effect.addFinalizer(() => Effect.sync(() => turns.forEach((turnId) => durableTurns.delete(turnId))))
      if (attach !== undefined) {
        // The turn the dead parent left in progress (its pending requests are replayed) is this agent's now.
        const turnList: Array<unknown> = Array.isArray(threadInfo.turns) ? threadInfo.turns : []
        const inProgress = string(turnList.map(record).find((turn) => turn.status === "inProgress")?.id)
        if (inProgress !== undefined) {
          session.translator.turnStartSent("")
          session.translator.turnStartAnswered("", inProgress)
          onTurn(inProgress)
        }
      }

      const ops = yield* Mailbox.make<Submission.Submission>()
      yield* processOps(session, ops, threadId, { turnEndWait: sessionSettings.exitGrace, onTurn }).pipe(
        Effect.interruptible,
        Effect.forkScoped
      )
      yield* watchdog(
        session,
        threadId,
        Duration.decode(settings.turnTimeout ?? defaults.turnTimeout),
        sessionSettings.exitGrace
      ).pipe(Effect.interruptible, Effect.forkScoped)
      const submitWithId = (submission: Submission.Submission): Effect.Effect<void, Errors.AgentClosed> =>
        Effect.suspend(() => {
          const closed = session.closedReason()
          if (closed !== undefined) return Effect.fail(new Errors.AgentClosed({ reason: closed }))
          if (submission.op.type === "shutdown") session.close("the agent was shut down")
          const enqueue = (entry: Submission.Submission) =>
            ops.unsafeOffer(entry)
              ? Effect.void
              : Effect.fail(new Errors.AgentClosed({ reason: "the agent was shut down" }))
          if (submission.trace) return enqueue(submission)
          return Effect.flatMap(
            TraceContext.current,
            (current) => enqueue(Option.isSome(current) ? { ...submission, trace: current.value } : submission)
          )
        })
      const agent = yield* Agent.make({ name: "codex", submitWithId, events: session.events })
      // A thread Codex spawned itself: `turn/interrupt` of its turn in progress (an idle thread has none).
      const interruptThread = (nested: string): Effect.Effect<boolean> =>
        Effect.suspend(() => {
          const turnId = session.translator.nestedTurn(nested)
          if (turnId === undefined) return Effect.succeed(session.translator.knowsThread(nested))
          return session.request("turn/interrupt", { threadId: nested, turnId }).pipe(
            Effect.as(true),
            Effect.catchAll(() => Effect.succeed(false))
          )
        })
      return {
        ...agent,
        interruptThread,
        pid: session.pid,
        threadId,
        rolloutPath,
        durable
      } satisfies CodexAgent
    })
    return yield* started.pipe(
      Scope.extend(scope),
      Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit))
    )
  }).pipe(Effect.withSpan("CodexAgent.spawn"))

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
 * An `AgentSpawner` that runs Codex; needs a `CommandExecutor` (e.g. `NodeContext.layer`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<AgentSpawner.AgentSpawner, never, CommandExecutor.CommandExecutor> =>
  Layer.effect(AgentSpawner.AgentSpawner, make(options))

/**
 * `layer` with Node's command executor provided.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNode = (options: Options = {}): Layer.Layer<AgentSpawner.AgentSpawner> =>
  layer(options).pipe(Layer.provide(NodeContext.layer))

/**
 * An `AgentSpawner` running Codex against the `ScriptedModel` in context, offline: a temporary `CODEX_HOME`
 * (`CodexHome.scripted`) lives as long as the layer.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * ```ts
 * import { CodexAgent, ScriptedModel } from "@deputy/codex"
 * import { NodeContext } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * const DemoSpawner = CodexAgent.layerScripted().pipe(
 *   Layer.provideMerge(ScriptedModel.layer(ScriptedModel.demoScenario)),
 *   Layer.provide(NodeContext.layer)
 * )
 * ```
 */
export const layerScripted = (
  options: Omit<Options, "codexHome"> = {}
): Layer.Layer<
  AgentSpawner.AgentSpawner,
  PlatformError,
  ScriptedModel | CommandExecutor.CommandExecutor | FileSystem.FileSystem
> =>
  Layer.scoped(
    AgentSpawner.AgentSpawner,
    Effect.flatMap(CodexHome.scripted(), (home) =>
      make({ ...options, codexHome: home.path, env: { ...home.env, ...options.env } }))
  )
