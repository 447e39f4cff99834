/**
 * One run of a sub-agent from start to end, as the CLI shows it: a one-shot turn, or an interactive
 * session that reads further prompts until the end of input. Events, settled requests and the end go to
 * the `Reporter`. On interruption (Ctrl-C) the sub-agent is shut down and drained — what the drain brings
 * is still shown — and the end is reported before the program exits.
 *
 * @since 0.1.0
 */
import type { ApprovalRequest, SpawnError } from "@deputy/core"
import { AgentSpawner, Approvals, Delegate } from "@deputy/core"
import type { Event, SubAgentSource } from "@deputy/protocol"
import { textInput } from "@deputy/protocol"
import * as Terminal from "@effect/platform/Terminal"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as ApprovalSetup from "./ApprovalSetup.js"
import * as JsonOutput from "./JsonOutput.js"
import * as NodeLabel from "./NodeLabel.js"
import { Output } from "./Output.js"
import * as Receipt from "./Receipt.js"
import * as Render from "./Render.js"
import * as Reporter from "./Reporter.js"
import type * as Tasks from "./Tasks.js"
import * as Text from "./Text.js"

/**
 * What to run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The first prompt. Required for one-shot; interactive sessions read it from stdin when absent. */
  readonly input: string | undefined
  readonly interactive: boolean
  readonly cwd: string
  readonly source: SubAgentSource
  /** Spawner settings (`SpawnOptions.config`). */
  readonly config?: Readonly<Record<string, unknown>> | undefined
  readonly drainTimeout?: Duration.Duration | undefined
  readonly approvalTimeout?: Duration.Duration | undefined
  /** How requests are answered, to say who decided each. */
  readonly approvals: ApprovalSetup.ApprovalSetup
  /** Interactive: show a `›` prompt before reading a line (stdin is a terminal). */
  readonly showPrompt: boolean
}

/**
 * How the run ended and the exit code it calls for.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome {
  readonly summary: Render.Summary
  readonly exitCode: number
}

/**
 * The exit code of a run: 0 when it completed (or the person closed an interactive session), 130 when it
 * was interrupted, 1 when the sub-agent failed, aborted, exited or did not stop in time.
 *
 * @since 0.1.0
 * @category exit codes
 */
export const exitCode = (summary: Render.Summary): number => {
  const { reason } = summary.ended
  if (reason === "completed") return 0
  if (reason === "interrupted") return summary.closedByUser ? 0 : 130
  return 1
}

