/**
 * One run of a sub-agent from start to end, as the CLI shows it: a one-shot turn, or an interactive
 * session that reads further prompts until the end of input. Events, settled requests and the end go to
 * the `Reporter`. On interruption (Ctrl-C) the sub-agent is shut down and drained — what the drain brings
 * is still shown — and the end is reported before the program exits.
 *
 * @since 0.1.0
 */
import {
  AgentSpawner,
  ApprovalInbox,
  type ApprovalRequest,
  Approvals,
  Delegate,
  type Errors,
  Supervisor
} from "@deputy/core"
import { type Event, type EventMsg, type SessionSource, UserInput } from "@deputy/protocol"
import * as Terminal from "@effect/platform/Terminal"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as fs from "node:fs"
import type * as ApprovalSetup from "../ApprovalSetup.js"
import * as JsonOutput from "../JsonOutput.js"
import { Output } from "../Output.js"
import * as Render from "../Render.js"
import * as NodeLabel from "./NodeLabel.js"
import * as Receipt from "./Receipt.js"
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
  readonly source: SessionSource.SubAgentSource
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

/**
 * Keeps a display in the child's order the other way round: the events after a request wait until it
 * settled (its prompt answered, its decision shown), even from a child that does not wait for its answers.
 * Requests are recorded as the delegate admits them (`DelegateOptions.onRequest`), before the events after
 * them can be read; `settledAt` is called from `onSettled`.
 */
const requestGate = Effect.map(SubscriptionRef.make(0), (settledCount) => {
  const unsettled = new Map<number, number>()
  const firstUnsettled = () => {
    let first = Infinity
    for (const sequence of unsettled.keys()) if (sequence < first) first = sequence
    return first
  }
  return {
    requestAt: (request: { readonly sequence?: number | undefined }): void => {
      if (request.sequence !== undefined) unsettled.set(request.sequence, (unsettled.get(request.sequence) ?? 0) + 1)
    },
    settledAt: (request: { readonly sequence?: number | undefined }): Effect.Effect<void> =>
      Effect.suspend(() => {
        const sequence = request.sequence
        const count = sequence === undefined ? undefined : unsettled.get(sequence)
        if (count === undefined) return Effect.void
        if (count <= 1) unsettled.delete(sequence!)
        else unsettled.set(sequence!, count - 1)
        return SubscriptionRef.update(settledCount, (n) => n + 1)
      }),
    /** Waits until every request before `position` (its `sequence` at most `position`) settled. */
    awaitSettledBefore: (position: number): Effect.Effect<void> =>
      firstUnsettled() > position ? Effect.void : settledCount.changes.pipe(
        Stream.takeUntil(() => firstUnsettled() > position),
        Stream.runDrain
      )
  }
})

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
): Effect.Effect<
  Outcome,
  Errors.SpawnError,
  AgentSpawner.AgentSpawner | Approvals.Approvals | Reporter.Reporter | Output | Terminal.Terminal
