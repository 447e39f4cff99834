/**
 * `deputy serve [--task PROMPT]... [--port N]`: the approval inbox in a browser. Starts a web server on
 * 127.0.0.1 (a free port unless `--port`), prints one URL with a fresh random token, runs each `--task`
 * as a one-shot sub-agent (the agent flags are `deputy run`'s) and sends every request to the page,
 * until Ctrl-C. Without a task it attaches to the approval ledger (`--ledger`, default the default
 * ledger) and serves the pending requests of every Deputy process sharing it.
 *
 * @since 0.2.0
 */
import { ApprovalInbox, Supervisor } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import type { WebServer } from "@deputy/web"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as Agents from "../Agents.js"
import { UsageError } from "../Errors.js"
import * as LedgerSetup from "../LedgerSetup.js"
import * as Flags from "./Flags.js"
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
  /** How many tasks run at once (`--max-concurrent`, default 4); the others wait in the tree's queue. */
  readonly maxConcurrent: number
  /** Attach mode (no task): the ledger whose pending requests are served. */
  readonly ledger?: Exclude<LedgerSetup.LedgerChoice, { readonly _tag: "Off" }> | undefined
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
  maxConcurrent: Flags.maxConcurrent,
  ledger: LedgerSetup.option.pipe(
    Options.withDescription(
      "Without --task: serve the pending requests of every Deputy process sharing this ledger (sqlite:PATH or " +
        "postgres:URL). Default: $DEPUTY_HOME/ledger.db, else ~/.deputy/ledger.db."
    )
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
  const maxConcurrent = Option.getOrElse(parsed.maxConcurrent, () => 4)
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
    return Either.left(
      new UsageError({
        message: `--max-concurrent: ${maxConcurrent} is not a whole number of at least 1`,
        command: "serve"
      })
    )
  }
  const tasks = parsed.task.map((task) => task.trim()).filter(Boolean)
  let ledger: ServeSettings["ledger"]
  if (tasks.length === 0) {
    const choice = LedgerSetup.parse(parsed.ledger, "serve")
    if (Either.isLeft(choice)) return Either.left(choice.left)
    if (choice.right._tag === "Off") {
      return Either.left(
        new UsageError({ message: "--ledger off: without --task, deputy serve serves a ledger", command: "serve" })
      )
    }
    ledger = choice.right
  } else if (Option.isSome(parsed.ledger)) {
    return Either.left(
      new UsageError({
        message: "--ledger is for serving a ledger (no --task); leave it out with --task",
        command: "serve"
      })
    )
  }
  const run = RunCommand.settings({
    ...parsed,
    // serve runs its tasks itself; RunCommand checks only the agent flags here
    task: [],
    maxConcurrent: Option.none(),
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
    (run) => ({
      agent: run.agent,
      cwd: run.cwd,
      tasks,
      port,
      maxConcurrent,
      ...(ledger === undefined ? {} : { ledger })
    })
  )
}

const budgetLeft = (node: Supervisor.NodeInfo): string | undefined => {
  const parts: Array<string> = []
  if (node.budget.tokens !== undefined) {
    parts.push(`${Math.max(0, node.budget.tokens - node.subtreeUsage.tokens)} tokens`)
  }
  if (node.budget.turns !== undefined) parts.push(`${Math.max(0, node.budget.turns - node.subtreeUsage.turns)} turns`)
  if (node.budget.approvals !== undefined) {
    parts.push(`${Math.max(0, node.budget.approvals - node.subtreeUsage.approvals)} approvals`)
  }
  if (node.budget.wallTimeMs !== undefined) {
    parts.push(`${Math.max(0, Math.round((node.budget.wallTimeMs - node.subtreeUsage.wallTimeMs) / 1000))} s`)
  }
  return parts.length === 0 ? undefined : parts.join(", ")
}

/**
 * A supervisor node's state as the page shows it: `queued: #1`, `starting`, `running`, `stopping`,
 * `ended`.
 *
 * @since 0.2.0
 * @category formatting
 */
export const stateText = (state: Supervisor.NodeState): string => {
  switch (state._tag) {
    case "Queued":
      return `queued: #${state.position + 1}`
    case "Starting":
      return "starting"
    case "Running":
      return "running"
    case "Stopping":
      return "stopping"
    case "Ended":
      return "ended"
  }
}

/**
 * The tree's nodes as the page's nodes: a node's id is its delegate's (so its events and current turn,
 * from `attach`, land on it), its parent the parent's; the supervisor's root (no delegate) is left out.
 *
 * @since 0.2.0
 * @category formatting
 */
export const treeNodes = (nodes: ReadonlyArray<Supervisor.NodeInfo>): ReadonlyArray<WebServer.TreeNode> => {
  const ids = new Map(nodes.map((node) => [node.path, node.delegateId]))
  return nodes.filter((node) => node.depth > 0).map((node) => treeNode(node, ids))
}

const treeNode = (node: Supervisor.NodeInfo, ids: ReadonlyMap<string, string>): WebServer.TreeNode => ({
  id: node.delegateId,
  path: node.path,
  parent: node.parent === undefined ? undefined : ids.get(node.parent) || undefined,
  status: stateText(node.state),
  usage: { tokens: node.subtreeUsage.tokens, turns: node.subtreeUsage.turns },
  budgetLeft: budgetLeft(node),
  ...(node.state._tag === "Ended" ? { ended: node.state.reason } : {})
})