/**
 * Runs the sub-agent and reports everything; fails only when the sub-agent cannot be started (the caller
 * reports that).
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  options: Options
): Effect.Effect<Outcome, SpawnError, AgentSpawner | Approvals | Reporter.Reporter | Output | Terminal.Terminal> =>
  Effect.gen(function*() {
    const reporter = yield* Reporter.Reporter
    const output = yield* Output
    const terminal = yield* Terminal.Terminal
    const started = yield* Clock.currentTimeMillis
    const turns = Render.makeTurns()
    const outcome = yield* Deferred.make<Outcome>()
    let closedByUser = false

    const show = (event: Event) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        turns.observe(event, now)
        return reporter.event(event)
      })

    // Events are read by position and released only once shown: an interruption (Ctrl-C) between reading
    // and showing loses nothing, `finish` shows from the last position shown. Requests wait until the
    // display has shown the events before them (`request.sequence`), so a prompt keeps the child's order.
    const shown = yield* SubscriptionRef.make(0)
    /** Shows the events from the last position shown, one batch; false once the delegate has ended. */
    const showBatch = (
      handle: Delegate.DelegateHandle,
      until: (event: Event) => boolean = () => false
    ): Effect.Effect<"more" | "until" | "ended"> =>
      Effect.gen(function*() {
        const batch = yield* handle.read(yield* SubscriptionRef.get(shown))
        if (Option.isNone(batch)) return "ended"
        const { events, from } = batch.value
        for (let i = 0; i < events.length; i++) {
          yield* show(events[i]!)
          yield* SubscriptionRef.set(shown, from + i + 1)
          yield* handle.release(from + i + 1)
          if (until(events[i]!)) return "until"
        }
        return "more"
      })
    /** Shows every event until the delegate ends. */
    const showRest = (handle: Delegate.DelegateHandle) =>
      Effect.gen(function*() {
        while ((yield* showBatch(handle)) !== "ended") {
          // keep showing
        }
      })
    /** Waits until the events before a request were shown. */
    const awaitShown = (sequence: number | undefined) =>
      sequence === undefined ? Effect.void : shown.changes.pipe(
        Stream.takeUntil((position) => position >= sequence),
        Stream.runDrain
      )

    const delegateOptions: Delegate.DelegateOptions = {
      source: options.source,
      cwd: options.cwd,
      config: options.config,
      drainTimeout: options.drainTimeout,
      approvalTimeout: options.approvalTimeout,
      onSettled: (settlement) => reporter.settled(settlement)
    }

    /** Shuts the sub-agent down (if it still runs), shows what the drain brings, reports the end. */
    const finish = (handle: Delegate.DelegateHandle) =>
      Effect.gen(function*() {
        const [ended] = yield* Effect.all([handle.shutdown, showRest(handle)], { concurrency: 2 })
        const now = yield* Clock.currentTimeMillis
        const summary: Render.Summary = {
          ended,
          usage: yield* handle.usage,
          elapsedMs: now - started,
          turnMs: turns.lastMs(now),
          turns: turns.count(),
          interactive: options.interactive,
          closedByUser
        }
        yield* reporter.ended(summary)
        yield* Deferred.succeed(outcome, { summary, exitCode: exitCode(summary) })
      })

    const readLine = (onEnd: Effect.Effect<void>) =>
      terminal.readLine.pipe(
        Effect.asSome,
        Effect.catchTag("QuitException", () => Effect.as(onEnd, Option.none<string>()))
      )
    const readPrompt: Effect.Effect<Option.Option<string>> = options.showPrompt
      ? output.exclusive((write) => Effect.zipRight(write(output.terminalStyle.cyan("› ")), readLine(write("\n"))))
      : readLine(Effect.void)

    /** Interactive: one turn per prompt until the end of input or the end of the sub-agent. */
    const converse = (handle: Delegate.DelegateHandle) =>
      Effect.gen(function*() {
        let next = options.input === undefined ? Option.none<string>() : Option.some(options.input)
        while (true) {
          if (Option.isNone(next)) next = yield* readPrompt
          if (Option.isNone(next)) {
            closedByUser = true
            return
          }
          const text = next.value.trim()
          next = Option.none()
          if (text === "") continue
          const submitted = yield* Effect.either(handle.submit({ type: "user_input", items: [textInput(text)] }))
          if (submitted._tag === "Left") return
          const turn = Delegate.turnEnd(submitted.right)
          while (true) {
            const step = yield* showBatch(handle, (event) => turn.observe(event) !== undefined)
            if (step === "ended") return
            if (step === "until") break
          }
        }
      })

    // A request is asked once the events before it were shown: a prompt or a decision never comes first.
    const approvals = yield* Approvals
    const inOrder =
      <A, R extends { readonly sequence?: number }>(ask: (request: R) => Effect.Effect<A>) => (request: R) =>
        Effect.zipRight(awaitShown(request.sequence), ask(request))
    const orderedApprovals = Approvals.of({
      command: inOrder(approvals.command),
      patch: inOrder(approvals.patch),
      permissions: inOrder(approvals.permissions),
      userInput: inOrder(approvals.userInput)
    })

    yield* Effect.gen(function*() {
      const handle = yield* (options.interactive
        ? Delegate.interactive(delegateOptions)
        : Delegate.oneShot({ ...delegateOptions, input: options.input ?? "" }))
      // Runs first when the scope closes, so also on Ctrl-C.
      yield* Effect.addFinalizer(() => finish(handle))
      if (options.interactive) yield* converse(handle)
      else yield* showRest(handle)
    }).pipe(
      Effect.scoped,
      Effect.provideService(Approvals, orderedApprovals),
      // Interrupted while the sub-agent was starting: there is no delegate to finish, but the end is reported.
      Effect.onInterrupt(() =>
        Effect.gen(function*() {
          if (yield* Deferred.isDone(outcome)) return
          const now = yield* Clock.currentTimeMillis
          yield* reporter.ended({
            ended: {
              reason: "interrupted",
              message: "interrupted while the sub-agent was starting",
              drainTimedOut: false
            },
            usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
            elapsedMs: now - started,
            turnMs: undefined,
            turns: 0,
            interactive: options.interactive,
            closedByUser: false
          })
        })
      )
    )
    return yield* Deferred.await(outcome)
  })

/**
 * A run of several tasks as siblings under one root (`deputy run --task ... --task ...`).
 *
 * @since 0.2.0
 * @category models
 */
export interface TreeOptions {
  readonly tasks: ReadonlyArray<Tasks.Task>
  readonly cwd: string
  readonly source: SubAgentSource
  readonly config?: Readonly<Record<string, unknown>> | undefined
  readonly drainTimeout?: Duration.Duration | undefined
  readonly approvalTimeout?: Duration.Duration | undefined
  readonly approvals: ApprovalSetup.ApprovalSetup
  /** How many tasks run at once; the others wait for a slot, in order (default 4). */
  readonly maxConcurrent?: number | undefined
  /** Stop the other tasks as soon as one does not complete (default: the others continue). */
  readonly failFast?: boolean | undefined
  /** JSON lines (`"node"` on every record, a `receipt` record last) rather than text. */
  readonly json: boolean
  /** The root's name (default `root`): node paths are `root/NAME`. */
  readonly rootName?: string | undefined
}