> =>
  Effect.gen(function*() {
    const reporter = yield* Reporter.Reporter
    const output = yield* Output
    const terminal = yield* Terminal.Terminal
    const started = yield* Clock.currentTimeMillis
    const turns = Render.makeTurns()
    const outcome = yield* Deferred.make<Outcome>()
    let closedByUser = false

    const show = (event: Event.Event) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        turns.observe(event, now)
        return reporter.event(event)
      })

    // Events are read by position and released only once shown: an interruption (Ctrl-C) between reading
    // and showing loses nothing, `finish` shows from the last position shown. Requests wait until the
    // display has shown the events before them (`request.sequence`), so a prompt keeps the child's order.
    const shown = yield* SubscriptionRef.make(0)
    // And the reverse: the display stops at a request's position until the request settled.
    const gate = yield* requestGate
    /** Shows the events from the last position shown, one batch; false once the delegate has ended. */
    const showBatch = (
      handle: Delegate.DelegateHandle,
      until: (event: Event.Event) => boolean = () => false
    ): Effect.Effect<"more" | "until" | "ended"> =>
      Effect.gen(function*() {
        const batch = yield* handle.read(yield* SubscriptionRef.get(shown))
        if (Option.isNone(batch)) return "ended"
        const { events, from } = batch.value
        for (let i = 0; i < events.length; i++) {
          yield* gate.awaitSettledBefore(from + i)
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
      onRequest: gate.requestAt,
      onSettled: (settlement) => Effect.ensuring(reporter.settled(settlement), gate.settledAt(settlement.request))
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
          const submitted = yield* Effect.either(
            handle.submit({ type: "user_input", items: [UserInput.textInput(text)] })
          )
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
    const approvals = yield* Approvals.Approvals
    const inOrder =
      <A, R extends { readonly sequence?: number }>(ask: (request: R) => Effect.Effect<A>) => (request: R) =>
        Effect.zipRight(awaitShown(request.sequence), ask(request))
    const orderedApprovals = Approvals.Approvals.of({
      command: inOrder(approvals.command),
      patch: inOrder(approvals.patch),
      permissions: inOrder(approvals.permissions),
      userInput: inOrder(approvals.userInput),
      ...(approvals.elicitation === undefined ? {} : { elicitation: inOrder(approvals.elicitation) })
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
      Effect.provideService(Approvals.Approvals, orderedApprovals),
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
  readonly source: SessionSource.SubAgentSource
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

/**
 * Whether a process still runs: signal 0 checks without sending anything (EPERM: it runs as another user);
 * on Linux a zombie (ended, not yet reaped by its new parent) does not run.
 */
const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
  } catch {
    return true
  }
}

/** Waits (at most 1 s) until none of `pids` runs: a process sent SIGTERM takes a moment to end. */
const awaitGone = (pids: ReadonlyArray<number>): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let tries = 0; tries < 40 && pids.some(isRunning); tries++) yield* Effect.sleep(Duration.millis(25))
  })

const noUsage = { input_tokens: 0, output_tokens: 0, total_tokens: 0 }

/**
 * The exit code of a tree: 0 when every node completed, else 1.
 *
 * @since 0.2.0
 * @category exit codes
 */
export const treeExitCode = (receipt: JsonOutput.ReceiptRecord): number =>
  receipt.nodes.every((node) => !Receipt.isTask(node.node) || node.reason === "completed") ? 0 : 1

/**
 * The line about a thread a task's agent spawned itself (a Codex sub-agent), when it is reported started
 * (its node's path, or that it was not made a node), finished a turn (it lives on, and may be given another) or
 * ended.
 */
const threadLine = (
  style: Output["Type"]["style"],
  msg: unknown,
  nested: ReadonlyArray<Supervisor.NodeInfo>
): string | undefined => {
  const report = Supervisor.threadEventOf(msg)
  if (
    report === undefined || (report.event !== "started" && report.event !== "turn_ended" && report.event !== "ended")
  ) {
    return undefined
  }
  const node = nested.find((info) => info.external?.threadId === report.thread_id)
  if (node === undefined) {
    return report.event === "started"
      ? style.yellow(
        `⚠ sub-agent ${Text.oneLine(report.name ?? report.thread_id, 80)} not made a node of the tree: ` +
          "its requests get their default answers"
      )
      : undefined
  }
  const name = Text.visible(node.path.split("/").slice(1).join("/"))
  return report.event === "started"
    ? style.dim(`⑂ sub-agent ${name} started (${Text.visible(node.path)})`)
    : report.event === "turn_ended"
    ? style.dim(`⑂ sub-agent ${name} finished a turn: ${report.reason ?? "completed"}`)
    : style.dim(`⑂ sub-agent ${name} ended: ${report.reason ?? "completed"}`)
}

/** The receipt's entry for a supervisor's node receipt (`not_started`: stopped while it waited for a slot). */
const receiptNodeOf = (
  node: Supervisor.NodeReceipt,
  tokens: EventMsg.TokenUsage | undefined
): JsonOutput.ReceiptNode => {
  const surviving = node.pidsKilled.filter(isRunning)
  const queued = !node.started && node.reason === "spawn_failed" && node.message?.startsWith("stopped while queued")
  return {
    node: node.path,
    reason: queued ? "not_started" : node.reason,
    ...(node.message === undefined || queued ? {} : { message: node.message }),
    ...(node.lastAgentMessage === null ? {} : { last_agent_message: node.lastAgentMessage }),
    turns: node.usage.turns,
    elapsed_ms: Math.round(node.usage.wallTimeMs),
    usage: tokens ?? { input_tokens: 0, output_tokens: 0, total_tokens: node.usage.tokens },
    ...(node.pidsKilled.length === 0 ? {} : { pids_killed: node.pidsKilled.filter((pid) => !surviving.includes(pid)) }),
    ...(surviving.length === 0 ? {} : { pids_surviving: surviving })
  }
}