/**
 * The live tree from `Supervisor.changes`: every node and every state change as it happens, in order
 * (nested nodes too); usage and budget left, which are not streamed, are read every 500 ms and sent
 * when they changed.
 *
 * @since 0.2.0
 * @category running
 */
export const treeChanges = (
  supervisor: Supervisor.SupervisorService
): Stream.Stream<ReadonlyArray<WebServer.TreeNode>> => {
  const ids = new Map<string, string>()
  const structure = Stream.map(supervisor.changes, (change): ReadonlyArray<WebServer.TreeNode> => {
    switch (change._tag) {
      case "Snapshot":
        for (const node of change.nodes) ids.set(node.path, node.delegateId)
        return treeNodes(change.nodes)
      case "Added":
        ids.set(change.node.path, change.node.delegateId)
        return [treeNode(change.node, ids)]
      case "StateChanged": {
        const id = ids.get(change.path)
        if (id === undefined) return []
        const state = change.state
        return [{ id, status: stateText(state), ...(state._tag === "Ended" ? { ended: state.reason } : {}) }]
      }
    }
  })
  const sent = new Map<string, string>()
  const usage = Stream.fromSchedule(Schedule.spaced("500 millis")).pipe(
    Stream.mapEffect(() => supervisor.nodes),
    Stream.map((nodes) =>
      nodes.filter((node) => node.depth > 0).flatMap((node): ReadonlyArray<WebServer.TreeNode> => {
        const shown = { id: node.delegateId, usage: treeNode(node, ids).usage, budgetLeft: budgetLeft(node) }
        const text = JSON.stringify(shown)
        if (sent.get(node.delegateId) === text) return []
        sent.set(node.delegateId, text)
        return [shown]
      })
    ),
    Stream.filter((nodes) => nodes.length > 0)
  )
  return Stream.merge(Stream.filter(structure, (nodes) => nodes.length > 0), usage)
}

/** The web package, loaded on first use (the other commands do not pay for the HTTP server). */
const loadWeb = Effect.promise(() => import("@deputy/web"))

/**
 * Attach mode: the URL on stdout, then the pending requests of every process sharing the ledger, live,
 * answered through it (`DecidedBy.InboxClient` `web:<tab>`), until interrupted.
 *
 * @since 0.2.0
 * @category running
 */
export const attach = (
  serve: ServeSettings & { readonly ledger: NonNullable<ServeSettings["ledger"]> }
) =>
  Effect.gen(function*() {
    const ledger = yield* ApprovalLedger.ApprovalLedger
    const Web = yield* loadWeb
    const feed = yield* Web.LedgerFeed.inbox(ledger)
    const server = yield* Web.WebServer.makeWith(feed, {
      port: serve.port,
      workspace: serve.cwd,
      tree: feed.tree,
      history: feed.history,
      note: `Every Deputy process's pending requests in the ledger ${LedgerSetup.describe(serve.ledger)}, ` +
        "grouped by process and node path. The ledger has no live tree: states, usage and events show only " +
        "for tasks this server runs (deputy serve --task)."
    }).pipe(Effect.mapError((error) => new UsageError({ message: error.message, command: "serve" })))
    yield* Console.log(server.url)
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(LedgerSetup.layer(serve.ledger)))

/**
 * Serves: the URL on stdout, the tasks as root-level nodes `serve/task-N` of one supervised tree (at most
 * `maxConcurrent` at once), the live tree on the page, every request answered through the tree's inbox,
 * until interrupted (which stops the tree).
 *
 * @since 0.2.0
 * @category running
 */
export const execute = (serve: ServeSettings) =>
  Effect.gen(function*() {
    const supervisor = yield* Supervisor.make({ name: "serve", limits: { maxConcurrent: serve.maxConcurrent } })
    const spawned = yield* Effect.forEach(serve.tasks, (input, index) =>
      Effect.either(supervisor.spawn({
        name: `task-${index + 1}`,
        id: `task-${index + 1}`,
        input,
        cwd: serve.cwd,
        source: { other: "deputy serve" }
      })))
    // Loaded here, so that the other commands do not pay for the HTTP server (`deputy run` starts faster).
    const Web = yield* loadWeb
    // A port that is taken is the caller's to change: a usage error (exit 2) naming --port.
    const server = yield* Web.WebServer.make({
      port: serve.port,
      workspace: serve.cwd,
      tree: serve.tasks.length === 0 ? undefined : treeChanges(supervisor)
    }).pipe(
      Effect.provideService(ApprovalInbox.ApprovalInbox, supervisor.inbox),
      Effect.mapError((error) => new UsageError({ message: error.message, command: "serve" }))
    )
    yield* Console.log(server.url)
    yield* Effect.forEach(spawned, (either, index) =>
      Either.isLeft(either)
        ? server.report({ id: `task-${index + 1}`, path: `serve/task-${index + 1}`, ended: either.left.message })
        : either.right.delegate.pipe(
          Effect.flatMap((handle) => server.attach(handle, { path: either.right.path, supervised: true })),
          Effect.catchAll(() => Effect.void),
          Effect.forkScoped
        ), { discard: true })
    return yield* Effect.never
  }).pipe(Effect.scoped, Effect.provide(Agents.layer(serve.agent)))

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
export const command = make((serve) =>
  serve.ledger === undefined ? execute(serve) : attach({ ...serve, ledger: serve.ledger })
)