/**
 * How a tree of tasks ended: the receipt (every node, in the order given) and the exit code (0 when
 * every task completed, 1 otherwise; an interrupted tree does not return, the receipt is printed first).
 *
 * @since 0.2.0
 * @category models
 */
export interface TreeOutcome {
  readonly receipt: JsonOutput.ReceiptRecord
  readonly exitCode: number
}

/** Whether a process still runs (signal 0 checks without sending anything; EPERM: it runs as another user). */
const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const noUsage = { input_tokens: 0, output_tokens: 0, total_tokens: 0 }

/**
 * The exit code of a tree: 0 when every node completed, else 1.
 *
 * @since 0.2.0
 * @category exit codes
 */
export const treeExitCode = (receipt: JsonOutput.ReceiptRecord): number =>
  receipt.nodes.every((node) => node.reason === "completed") ? 0 : 1

/**
 * Runs every task as a sibling node under one root, at most `maxConcurrent` at once (the others wait in
 * order), each through `run` with its own reporter (lines prefixed with the node's label, or records
 * carrying its path) and the shared `Approvals` (one place answers every node; each request carries its
 * `path` and `chain`, so a prompt says who asks). When every node ended, when `failFast` stops the others,
 * or on interruption (Ctrl-C), the receipt is reported: every node's end reason, last agent message,
 * usage and turns.
 *
 * @since 0.2.0
 * @category running
 */
