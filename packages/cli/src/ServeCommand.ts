/**
 * `deputy serve [--task PROMPT]... [--port N]`: the approval inbox in a browser. Starts a web server on
 * 127.0.0.1 (a free port unless `--port`), prints one URL with a fresh random token, runs each `--task`
 * as a one-shot sub-agent (the agent flags are `deputy run`'s) and sends every request to the page,
 * until Ctrl-C.
 *
 * @since 0.2.0
 */
import { ApprovalInbox, Delegate } from "@deputy/core"
import { WebServer } from "@deputy/web"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Agents from "./Agents.js"
import { UsageError } from "./Errors.js"
import * as RunCommand from "./RunCommand.js"

/**
 * A checked `deputy serve`: the agent, its working directory, the tasks and the port (0: a free one).
 *
 * @since 0.2.0
 * @category models
 */
export interface ServeSettings {
  readonly agent: Agents.AgentChoice
  readonly cwd: string
  readonly tasks: ReadonlyArray<string>
  readonly port: number
}

const options = {
  task: Options.text("task").pipe(
    Options.withPseudoName("PROMPT"),
    Options.withDescription("Run a sub-agent on PROMPT (repeatable; each one is a node on the page)."),
    Options.repeated
  ),
  port: Options.integer("port").pipe(
    Options.withPseudoName("N"),
    Options.withDescription("The port on 127.0.0.1. Default: a free one."),
    Options.optional
  ),
  agent: Options.choice("agent", ["codex", "process"]).pipe(Options.optional),
  agentCommand: Options.text("agent-command").pipe(Options.optional),
  codexHome: Options.text("codex-home").pipe(Options.optional),
  codexBin: Options.text("codex-bin").pipe(Options.optional),
  cwd: Options.text("cwd").pipe(Options.optional),
  env: Options.text("env").pipe(Options.repeated),
  inheritEnv: Options.boolean("inherit-env"),
  sandbox: Options.choice("sandbox", ["read-only", "workspace-write", "danger-full-access"]).pipe(Options.optional),
  model: Options.text("model").pipe(Options.optional)
}

type Parsed = Command.Command.ParseConfig<typeof options>

/**
 * Checks the options: the agent flags as `deputy run` checks them, a port in 0–65535.
 *
 * @since 0.2.0
 * @category parsing
 */
export const settings = (parsed: Parsed): Either.Either<ServeSettings, UsageError> => {
  const port = Option.getOrElse(parsed.port, () => 0)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return Either.left(new UsageError({ message: `--port: ${port} is not a port (1-65535)`, command: "serve" }))
  }
  const run = RunCommand.settings({
    ...parsed,
    // serve runs its tasks itself; RunCommand checks only the agent flags here
    task: [],
    tasks: Option.none(),
    interactive: true,
    approval: Option.none(),
    policy: Option.none(),
    json: false,
    drainTimeout: Option.none(),
    approvalTimeout: Option.none(),
    prompt: []
  })
  return Either.map(
    Either.mapLeft(run, (error) => new UsageError({ message: error.message, command: "serve" })),
    (run) => ({ agent: run.agent, cwd: run.cwd, tasks: parsed.task.map((task) => task.trim()).filter(Boolean), port })
  )
}

/**
 * Serves: the URL on stdout, the tasks as nodes `serve/task-N`, until interrupted.
 *
 * @since 0.2.0
 * @category running
 */
export const execute = (serve: ServeSettings) =>
  Effect.gen(function*() {
    // A port that is taken is the caller's to change: a usage error (exit 2) naming --port.
    const server = yield* WebServer.make({ port: serve.port, workspace: serve.cwd }).pipe(
      Effect.mapError((error) => new UsageError({ message: error.message, command: "serve" }))
    )
    yield* Console.log(server.url)
    yield* Effect.forEach(serve.tasks, (input, index) =>
      Effect.gen(function*() {
        const id = `task-${index + 1}`
        const handle = yield* Delegate.oneShot({ id, input, cwd: serve.cwd, source: { other: "deputy serve" } })
        yield* server.attach(handle, { path: `serve/${id}` })
      }).pipe(
        Effect.catchAll((error) =>
          server.report({ id: `task-${index + 1}`, path: `serve/task-${index + 1}`, ended: error.message })
        )
      ), { discard: true })
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(Layer.merge(ApprovalInbox.layer, Agents.layer(serve.agent))))

/**
 * The command with a handler for its checked settings (tests give one that records them).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = <E, R>(handler: (settings: ServeSettings) => Effect.Effect<void, E, R>) =>
  Command.make("serve", options, (parsed) => Effect.flatMap(settings(parsed), handler)).pipe(
    Command.withDescription("The approval inbox in a browser: serve the requests of sub-agents on 127.0.0.1.")
  )

/**
 * `deputy serve`.
 *
 * @since 0.2.0
 * @category commands
 */
export const command = make(execute)