/**
 * Runs every task as a sibling node under one root of a `Supervisor` (`@deputy/core`): at most
 * `maxConcurrent` at once (the others wait in order), each node's events shown through its own reporter
 * (lines prefixed with the node's label, or records carrying its path), every request answered by the one
 * `Approvals` in context (the tree's inbox asks it; requests carry their `path` and `chain`, so a prompt
 * says who asks; a node's request waits until its events before it were shown). When every node ended,
 * when fail-fast stopped the others, or on interruption (Ctrl-C: the tree is stopped, each node drained),
 * the receipt is reported: every node's end reason, last agent message, usage and the pids stopped.
 *
 * @since 0.2.0
 * @category running
 */
export const runTasks = (
  options: TreeOptions
): Effect.Effect<TreeOutcome, never, AgentSpawner.AgentSpawner | Approvals.Approvals | Output | Terminal.Terminal> =>
  Effect.gen(function*() {
    const output = yield* Output
    const approvals = yield* Approvals.Approvals
    const rootName = options.rootName ?? "root"
    const width = Math.max(...options.tasks.map((task) => task.name.length))
    const limit = Math.max(1, options.maxConcurrent ?? 4)
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

    // A request is asked once its node's events before it were shown (as `run` does for one delegate).
    const shownOf = new Map<string, SubscriptionRef.SubscriptionRef<number>>()
    const tokensOf = new Map<string, EventMsg.TokenUsage>()
    const awaitShown = (request: ApprovalRequest.Provenance) => {
      // a sub-agent's request waits for the events of the task whose agent spawned it
      const shown = (request.path === undefined ? undefined : shownOf.get(request.path)) ??
        (request.chain?.[0] === undefined ? undefined : shownOf.get(request.chain[0].path))
      const sequence = request.sequence
      return shown === undefined || sequence === undefined ? Effect.void : shown.changes.pipe(
        Stream.takeUntil((position) => position >= sequence),
        Stream.runDrain
      )
    }
    const inOrder = <A, R extends ApprovalRequest.Provenance>(ask: (request: R) => Effect.Effect<A>) => (request: R) =>
      Effect.zipRight(awaitShown(request), ask(request))
    const inbox = yield* ApprovalInbox.make()
    const treeInbox: ApprovalInbox.ApprovalInboxService = {
      ...inbox,
      approvals: Approvals.Approvals.of({
        command: inOrder(approvals.command),
        patch: inOrder(approvals.patch),
        permissions: inOrder(approvals.permissions),
        userInput: inOrder(approvals.userInput),
        ...(approvals.elicitation === undefined ? {} : { elicitation: inOrder(approvals.elicitation) })
      })
    }

    const reporterOf = (node: typeof nodes[number]) =>
      options.json
        ? Reporter.makeJson({ node: node.path })
        : Reporter.makeHuman({
          cwd: options.cwd,
          interactive: false,
          node: { path: node.path, label: node.label, status: statusOf(node.task.name) }
        })

    // The decisions of the sub-agents a task's agent spawned itself are shown under their own labels.
    const nestedReporters = new Map<string, Context.Tag.Service<typeof Reporter.Reporter>>()
    const nestedReporter = (at: string) =>
      Effect.suspend(() => {
        const known = nestedReporters.get(at)
        if (known !== undefined) return Effect.succeed(known)
        const name = at.slice(rootName.length + 1)
        return Effect.tap(
          Reporter.makeHuman({
            cwd: options.cwd,
            interactive: false,
            node: { path: at, label: NodeLabel.make(output.style, name, width), status: statusOf(name) }
          }).pipe(Effect.provideService(Output, output)),
          (made) => Effect.sync(() => nestedReporters.set(at, made))
        )
      })

    /** Shows a node's events until its delegate ends, then its end (or that it could not start). */
    const follow = (
      node: typeof nodes[number],
      reporter: Context.Tag.Service<typeof Reporter.Reporter>,
      started: number,
      awaitDelegate: Effect.Effect<Delegate.DelegateHandle, Supervisor.NodeNotStarted>,
      supervisor: Supervisor.SupervisorService,
      gate: Effect.Effect.Success<typeof requestGate>
    ) =>
      Effect.gen(function*() {
        const delegate = yield* Effect.either(awaitDelegate)
        if (delegate._tag === "Left") {
          if (delegate.left.reason.startsWith("stopped while queued")) return
          const now = yield* Clock.currentTimeMillis
          yield* reporter.startFailed(delegate.left.reason, now - started)
          if (!options.json) {
            yield* output.print(
              node.label.lines(output.style.red(`✘ could not start: ${Text.visible(delegate.left.reason)}`))
            )
          }
          return
        }
        const handle = delegate.right
        const shown = yield* SubscriptionRef.make(0)
        shownOf.set(node.path, shown)
        const turns = Render.makeTurns()
        const began = yield* Clock.currentTimeMillis
        if (!options.json && queued.has(node.path)) {
          yield* output.print(
            node.label.lines(output.style.dim(`▸ started (waited ${Render.duration(began - started)} for a slot)`))
          )
        }
        while (true) {
          const batch = yield* handle.read(yield* SubscriptionRef.get(shown))
          if (Option.isNone(batch)) break
          const { events, from } = batch.value
          for (let i = 0; i < events.length; i++) {
            yield* gate.awaitSettledBefore(from + i)
            turns.observe(events[i]!, yield* Clock.currentTimeMillis)
            yield* reporter.event(events[i]!)
            if (!options.json && events[i]!.msg.type === Supervisor.threadEventType) {
              const nested = (yield* supervisor.nodes).filter((info) => info.path.startsWith(`${node.path}/`))
              const line = threadLine(output.style, events[i]!.msg, nested)
              if (line !== undefined) yield* output.print(node.label.lines(line))
            }
            yield* SubscriptionRef.set(shown, from + i + 1)
            yield* handle.release(from + i + 1)
          }
        }
        const ended = yield* handle.ended
        const now = yield* Clock.currentTimeMillis
        const usage = yield* handle.usage
        tokensOf.set(node.path, usage)
        yield* reporter.ended({
          ended,
          usage,
          elapsedMs: now - began,
          turnMs: turns.lastMs(now),
          turns: turns.count(),
          interactive: false,
          closedByUser: false
        })
      })

    const receipt = (
      stopped: JsonOutput.ReceiptRecord["stopped"],
      from: Supervisor.Receipt
    ): JsonOutput.ReceiptRecord => {
      const byPath = new Map(from.nodes.map((node) => [node.path, node]))
      const list = nodes.flatMap((node): Array<JsonOutput.ReceiptNode> => {
        const found = byPath.get(node.path)
        if (found === undefined) {
          return [{ node: node.path, reason: "not_started", turns: 0, elapsed_ms: 0, usage: noUsage }]
        }
        // then the sub-agents its agent spawned itself (nodes of the tree too), parents first
        const nested = from.nodes.filter((entry) => entry.path.startsWith(`${node.path}/`))
        return [
          receiptNodeOf(found, tokensOf.get(node.path)),
          ...nested.map((entry) => receiptNodeOf(entry, undefined))
        ]
      })
      const usage = list.reduce(
        (total, node) => ({
          input_tokens: total.input_tokens + node.usage.input_tokens,
          output_tokens: total.output_tokens + node.usage.output_tokens,
          total_tokens: total.total_tokens + node.usage.total_tokens
        }),
        noUsage
      )
      const failedFast = stopped === "completed" && options.failFast === true &&
        list.some((node) => Receipt.isTask(node.node) && node.reason !== "completed")
      return { deputy: "receipt", stopped: failedFast ? "failed_fast" : stopped, nodes: list, usage }
    }
    const report = (record: JsonOutput.ReceiptRecord) =>
      Effect.zipRight(
        output.status(undefined),
        output.print(
          options.json ? JsonOutput.receiptLine(record) : Receipt.lines(output.style, record, rootName).join("\n")
        )
      )

    // The nodes past the limit wait in order, and say so (text: a line; JSON: a `queued` record).
    const queued = new Set(nodes.slice(limit).map((node) => node.path))
    if (nodes.length > limit) {
      yield* output.print(
        nodes.slice(limit).map((node, index) =>
          options.json
            ? JsonOutput.queuedLine({ deputy: "queued", node: node.path, position: index + 1, max_concurrent: limit })
            : node.label.lines(
              output.style.dim(`⋯ queued: waits for a slot (${index + 1} in line, ${limit} at once)`)
            )
        ).join("\n")
      )
    }

    // An agent that knows its process (`pid`, as Codex's) but does not list its pids gets them listed, so
    // the receipt names the processes a stop ended.
    const spawner = yield* AgentSpawner.AgentSpawner
    const withPids = AgentSpawner.AgentSpawner.of({
      spawn: (spawnOptions) =>
        Effect.map(spawner.spawn(spawnOptions), (agent) => {
          const pid = (agent as { readonly pid?: unknown }).pid
          return agent.pids !== undefined || typeof pid !== "number" ? agent : {
            ...agent,
            pids: () => isRunning(pid) ? [pid] : []
          }
        })
    })

    return yield* Effect.gen(function*() {
      const supervisor = yield* Supervisor.make({
        name: rootName,
        limits: { maxConcurrent: limit },
        childFailure: options.failFast === true ? "fail_fast" : "continue",
        // The CLI's default drain (500ms, as for one sub-agent), for each node and for the tree's stop.
        drainTimeout: options.drainTimeout ?? Duration.millis(500),
        inbox: treeInbox
      })
      const followers = yield* Effect.forEach(nodes, (node) =>
        Effect.gen(function*() {
          const reporter = yield* reporterOf(node)
          const started = yield* Clock.currentTimeMillis
          const gate = yield* requestGate
          const spawned = yield* Effect.either(supervisor.spawn({
            name: node.task.name,
            input: node.task.prompt,
            source: options.source,
            cwd: options.cwd,
            config: options.config,
            approvalTimeout: options.approvalTimeout,
            onRequest: gate.requestAt,
            onSettled: (settlement) => {
              const at = settlement.request.path
              const shown = options.json || at === undefined || at === node.path
                ? reporter.settled(settlement)
                // a sub-agent's decision: under its own label (`review/galileo`)
                : Effect.flatMap(nestedReporter(at), (nested) => nested.settled(settlement))
              return Effect.ensuring(shown, gate.settledAt(settlement.request))
            }
          }))
          // Names are checked before (Tasks.resolve); a refusal is shown as that node's failure to start.
          const handle = spawned._tag === "Left"
            ? Effect.fail(new Supervisor.NodeNotStarted({ path: node.path, reason: spawned.left.message }))
            : spawned.right.delegate
          return yield* Effect.forkScoped(follow(node, reporter, started, handle, supervisor, gate))
        }))
      const awaitFollowers = Fiber.joinAll(followers)
      const settled = (from: Supervisor.Receipt) =>
        Effect.as(awaitGone(from.nodes.flatMap((node) => node.pidsKilled)), from)
      const record = yield* Effect.zipLeft(supervisor.awaitIdle, awaitFollowers).pipe(
        Effect.flatMap(settled),
        Effect.map((from) => receipt("completed", from)),
        Effect.onInterrupt(() =>
          Effect.gen(function*() {
            const from = yield* Effect.flatMap(supervisor.stop, settled)
            // The followers show what the drain brings and each node's end; bounded by the drain.
            yield* awaitFollowers.pipe(Effect.interruptible, Effect.timeoutOption(Duration.seconds(5)))
            yield* report(receipt("interrupted", from))
          })
        )
      )
      yield* report(record)
      return { receipt: record, exitCode: treeExitCode(record) }
    }).pipe(Effect.scoped, Effect.provideService(AgentSpawner.AgentSpawner, withPids))
  })