export const runTasks = (
  options: TreeOptions
): Effect.Effect<TreeOutcome, never, AgentSpawner | Approvals | Output | Terminal.Terminal> =>
  Effect.gen(function*() {
    const output = yield* Output
    const approvals = yield* Approvals
    const rootName = options.rootName ?? "root"
    const width = Math.max(...options.tasks.map((task) => task.name.length))
    const ended = new Map<string, JsonOutput.ReceiptNode>()
    const pidsOf = new Map<string, ReadonlySet<number>>()
    const nodes = options.tasks.map((task) => ({
      task,
      path: `${rootName}/${task.name}`,
      label: NodeLabel.make(output.style, task.name, width)
    }))

    // One status line for the tree: what each running node is doing.
    const statuses = new Map<string, string>()
    const showStatus = () => {
      if (statuses.size === 0) return output.status(undefined)
      const parts = [...statuses].map(([name, text]) => `${Text.visible(name)}: ${text}`)
      return output.status(parts.join(" · "))
    }
    const statusOf = (name: string) => (text: string | undefined) =>
      Effect.suspend(() => {
        if (text === undefined) statuses.delete(name)
        else statuses.set(name, text)
        return showStatus()
      })

    const receiptNode = (path: string, summary: Render.Summary): JsonOutput.ReceiptNode => ({
      node: path,
      reason: summary.ended.reason,
      ...(summary.ended.message === undefined ? {} : { message: summary.ended.message }),
      ...(summary.ended.lastAgentMessage === undefined ? {} : { last_agent_message: summary.ended.lastAgentMessage }),
      turns: summary.turns,
      elapsed_ms: Math.round(summary.elapsedMs),
      usage: summary.usage
    })

    const runNode = (node: typeof nodes[number]) =>
      Effect.gen(function*() {
        const base = options.json
          ? yield* Reporter.makeJson({ node: node.path })
          : yield* Reporter.makeHuman({
            cwd: options.cwd,
            interactive: false,
            node: { path: node.path, label: node.label, status: statusOf(node.task.name) }
          })
        const reporter = Reporter.Reporter.of({
          ...base,
          ended: (summary) =>
            Effect.zipRight(
              Effect.sync(() => ended.set(node.path, receiptNode(node.path, summary))),
              base.ended(summary)
            )
        })
        // The node's agent processes, as its spawner reports them (a `pid` on the agent, as Codex's has).
        const spawner = yield* AgentSpawner
        const pids = new Set<number>()
        const recording = AgentSpawner.of({
          spawn: (spawnOptions) =>
            Effect.tap(spawner.spawn(spawnOptions), (agent) =>
              Effect.sync(() => {
                const pid = (agent as { readonly pid?: unknown }).pid
                if (typeof pid === "number" && Number.isInteger(pid) && pid > 0) pids.add(pid)
              }))
        })
        pidsOf.set(node.path, pids)
        const started = yield* Clock.currentTimeMillis
        const result = yield* run({
          input: node.task.prompt,
          interactive: false,
          cwd: options.cwd,
          source: options.source,
          config: options.config,
          drainTimeout: options.drainTimeout,
          approvalTimeout: options.approvalTimeout,
          approvals: options.approvals,
          showPrompt: false
        }).pipe(
          Effect.provideService(Reporter.Reporter, reporter),
          Effect.provideService(AgentSpawner, recording),
          Effect.provideService(Approvals, withChain(approvals, rootName, node.path, node.task.name)),
          Effect.either
        )
        if (result._tag === "Left") {
          const now = yield* Clock.currentTimeMillis
          yield* reporter.startFailed(result.left.message, now - started)
          if (!options.json) {
            yield* output.print(
              node.label.lines(output.style.red(`✘ could not start: ${Text.visible(result.left.message)}`))
            )
          }
          ended.set(node.path, {
            node: node.path,
            reason: "spawn_failed",
            message: result.left.message,
            turns: 0,
            elapsed_ms: Math.round(now - started),
            usage: noUsage
          })
          return 1
        }
        return result.right.exitCode
      })

    const receipt = (stopped: JsonOutput.ReceiptRecord["stopped"]): JsonOutput.ReceiptRecord => {
      const list = nodes.map((node): JsonOutput.ReceiptNode => {
        const entry = ended.get(node.path) ?? {
          node: node.path,
          reason: "not_started",
          turns: 0,
          elapsed_ms: 0,
          usage: noUsage
        }
        const pids = [...(pidsOf.get(node.path) ?? [])]
        if (pids.length === 0) return entry
        const surviving = pids.filter(isRunning)
        return {
          ...entry,
          pids_killed: pids.filter((pid) => !surviving.includes(pid)),
          ...(surviving.length === 0 ? {} : { pids_surviving: surviving })
        }
      })
      const usage = list.reduce(
        (total, node) => ({
          input_tokens: total.input_tokens + node.usage.input_tokens,
          output_tokens: total.output_tokens + node.usage.output_tokens,
          total_tokens: total.total_tokens + node.usage.total_tokens
        }),
        noUsage
      )
      return { deputy: "receipt", stopped, nodes: list, usage }
    }
    const report = (record: JsonOutput.ReceiptRecord) =>
      Effect.zipRight(
        output.status(undefined),
        output.print(
          options.json ? JsonOutput.receiptLine(record) : Receipt.lines(output.style, record, rootName).join("\n")
        )
      )

    // Every node is forked at once and waits for a slot (the semaphore takes waiters in order); the tree
    // waits for all of them, or (fail-fast) for the first failure, then stops the rest and waits for them.
    const limit = Math.max(1, options.maxConcurrent ?? 4)
    const slots = yield* Effect.makeSemaphore(limit)
    const failed = yield* Deferred.make<void>()
    if (!options.json && nodes.length > limit) {
      yield* output.print(
        nodes.slice(limit).map((node, index) =>
          node.label.lines(output.style.dim(`⋯ queued: waits for a slot (${index + 1} in line, ${limit} at once)`))
        ).join("\n")
      )
    }
    const runOne = (node: typeof nodes[number]) =>
      slots.withPermits(1)(
        Effect.gen(function*() {
          // A slot freed by a failure under fail-fast starts nothing more.
          if (yield* Deferred.isDone(failed)) return
          const code = yield* runNode(node)
          if (options.failFast === true && code !== 0) yield* Deferred.succeed(failed, undefined)
        })
      )
    const fibers = yield* Effect.forEach(nodes, (node) => Effect.fork(runOne(node)))
    const stopped = yield* Effect.raceFirst(
      Effect.as(Fiber.joinAll(fibers), "completed" as const),
      Effect.as(Deferred.await(failed), "failed_fast" as const)
    ).pipe(
      Effect.onInterrupt(() =>
        Effect.zipRight(Fiber.interruptAll(fibers), Effect.suspend(() => report(receipt("interrupted"))))
      )
    )
    yield* Fiber.interruptAll(fibers)
    const record = receipt(stopped)
    yield* report(record)
    return { receipt: record, exitCode: treeExitCode(record) }
  })

/**
 * The `Approvals` of one node: every request gets the node's `path` and its `chain` (the root, then the
 * node) before `approvals` sees it, unless it already carries a chain (a node that runs its own tree).
 *
 * @since 0.2.0
 * @category approvals
 */
export const withChain = (
  approvals: Approvals.ApprovalsService,
  rootName: string,
  path: string,
  name: string
): Approvals.ApprovalsService => {
  const attach = <R extends ApprovalRequest.Provenance>(request: R): R =>
    request.chain !== undefined ? request : {
      ...request,
      path,
      chain: [
        { path: rootName, name: rootName, delegateId: rootName, source: request.source },
        { path, name, delegateId: request.delegateId, source: request.source }
      ]
    }
  return Approvals.of({
    command: (request) => approvals.command(attach(request)),
    patch: (request) => approvals.patch(attach(request)),
    permissions: (request) => approvals.permissions(attach(request)),
    userInput: (request) => approvals.userInput(attach(request))
  })
}
