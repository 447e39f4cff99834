/**
 * The supervised tree (see `Supervisor.ts`). One plain mutable model (nodes, counters, the admission
 * queue) changed only inside `Effect.sync` blocks, so every change is atomic on the one JS thread; each
 * node has one runner fiber (in the supervisor's `FiberSet`) that waits for admission, runs the delegate
 * in a scope of its own, ends it and its subtree, and records the receipt.
 */
import type { Event, SessionSource } from "@deputy/protocol"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { Agent } from "../../Agent.js"
import { AgentSpawner } from "../../AgentSpawner.js"
import * as ApprovalInbox from "../../ApprovalInbox.js"
import type { ApprovalRequest, ApprovalSettlement } from "../../ApprovalRequest.js"
import { Approvals } from "../../Approvals.js"
import * as Delegate from "../../Delegate.js"
import { AgentClosed } from "../../Errors.js"
import * as ShellCommand from "../../ShellCommand.js"
import type {
  Budget,
  EffectiveBudget,
  EndReason,
  Exhaustion,
  ExternalThread,
  FailurePolicy,
  Node,
  NodeInfo,
  NodeReceipt,
  NodeState,
  Receipt,
  SpawnNodeOptions,
  SupervisorOptions,
  SupervisorService,
  ThreadEvent,
  TreeChange,
  Usage
} from "../../Supervisor.js"
import {
  AdmissionRefused,
  defaultMaxThreads,
  InvalidNodeName,
  isUnder,
  NodeNotStarted,
  threadEventOf,
  threadEventType
} from "../../Supervisor.js"
import * as Text from "../../Text.js"
import * as TraceContext from "../../TraceContext.js"
import { uuidv7 } from "../uuid.js"
import { chainOf, nodeApprovals } from "./approvals.js"

/** Why a node is being stopped (the first cause wins). */
export type StopCause =
  | { readonly _tag: "Stopped" }
  | { readonly _tag: "Exhausted"; readonly exhaustion: Exhaustion }
  | { readonly _tag: "SiblingFailed"; readonly path: string }
  | { readonly _tag: "ParentEnded"; readonly path: string }

interface Counters {
  tokens: number
  turns: number
  approvals: number
  /** Turn-starting submissions the child accepted and has not started yet (reserved against turn budgets). */
  pendingTurns: number
}

const zeroCounters = (): Counters => ({ tokens: 0, turns: 0, approvals: 0, pendingTurns: 0 })

/** Ops that start a turn. */
const turnOps: ReadonlySet<string> = new Set(["user_input", "review", "compact"])

/** A node of the model; the root is the supervisor itself (no delegate, depth 0). */
export interface TreeNode {
  readonly path: string
  readonly name: string
  readonly depth: number
  readonly parent: TreeNode | undefined
  readonly delegateId: string
  readonly source: SessionSource.SubAgentSource
  readonly options: SpawnNodeOptions | undefined
  readonly policy: ReadonlyArray<import("../../Approvals.js").PolicyRule> | undefined
  readonly childFailure: FailurePolicy
  /** The turn and call of the parent in which this node was started (for provenance chains). */
  readonly startedIn: { readonly turnId?: string | undefined; readonly callId?: string | undefined } | undefined
  budget: {
    tokens: number | undefined
    wallTimeMs: number | undefined
    turns: number | undefined
    approvals: number | undefined
  }
  /** The budget's wall time as asked (carved at start). */
  readonly askedWallTimeMs: number | undefined
  readonly children: Array<TreeNode>
  readonly childNames: Set<string>
  runningChildren: number
  readonly own: Counters
  /** Own plus every descendant's. */
  readonly sub: Counters
  startedAt: number | undefined
  endedAt: number | undefined
  started: boolean
  ended: boolean
  /** Whether `done` is done. */
  settled: boolean
  /** Whether it holds an admission slot (released when it ends). */
  holdsSlot: boolean
  stopCause: StopCause | undefined
  readonly stopSignal: Deferred.Deferred<StopCause>
  readonly state: SubscriptionRef.SubscriptionRef<NodeState>
  readonly handle: Deferred.Deferred<Delegate.DelegateHandle, NodeNotStarted>
  /** Done once the node and its subtree have ended and its receipt is recorded. */
  readonly done: Deferred.Deferred<void>
  lastAgentMessage: string | null
  pids: (() => ReadonlyArray<number>) | undefined
  readonly pidsKilled: Set<number>
  receipt: Omit<NodeReceipt, "usage" | "subtreeUsage"> | undefined
  /** Commands approved for the session in this node only. */
  readonly sessionGrants: Set<string>
  api: Node | undefined
  /** Set for a thread the owner's agent spawned itself (no delegate, no runner of the usual kind). */
  readonly external: ExternalNode | undefined
  /** The threads this node's agent reported (created on the first report). */
  threads: ThreadRegistry | undefined
  /** How this node's agent interrupts one of its threads, if it can. */
  interruptThread: ((threadId: string) => Effect.Effect<boolean>) | undefined
}

/** What an external node (a thread an agent spawned itself) holds besides a node's fields. */
export interface ExternalNode {
  readonly info: ExternalThread
  /** The delegate node whose agent reported the thread. */
  readonly owner: TreeNode
  /** Done when the agent reports the thread ended. */
  readonly ended: Deferred.Deferred<{ readonly reason: EndReason }>
  /** Whether a turn of the thread is in progress (between its `turn_started` and `turn_ended`). */
  inTurn: boolean
  /** The outcome of the thread's last turn, once one ended (the thread is idle unless `inTurn`). */
  lastTurn: ThreadTurnOutcome | undefined
}

/** How a turn of a thread ended. */
type ThreadTurnOutcome = NonNullable<ThreadEvent["reason"]>

/** The threads one node's agent reported: those that are nodes, and why others are not. */
export interface ThreadRegistry {
  readonly nodes: Map<string, TreeNode>
  /** Why a thread was refused (the first `maxRefusedRemembered`). */
  readonly refused: Map<string, string>
  refusedCount: number
  warned: boolean
}

/** How many refused thread ids a node remembers (for the answer's reason; every refusal is counted). */
const maxRefusedRemembered = 1024

const nameProblem = (name: string): string | undefined => {
  if (name.length === 0) return "the name is empty"
  if (name.length > 64) return "the name is longer than 64 characters"
  if (name.includes("/")) return "the name contains /"
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return "the name contains a control character"
  return undefined
}

/**
 * A node name from a thread's reported name (untrusted): `/` and control characters become `_`, at most 64
 * characters, `thread` when empty.
 */
const threadNodeName = (reported: string | undefined): string => {
  const cleaned = (reported ?? "").replace(/[/\u0000-\u001f\u007f-\u009f]/g, "_").slice(0, 64)
  return cleaned.length === 0 ? "thread" : cleaned
}

/** `name`, or `name~2`, `name~3`… if a sibling has it (bounded by the parent's thread cap). */
const freeName = (parent: TreeNode, name: string): string => {
  if (!parent.childNames.has(name)) return name
  for (let n = 2;; n++) {
    const candidate = `${name.slice(0, 60)}~${n}`
    if (!parent.childNames.has(candidate)) return candidate
  }
}

const failed = (reason: EndReason): boolean => reason !== "completed" && reason !== "interrupted"

const wallOf = (budget: Budget | undefined): number | undefined =>
  budget?.wallTime === undefined ? undefined : Duration.toMillis(Duration.decode(budget.wallTime))

const smaller = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b)

const remaining = (limit: number | undefined, used: number): number | undefined =>
  limit === undefined ? undefined : Math.max(0, limit - used)

/** Builds a supervisor in the current scope. */
export const make = (
  options: SupervisorOptions = {}
): Effect.Effect<SupervisorService, never, Scope.Scope | AgentSpawner> =>
  Effect.gen(function*() {
    const baseSpawner = yield* AgentSpawner
    const scope = yield* Effect.scope
    // Created first, so they are released last: nodes' scopes, then the runners, then the graceful stop.
    const nodesScope = yield* Scope.fork(scope, ExecutionStrategy.parallel)
    const runners = yield* FiberSet.make()
    const inbox = options.inbox ?? (yield* ApprovalInbox.make(options.inboxOptions))
    const treeName = options.name ?? "root"
    const drainTimeout = Duration.decode(options.drainTimeout ?? Duration.seconds(2))
    const limits = options.limits ?? {}
    const onLimit = limits.onLimit ?? "wait"
    const createdAt = yield* Clock.currentTimeMillis
    let stopping = false
    let running = 0
    const queue: Array<{ readonly node: TreeNode; readonly admitted: Deferred.Deferred<void> }> = []
    const byPath = new Map<string, TreeNode>()

    /** Loads the shell parser once (policies read shell scripts with it), as `Approvals.layerPolicy` does. */
    const ensureParser = (rules: ReadonlyArray<unknown> | undefined): Effect.Effect<void> =>
      rules === undefined || rules.length === 0 || options.policyOptions?.parser !== undefined ||
        ShellCommand.loadedParser() !== undefined
        ? Effect.void
        : ShellCommand.parser.pipe(Effect.tapError((error) => Effect.logWarning(error.message)), Effect.ignore)
    yield* ensureParser(options.policy)

    const newNode = (
      parent: TreeNode | undefined,
      name: string,
      nodeOptions: SpawnNodeOptions | undefined,
      budget: TreeNode["budget"],
      askedWallTimeMs: number | undefined,
      external?: Pick<ExternalNode, "info" | "owner" | "ended"> & {
        readonly source: SessionSource.SubAgentSource
        readonly startedIn: TreeNode["startedIn"]
      }
    ): TreeNode => {
      const path = parent === undefined ? name : `${parent.path}/${name}`
      return {
        path,
        name,
        depth: parent === undefined ? 0 : parent.depth + 1,
        parent,
        delegateId: external?.owner.delegateId ?? nodeOptions?.id ?? uuidv7(),
        source: external?.source ?? nodeOptions?.source ?? "review",
        options: nodeOptions,
        policy: parent === undefined ? options.policy : nodeOptions?.policy,
        childFailure: (parent === undefined ? options.childFailure : nodeOptions?.childFailure) ?? "continue",
        startedIn: external?.startedIn ?? nodeOptions?.startedIn,
        budget,
        askedWallTimeMs,
        children: [],
        childNames: new Set(),
        runningChildren: 0,
        own: zeroCounters(),
        sub: zeroCounters(),
        startedAt: undefined,
        endedAt: undefined,
        started: false,
        ended: false,
        holdsSlot: false,
        settled: false,
        stopCause: undefined,
        stopSignal: Deferred.unsafeMake(FiberId.none),
        state: undefined as never,
        handle: Deferred.unsafeMake(FiberId.none),
        done: Deferred.unsafeMake(FiberId.none),
        lastAgentMessage: null,
        pids: undefined,
        pidsKilled: new Set(),
        receipt: undefined,
        sessionGrants: new Set(),
        api: undefined,
        external: external === undefined
          ? undefined
          : { info: external.info, owner: external.owner, ended: external.ended, inTurn: false, lastTurn: undefined },
        threads: undefined,
        interruptThread: undefined
      }
    }

    const rootBudget = options.budget
    const root = newNode(undefined, treeName, undefined, {
      tokens: rootBudget?.tokens,
      wallTimeMs: wallOf(rootBudget),
      turns: rootBudget?.turns,
      approvals: rootBudget?.approvals
    }, wallOf(rootBudget))
    ;(root as { state: TreeNode["state"] }).state = yield* SubscriptionRef.make<NodeState>({ _tag: "Running" })
    root.startedAt = createdAt
    root.started = true
    byPath.set(root.path, root)

    /** Every node of a subtree, parents before children. */
    const preorder = (node: TreeNode, out: Array<TreeNode> = []): Array<TreeNode> => {
      out.push(node)
      for (const child of node.children) preorder(child, out)
      return out
    }

    const usageOf = (counters: Counters, node: TreeNode, now: number): Usage => ({
      tokens: counters.tokens,
      turns: counters.turns,
      approvals: counters.approvals,
      wallTimeMs: node.startedAt === undefined ? 0 : (node.endedAt ?? now) - node.startedAt
    })

    const effectiveBudget = (node: TreeNode): EffectiveBudget => ({ ...node.budget })

    const stoppingState: NodeState = { _tag: "Stopping" }

    /** The state as stored, or `Stopping` from the moment a stop is asked for (before the runner wakes). */
    const stateOf = (node: TreeNode): Effect.Effect<NodeState> =>
      Effect.map(
        SubscriptionRef.get(node.state),
        (state) =>
          node.stopCause !== undefined && (state._tag === "Running" || state._tag === "Starting")
            ? stoppingState
            : state
      )

    // ---- the change stream ------------------------------------------------------------------------------
    // Built on the two places every node goes through: `register` (a node joins the tree) and `setState`
    // (its stored state changes), plus `signalStop` (it reads as Stopping from then on). Each change is
    // numbered in the same synchronous step that makes it, so a subscriber drops what its snapshot holds.

    let changeSeq = 0
    const changeHub = yield* PubSub.unbounded<{ readonly seq: number; readonly change: TreeChange }>()
    /** Each node's state as `stateOf` reads it, as last announced. */
    const shown = new Map<TreeNode, NodeState>()
    const announce = (change: TreeChange): void => {
      changeSeq++
      changeHub.unsafeOffer({ seq: changeSeq, change })
    }
    const sameState = (a: NodeState, b: NodeState): boolean =>
      a._tag === b._tag && (a._tag !== "Queued" || a.position === (b as typeof a).position) &&
      (a._tag !== "Ended" || a.reason === (b as typeof a).reason)
    /** Announces the state `stateOf` now reads for `node` if it differs from the last one announced. */
    const showState = (node: TreeNode, stored: NodeState): void => {
      const state = node.stopCause !== undefined && (stored._tag === "Running" || stored._tag === "Starting")
        ? stoppingState
        : stored
      const before = shown.get(node)
      if (before !== undefined && sameState(before, state)) return
      shown.set(node, state)
      announce({ _tag: "StateChanged", path: node.path, state })
    }
    const setState = (node: TreeNode, state: NodeState): Effect.Effect<void> =>
      SubscriptionRef.update(node.state, () => {
        showState(node, state)
        return state
      })
    /**
     * Makes a new node part of the tree (its parent's child, found by path) with its state, and announces it
     * as `shownState`: the one way nodes come to be, spawned or external.
     */
    const register = (
      node: TreeNode,
      state: TreeNode["state"],
      shownState: NodeState,
      now: number
    ): TreeNode => {
      ;(node as { state: TreeNode["state"] }).state = state
      const parent = node.parent!
      parent.children.push(node)
      parent.childNames.add(node.name)
      byPath.set(node.path, node)
      shown.set(node, shownState)
      announce({ _tag: "Added", node: infoOf(node, now, shownState) })
      return node
    }
    const changes: Stream.Stream<TreeChange> = Stream.unwrapScoped(Effect.gen(function*() {
      const subscription = yield* PubSub.subscribe(changeHub)
      const now = yield* Clock.currentTimeMillis
      // one synchronous step: the nodes and their states as of change number `seen`
      const seen = changeSeq
      const nodes = preorder(root).filter((node) => node !== root).map((node) =>
        infoOf(node, now, shown.get(node) ?? { _tag: "Starting" })
      )
      return Stream.concat(
        Stream.succeed<TreeChange>({ _tag: "Snapshot", nodes }),
        Stream.fromQueue(subscription).pipe(
          Stream.filter((numbered) => numbered.seq > seen),
          Stream.map((numbered) => numbered.change)
        )
      )
    }))

    // ---- stopping -------------------------------------------------------------------------------------

    /** Asks a node to stop (the first cause wins); the runner does the rest. */
    const signalStop = (node: TreeNode, cause: StopCause): void => {
      if (node.ended || node.stopCause !== undefined) return
      node.stopCause = cause
      Deferred.unsafeDone(node.stopSignal, Exit.succeed(cause))
      const state = shown.get(node)
      if (state !== undefined) showState(node, state)
    }

    /** Asks a subtree to stop, all at once (its nodes drain in parallel). */
    const signalSubtree = (node: TreeNode, cause: StopCause): void => {
      for (const each of preorder(node)) if (each !== root) signalStop(each, cause)
    }

    /** A budget of `node` (or of the root) ran out: its whole subtree ends `budget_exhausted`. */
    const exhaust = (node: TreeNode, exhaustion: Exhaustion): void => {
      if (node === root) {
        stopping = true
        signalSubtree(root, { _tag: "Exhausted", exhaustion })
      } else {
        signalSubtree(node, { _tag: "Exhausted", exhaustion })
      }
    }

    /** Adds to a node's counters and its ancestors', then ends the widest subtree whose budget ran out. */
    const addUsage = (node: TreeNode, tokens: number, turns: number, approvals: number): void => {
      node.own.tokens += tokens
      node.own.turns += turns
      node.own.approvals += approvals
      let widest: { node: TreeNode; exhaustion: Exhaustion } | undefined
      for (let at: TreeNode | undefined = node; at !== undefined; at = at.parent) {
        at.sub.tokens += tokens
        at.sub.turns += turns
        at.sub.approvals += approvals
        const over = overBudget(at)
        if (over !== undefined) widest = { node: at, exhaustion: over }
      }
      if (widest !== undefined) exhaust(widest.node, widest.exhaustion)
    }

    const overBudget = (node: TreeNode): Exhaustion | undefined => {
      const { budget, sub } = node
      if (budget.tokens !== undefined && sub.tokens > budget.tokens) {
        return { path: node.path, dimension: "tokens", limit: budget.tokens, used: sub.tokens }
      }
      if (budget.turns !== undefined && sub.turns > budget.turns) {
        return { path: node.path, dimension: "turns", limit: budget.turns, used: sub.turns }
      }
      return undefined
    }

    /**
     * Counts one approval request against the node and its ancestors; if that would pass a budget, counts
     * nothing, ends the widest such subtree and returns its exhaustion (the request gets the default).
     */
    const countApproval = (node: TreeNode): Exhaustion | undefined => {
      let widest: { node: TreeNode; exhaustion: Exhaustion } | undefined
      for (let at: TreeNode | undefined = node; at !== undefined; at = at.parent) {
        const limit = at.budget.approvals
        if (limit !== undefined && at.sub.approvals + 1 > limit) {
          widest = { node: at, exhaustion: { path: at.path, dimension: "approvals", limit, used: at.sub.approvals } }
        }
      }
      if (widest !== undefined) {
        exhaust(widest.node, widest.exhaustion)
        return widest.exhaustion
      }
      addUsage(node, 0, 0, 1)
      return undefined
    }

    /** Watches the raw events of a node's agent (one plain loop per batch): turns, tokens, last message. */
    const observe = (node: TreeNode, events: ReadonlyArray<Event.Event>): Array<unknown> | undefined => {
      let reports: Array<unknown> | undefined
      let turns = 0
      let tokens = node.own.tokens
      for (let i = 0; i < events.length; i++) {
        const msg = events[i]!.msg
        const type = msg.type
        if (type === "task_started") turns++
        else if (type === "token_count") {
          const total = (msg as { info?: { total_token_usage?: { total_tokens?: number } } | null }).info
            ?.total_token_usage?.total_tokens
          if (typeof total === "number" && total > tokens) tokens = total
        } else if (type === "agent_message") {
          const message = (msg as { message?: unknown }).message
          if (typeof message === "string") node.lastAgentMessage = message
        } else if (type === "task_complete") {
          const message = (msg as { last_agent_message?: unknown }).last_agent_message
          if (typeof message === "string") node.lastAgentMessage = message
        } else if (type === threadEventType) {
          ;(reports ??= []).push(msg)
        }
      }
      if (turns > 0) {
        const consumed = Math.min(turns, node.own.pendingTurns)
        if (consumed > 0) reserveTurns(node, -consumed)
      }
      if (turns > 0 || tokens !== node.own.tokens) addUsage(node, tokens - node.own.tokens, turns, 0)
      return reports
    }

    const reserveTurns = (node: TreeNode, count: number): void => {
      node.own.pendingTurns += count
      for (let at: TreeNode | undefined = node; at !== undefined; at = at.parent) at.sub.pendingTurns += count
    }

    /**
     * Before a turn-starting submission: if the turns started and reserved would pass a budget, ends the
     * widest such subtree and returns its exhaustion (the submission is refused); else reserves one turn.
     */
    const gateTurn = (node: TreeNode): Exhaustion | undefined => {
      let widest: { node: TreeNode; exhaustion: Exhaustion } | undefined
      for (let at: TreeNode | undefined = node; at !== undefined; at = at.parent) {
        const limit = at.budget.turns
        if (limit !== undefined && at.sub.turns + at.sub.pendingTurns + 1 > limit) {
          widest = { node: at, exhaustion: { path: at.path, dimension: "turns", limit, used: at.sub.turns } }
        }
      }
      if (widest !== undefined) {
        exhaust(widest.node, widest.exhaustion)
        return widest.exhaustion
      }
      reserveTurns(node, 1)
      return undefined
    }

    const watchAgent = (node: TreeNode, agent: Agent): Agent => {
      node.pids = agent.pids
      node.interruptThread = agent.interruptThread
      const submitWithId: Agent["submitWithId"] = (submission) =>
        Effect.suspend(() => {
          if (!turnOps.has(submission.op.type)) return agent.submitWithId(submission)
          const over = gateTurn(node)
          if (over !== undefined) {
            return Effect.fail(
              new AgentClosed({ reason: `the turns budget of ${over.path} ran out (${over.used} of ${over.limit})` })
            )
          }
          return Effect.tapError(agent.submitWithId(submission), () => Effect.sync(() => reserveTurns(node, -1)))
        })
      return {
        ...agent,
        submitWithId,
        submit: (op) =>
          Effect.flatMap(TraceContext.current, (trace) => {
            const id = uuidv7()
            return Effect.as(submitWithId(Option.isSome(trace) ? { id, op, trace: trace.value } : { id, op }), id)
          }),
        nextBatch: Effect.flatMap(agent.nextBatch, (batch) => {
          const reports = observe(node, batch[0])
          return reports === undefined ? Effect.succeed(batch) : Effect.as(onThreadReports(node, reports), batch)
        }),
        events: Stream.mapChunksEffect(agent.events, (chunk) => {
          const reports = observe(node, Array.from(chunk))
          return reports === undefined ? Effect.succeed(chunk) : Effect.as(onThreadReports(node, reports), chunk)
        })
      }
    }

    const snapshotPids = (node: TreeNode): void => {
      const pids = node.pids?.()
      if (pids !== undefined) { for (const pid of pids) node.pidsKilled.add(pid) }
    }

    // ---- admission --------------------------------------------------------------------------------------

    /** The most children of `parent` that may run at once: its own limit, never above the tree's. */
    const childLimit = (parent: TreeNode): number | undefined =>
      smaller(parent.options?.limits?.maxConcurrentChildren, limits.maxConcurrentChildren)

    const fits = (node: TreeNode): boolean => {
      const perNode = childLimit(node.parent!)
      return (limits.maxConcurrent === undefined || running < limits.maxConcurrent) &&
        (perNode === undefined || node.parent!.runningChildren < perNode)
    }

    const take = (node: TreeNode): void => {
      node.holdsSlot = true
      running++
      node.parent!.runningChildren++
    }

    /** Admits the queued nodes that fit now, in order, and tells the others their new place. */
    const pump: Effect.Effect<void> = Effect.suspend(() => {
      const updates: Array<Effect.Effect<void>> = []
      for (let i = 0; i < queue.length;) {
        const entry = queue[i]!
        if (entry.node.stopCause !== undefined || fits(entry.node)) {
          queue.splice(i, 1)
          if (entry.node.stopCause === undefined) take(entry.node)
          Deferred.unsafeDone(entry.admitted, Exit.void)
        } else {
          i++
        }
      }
      for (let i = 0; i < queue.length; i++) {
        updates.push(setState(queue[i]!.node, { _tag: "Queued", position: i }))
      }
      return updates.length === 0 ? Effect.void : Effect.all(updates, { discard: true })
    })

    const releaseSlot = (node: TreeNode): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!node.holdsSlot) return Effect.void
        node.holdsSlot = false
        running--
        node.parent!.runningChildren--
        return pump
      })

    // ---- the runner -------------------------------------------------------------------------------------

    const endReasonOf = (ended: Delegate.DelegateEnded, cause: StopCause | undefined): EndReason =>
      cause?._tag === "Exhausted" ? "budget_exhausted" : ended.reason

    const causeMessage = (cause: StopCause | undefined): string | undefined => {
      switch (cause?._tag) {
        case "Exhausted": {
          const { dimension, limit, path, used } = cause.exhaustion
          return `the ${dimension} budget of ${path} ran out (${used} used of ${limit})`
        }
        case "SiblingFailed":
          return `stopped: its sibling ${cause.path} failed (fail_fast)`
        case "ParentEnded":
          return `stopped: its parent ${cause.path} ended`
        case "Stopped":
          return "stopped"
        default:
          return undefined
      }
    }

    const finish = (
      node: TreeNode,
      reason: EndReason,
      details: { readonly message?: string | undefined; readonly drainTimedOut?: boolean | undefined }
    ): Effect.Effect<void> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        node.ended = true
        node.endedAt = now
        const cause = node.stopCause
        node.receipt = {
          path: node.path,
          name: node.name,
          depth: node.depth,
          reason,
          started: node.started,
          message: details.message ?? causeMessage(cause),
          lastAgentMessage: node.lastAgentMessage,
          pidsKilled: Array.from(node.pidsKilled),
          exhausted: cause?._tag === "Exhausted" ? cause.exhaustion : undefined,
          drainTimedOut: details.drainTimedOut ?? false
        }
        yield* setState(node, { _tag: "Ended", reason })
        // Fail fast: a failure that was not a stop asked for stops the siblings.
        const parent = node.parent!
        if (
          parent.childFailure === "fail_fast" && failed(reason) && (cause === undefined || cause._tag === "Exhausted")
        ) {
          for (const sibling of parent.children) {
            if (sibling !== node) signalSubtree(sibling, { _tag: "SiblingFailed", path: node.path })
          }
        }
      })

    /** Waits for every child (spawned so far or while waiting) to be done. */
    const awaitChildren = (node: TreeNode): Effect.Effect<void> =>
      Effect.suspend(() => {
        const open = node.children.filter((child) => !child.settled)
        if (open.length === 0) return Effect.void
        return Effect.zipRight(
          Effect.forEach(open, (child) => Deferred.await(child.done), { concurrency: "unbounded", discard: true }),
          awaitChildren(node)
        )
      })

    const run = (node: TreeNode, admitted: Deferred.Deferred<void>): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (!node.holdsSlot && node.stopCause === undefined) {
          yield* Effect.raceFirst(Deferred.await(admitted), Effect.asVoid(Deferred.await(node.stopSignal)))
        }
        if (node.stopCause !== undefined) {
          // stopped before it started: leave the queue (or give the slot back), never start
          yield* Effect.suspend(() => {
            const index = queue.findIndex((entry) => entry.node === node)
            if (index !== -1) queue.splice(index, 1)
            return index === -1 ? Effect.void : pump
          })
          yield* releaseSlot(node)
          const reason: EndReason = node.stopCause._tag === "Exhausted" ? "budget_exhausted" : "spawn_failed"
          yield* Deferred.fail(node.handle, new NodeNotStarted({ path: node.path, reason: "stopped while queued" }))
          yield* awaitChildren(node)
          yield* finish(node, reason, { message: `stopped while queued (${causeMessage(node.stopCause)})` })
          return
        }
        yield* setState(node, { _tag: "Starting" })
        const nodeScope = yield* Scope.fork(nodesScope, ExecutionStrategy.sequential)
        const nodeOptions = node.options!
        const now = yield* Clock.currentTimeMillis
        const parent = node.parent!
        // Wall time is carved at start, out of what the parent has left then.
        node.budget.wallTimeMs = smaller(
          node.askedWallTimeMs,
          parent.budget.wallTimeMs === undefined || parent.startedAt === undefined
            ? undefined
            : Math.max(0, parent.budget.wallTimeMs - (now - parent.startedAt))
        )
        node.startedAt = now
        const spawner = AgentSpawner.of({
          spawn: (spawnOptions) => Effect.map(baseSpawner.spawn(spawnOptions), (agent) => watchAgent(node, agent))
        })
        const onSettled = nodeOptions.onSettled
        const delegateOptions = {
          ...nodeOptions,
          id: node.delegateId,
          drainTimeout: nodeOptions.drainTimeout ?? drainTimeout,
          // the settlement names the request's place in the tree, as the inbox does
          onSettled: onSettled === undefined ?
            undefined :
            (settlement: ApprovalSettlement) => {
              const target = targetOf(node, settlement.request)
              const at = typeof target === "string" ? node : target
              return onSettled({ ...settlement, request: { ...settlement.request, path: at.path, chain: chainOf(at) } })
            }
        }
        const started = yield* (nodeOptions.input === undefined
          ? Delegate.interactive(delegateOptions)
          : Delegate.oneShot(delegateOptions as Delegate.OneShotOptions)).pipe(
            Effect.provideService(AgentSpawner, spawner),
            Effect.provideService(
              Approvals,
              nodeApprovals(node, { inbox, countApproval, targetOf, policyOptions: options.policyOptions })
            ),
            Scope.extend(nodeScope),
            Effect.exit
          )
        if (Exit.isFailure(started)) {
          const failure = Cause.failureOption(started.cause)
          const why = Option.isSome(failure) ? failure.value.message : Cause.pretty(started.cause)
          yield* Scope.close(nodeScope, Exit.void)
          yield* Deferred.fail(node.handle, new NodeNotStarted({ path: node.path, reason: why }))
          for (const child of node.children) signalSubtree(child, { _tag: "ParentEnded", path: node.path })
          yield* awaitChildren(node)
          const cause = node.stopCause as StopCause | undefined
          yield* finish(node, cause?._tag === "Exhausted" ? "budget_exhausted" : "spawn_failed", {
            message: why
          })
          yield* releaseSlot(node)
          return
        }
        const handle = started.value
        node.started = true
        yield* Deferred.succeed(node.handle, handle)
        yield* setState(node, { _tag: "Running" })
        const wall = node.budget.wallTimeMs
        if (wall !== undefined) {
          yield* Effect.sleep(Duration.millis(wall)).pipe(
            Effect.zipRight(
              Effect.sync(() => exhaust(node, { path: node.path, dimension: "wallTime", limit: wall, used: wall }))
            ),
            Effect.interruptible,
            Effect.forkIn(nodeScope)
          )
        }
        const first = yield* Effect.raceFirst(
          Effect.map(handle.ended, (ended) => ({ _tag: "Ended" as const, ended })),
          Effect.map(Deferred.await(node.stopSignal), (cause) => ({ _tag: "Stop" as const, cause }))
        )
        snapshotPids(node)
        yield* setState(node, stoppingState)
        let ended: Delegate.DelegateEnded
        if (first._tag === "Ended") {
          ended = first.ended
          // Its children live no longer than it.
          for (const child of node.children) signalSubtree(child, { _tag: "ParentEnded", path: node.path })
        } else {
          ended = yield* handle.shutdown
        }
        snapshotPids(node)
        yield* Scope.close(nodeScope, Exit.void)
        yield* awaitChildren(node)
        const reason = endReasonOf(ended, node.stopCause)
        if (ended.lastAgentMessage != null && node.lastAgentMessage === null) {
          node.lastAgentMessage = ended.lastAgentMessage
        }
        yield* finish(node, reason, {
          message: node.stopCause === undefined ? ended.message : undefined,
          drainTimedOut: ended.drainTimedOut
        })
        yield* releaseSlot(node)
      }).pipe(Effect.onExit(settleRunner(node)))

    /** A node's runner has exited: its node is done (interrupted past the drain timeout: recorded so). */
    const settleRunner = (node: TreeNode) => (exit: Exit.Exit<void>): Effect.Effect<void> =>
      Effect.suspend(() => {
        node.settled = true
        if (Exit.isSuccess(exit) && node.ended) return Deferred.succeed(node.done, undefined)
        // interrupted (the supervisor's scope is closing past the drain timeout): record what is known
        node.ended = true
        node.receipt ??= {
          path: node.path,
          name: node.name,
          depth: node.depth,
          reason: node.stopCause?._tag === "Exhausted" ? "budget_exhausted" : "drain_timed_out",
          started: node.started,
          message: "the supervisor's drain timeout ran out",
          lastAgentMessage: node.lastAgentMessage,
          pidsKilled: Array.from(node.pidsKilled),
          exhausted: node.stopCause?._tag === "Exhausted" ? node.stopCause.exhaustion : undefined,
          drainTimedOut: true
        }
        return Deferred.succeed(node.done, undefined)
      })

    // ---- threads an agent spawned itself ----------------------------------------------------------------

    /**
     * An external node lives until its agent reports the thread ended (not a turn of it: the thread runs
     * again on a new turn) or it is told to stop: a stop (not its parent's end, nor its owner's own stop,
     * which end the thread anyway) interrupts the thread through the owner's agent; when the agent cannot,
     * the node still ends, and so does the routing: later requests of the thread get their default
     * answers. Ended with its parent, an idle thread ends with its last turn's outcome.
     */
    const runExternal = (node: TreeNode, external: ExternalNode): Effect.Effect<void> =>
      Effect.gen(function*() {
        const first = yield* Effect.raceFirst(
          Effect.map(Deferred.await(external.ended), (end) => ({ _tag: "Ended" as const, end })),
          Effect.map(Deferred.await(node.stopSignal), (cause) => ({ _tag: "Stop" as const, cause }))
        )
        yield* setState(node, stoppingState)
        const { owner } = external
        let reason: EndReason
        let message: string | undefined
        if (first._tag === "Ended") {
          reason = first.end.reason
          for (const child of node.children) signalSubtree(child, { _tag: "ParentEnded", path: node.path })
        } else if (first.cause._tag === "ParentEnded" && !external.inTurn && external.lastTurn !== undefined) {
          // Idle after its last turn when its parent ended: it did what it was asked; that is how it ended.
          reason = external.lastTurn
          message =
            `ended with its parent ${first.cause.path}: its thread was idle (its last turn ${external.lastTurn})`
        } else {
          reason = first.cause._tag === "Exhausted" ? "budget_exhausted" : "interrupted"
          message = causeMessage(first.cause)
          if (first.cause._tag !== "ParentEnded" && owner.stopCause === undefined && !owner.ended) {
            const interrupt = owner.interruptThread
            const took = interrupt === undefined ? false : yield* interrupt(external.info.threadId).pipe(
              Effect.timeoutOption(drainTimeout),
              Effect.map(Option.getOrElse(() => false))
            )
            if (!took) {
              message = `${message}; ${owner.path}'s agent could not interrupt the thread: its requests ` +
                "get their default answers from now on"
            }
          }
        }
        yield* awaitChildren(node)
        yield* finish(node, reason, { message })
      }).pipe(Effect.onExit(settleRunner(node)))

    /**
     * A thread report is not made a node: remembered (bounded), counted, logged once, and added to the
     * threads to interrupt.
     */
    const refuseThread = (
      owner: TreeNode,
      registry: ThreadRegistry,
      threadId: string,
      why: string,
      toInterrupt: Array<string>
    ) =>
      Effect.gen(function*() {
        if (registry.refused.size < maxRefusedRemembered) registry.refused.set(threadId, why)
        registry.refusedCount++
        if (!registry.warned) {
          registry.warned = true
          yield* Effect.logWarning(
            `${owner.path}: a thread its agent spawned (${Text.oneLine(threadId, 80)}) is not a node of the tree: ` +
              `${why}; its requests get their default answers (further refusals are counted, not logged)`
          )
        }
        toInterrupt.push(threadId)
      })

    const admitThread = (
      owner: TreeNode,
      registry: ThreadRegistry,
      report: ThreadEvent,
      toInterrupt: Array<string>
    ) =>
      Effect.gen(function*() {
        const threadId = report.thread_id
        const parent = report.parent_thread_id === undefined ? owner : registry.nodes.get(report.parent_thread_id)
        const maxThreads = limits.maxThreads ?? defaultMaxThreads
        const why = parent === undefined
          ? `it names a parent thread (${Text.oneLine(report.parent_thread_id ?? "", 80)}) its agent never reported`
          : stopping || parent.ended || parent.stopCause !== undefined
          ? "its parent is stopping"
          : registry.nodes.size >= maxThreads
          ? `its agent reported more than maxThreads (${maxThreads}) threads`
          : limits.maxDepth !== undefined && parent.depth + 1 > limits.maxDepth
          ? `deeper than the tree's maximum depth (${limits.maxDepth})`
          : undefined
        if (parent === undefined || why !== undefined) {
          return yield* refuseThread(owner, registry, threadId, why!, toInterrupt)
        }
        const state = yield* SubscriptionRef.make<NodeState>({ _tag: "Running" })
        const name = freeName(parent, threadNodeName(report.name))
        const info: ExternalThread = {
          threadId,
          parentThreadId: report.parent_thread_id,
          reportedName: report.name,
          role: report.role
        }
        const node = register(
          newNode(
            parent,
            name,
            undefined,
            {
              tokens: remaining(parent.budget.tokens, parent.sub.tokens),
              turns: remaining(parent.budget.turns, parent.sub.turns),
              approvals: remaining(parent.budget.approvals, parent.sub.approvals),
              wallTimeMs: undefined
            },
            undefined,
            {
              info,
              owner,
              ended: Deferred.unsafeMake(FiberId.none),
              source: {
                thread_spawn: {
                  parent_thread_id: report.parent_thread_id ?? owner.delegateId,
                  depth: parent.depth + 1 - owner.depth,
                  agent_nickname: report.name ?? null,
                  agent_role: report.role ?? null
                }
              },
              startedIn: { turnId: report.turn_id, callId: report.call_id }
            }
          ),
          state,
          { _tag: "Running" },
          yield* Clock.currentTimeMillis
        )
        node.started = true
        node.startedAt = yield* Clock.currentTimeMillis
        Deferred.unsafeDone(
          node.handle,
          Exit.fail(
            new NodeNotStarted({
              path: node.path,
              reason: `a thread ${owner.path}'s agent spawned itself: it has no delegate of its own`
            })
          )
        )
        registry.nodes.set(threadId, node)
        yield* FiberSet.run(runners, runExternal(node, node.external!))
      })

    /** The thread reports of a batch of `owner`'s events, in order. */
    const onThreadReports = (owner: TreeNode, reports: ReadonlyArray<unknown>): Effect.Effect<void> =>
      Effect.gen(function*() {
        const toInterrupt: Array<string> = []
        for (const raw of reports) {
          const report = threadEventOf(raw)
          if (report === undefined) continue
          const registry = owner.threads ??= { nodes: new Map(), refused: new Map(), refusedCount: 0, warned: false }
          const known = registry.nodes.get(report.thread_id)
          if (report.event === "started") {
            if (known === undefined && !registry.refused.has(report.thread_id)) {
              yield* admitThread(owner, registry, report, toInterrupt)
            }
            continue
          }
          if (known === undefined || known.ended) continue
          const thread = known.external!
          if (report.event === "turn_started") {
            thread.inTurn = true
            addUsage(known, 0, 1, 0)
          } else if (report.event === "usage") {
            const total = report.total_tokens
            if (total !== undefined && total > known.own.tokens) addUsage(known, total - known.own.tokens, 0, 0)
          } else if (report.event === "turn_ended") {
            // The turn ended, not the thread: it may run another (a follow-up task); its node lives on.
            thread.inTurn = false
            thread.lastTurn = report.reason ?? "completed"
            if (typeof report.last_agent_message === "string") known.lastAgentMessage = report.last_agent_message
          } else {
            if (typeof report.last_agent_message === "string") known.lastAgentMessage = report.last_agent_message
            const reason = report.reason ?? (thread.inTurn ? "interrupted" : thread.lastTurn ?? "completed")
            Deferred.unsafeDone(thread.ended, Exit.succeed({ reason }))
          }
        }
        const interrupt = owner.interruptThread
        if (toInterrupt.length > 0 && interrupt !== undefined && !owner.ended) {
          // One fiber per batch, forked: the agent's answers may come through the very reader this runs in.
          yield* FiberSet.run(
            runners,
            Effect.forEach(toInterrupt, interrupt, { discard: true }).pipe(
              Effect.timeoutOption(drainTimeout),
              Effect.ignore
            )
          )
        }
      })

    /**
     * The node a request of `node`'s delegate is really from: `node`, or the node of the thread it names;
     * a thread that is not a live node of `node`'s agent is a reason to answer with the default.
     */
    const targetOf = (node: TreeNode, request: ApprovalRequest): TreeNode | string => {
      const thread = request.thread
      if (thread === undefined) return node
      const nested = node.threads?.nodes.get(thread.id)
      if (nested === undefined) {
        const refused = node.threads?.refused.get(thread.id)
        return `the thread ${Text.oneLine(thread.id, 80)} that asks is not a node of the tree (${
          refused ?? "its agent never reported it, or it was refused"
        })`
      }
      if (nested.ended || nested.stopCause !== undefined) return `its node ${nested.path} has ended`
      return nested
    }

    // ---- spawning ---------------------------------------------------------------------------------------

    const spawnUnder = (parent: TreeNode, nodeOptions: SpawnNodeOptions) =>
      Effect.gen(function*() {
        yield* ensureParser(nodeOptions.policy)
        const state = yield* SubscriptionRef.make<NodeState>({ _tag: "Starting" })
        const now = yield* Clock.currentTimeMillis
        // From here to the registration nothing yields, so concurrent spawns see each other's names and slots.
        const name = nodeOptions.name
        const problem = nameProblem(name) ?? (parent.childNames.has(name) ? "a sibling has that name" : undefined)
        if (problem !== undefined) {
          return yield* new InvalidNodeName({ name, parent: parent.path, reason: problem })
        }
        const path = `${parent.path}/${name}`
        if (stopping) return yield* new AdmissionRefused({ path, limit: "stopped" })
        if (parent.external !== undefined) return yield* new AdmissionRefused({ path, limit: "external_parent" })
        if (parent !== root && (parent.ended || parent.stopCause !== undefined)) {
          return yield* new AdmissionRefused({ path, limit: "parent_ended" })
        }
        if (limits.maxDepth !== undefined && parent.depth + 1 > limits.maxDepth) {
          return yield* new AdmissionRefused({ path, limit: "maxDepth", value: limits.maxDepth })
        }
        const asked = nodeOptions.budget
        const budget: TreeNode["budget"] = {
          tokens: smaller(asked?.tokens, remaining(parent.budget.tokens, parent.sub.tokens)),
          turns: smaller(asked?.turns, remaining(parent.budget.turns, parent.sub.turns)),
          approvals: smaller(asked?.approvals, remaining(parent.budget.approvals, parent.sub.approvals)),
          wallTimeMs: undefined
        }
        const node = newNode(parent, name, nodeOptions, budget, wallOf(asked))
        const admitNow = queue.length === 0 && fits(node)
        if (!admitNow && onLimit === "fail") {
          const overTree = limits.maxConcurrent !== undefined && running >= limits.maxConcurrent
          return yield* new AdmissionRefused({
            path,
            limit: overTree ? "maxConcurrent" : "maxConcurrentChildren",
            value: overTree ? limits.maxConcurrent : childLimit(parent)
          })
        }
        const admitted = Deferred.unsafeMake<void>(FiberId.none)
        register(node, state, admitNow ? { _tag: "Starting" } : { _tag: "Queued", position: queue.length }, now)
        if (admitNow) {
          take(node)
          Deferred.unsafeDone(admitted, Exit.void)
        } else {
          queue.push({ node, admitted })
          // its place now (the queue may have moved since)
          yield* Effect.suspend(() => {
            const position = queue.findIndex((entry) => entry.node === node)
            return position === -1 ? Effect.void : setState(node, { _tag: "Queued", position })
          })
        }
        yield* FiberSet.run(runners, run(node, admitted))
        return apiOf(node)
      })

    // ---- receipts ---------------------------------------------------------------------------------------

    const receiptOf = (top: TreeNode): Effect.Effect<Receipt> =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const nodes = preorder(top).filter((node) => node !== root).map((node): NodeReceipt => {
          const base = node.receipt ?? {
            path: node.path,
            name: node.name,
            depth: node.depth,
            reason: "interrupted" as const,
            started: node.started,
            message: "still running",
            lastAgentMessage: node.lastAgentMessage,
            pidsKilled: Array.from(node.pidsKilled),
            exhausted: undefined,
            drainTimedOut: false
          }
          return {
            ...base,
            lastAgentMessage: node.lastAgentMessage,
            usage: usageOf(node.own, node, now),
            subtreeUsage: usageOf(node.sub, node, now)
          }
        })
        return {
          nodes,
          usage: usageOf(top.sub, top, now),
          drainTimedOut: nodes.some((node) => node.drainTimedOut)
        }
      })

    /** Waits for a subtree to be done (the root: every node spawned so far and while waiting). */
    const awaitDone = (node: TreeNode): Effect.Effect<void> =>
      node === root ? awaitChildren(root) : Deferred.await(node.done)

    const stopSubtree = (node: TreeNode): Effect.Effect<Receipt> =>
      Effect.gen(function*() {
        yield* Effect.sync(() => {
          if (node === root) stopping = true
          signalSubtree(node, { _tag: "Stopped" })
        })
        yield* awaitDone(node)
        return yield* receiptOf(node)
      })

    const infoOf = (node: TreeNode, now: number, state: NodeState): NodeInfo => ({
      path: node.path,
      name: node.name,
      depth: node.depth,
      parent: node.parent === root ? undefined : node.parent?.path,
      source: node.source,
      delegateId: node.delegateId,
      state,
      usage: usageOf(node.own, node, now),
      subtreeUsage: usageOf(node.sub, node, now),
      budget: effectiveBudget(node),
      ...(node.external === undefined ? {} : { external: node.external.info }),
      ...(node.threads === undefined || node.threads.refusedCount === 0
        ? {}
        : { threadsRefused: node.threads.refusedCount })
    })

    const apiOf = (node: TreeNode): Node => {
      if (node.api !== undefined) return node.api
      const api: Node = {
        path: node.path,
        name: node.name,
        depth: node.depth,
        delegateId: node.delegateId,
        get budget() {
          return effectiveBudget(node)
        },
        state: Effect.suspend(() => stateOf(node)),
        stateChanges: Stream.suspend(() => node.state.changes),
        delegate: Effect.suspend(() => Deferred.await(node.handle)),
        ...(node.external === undefined ? {} : { external: node.external.info }),
        spawn: (childOptions) => spawnUnder(node, childOptions),
        children: Effect.sync(() => node.children.map(apiOf)),
        usage: Effect.map(Clock.currentTimeMillis, (now) => usageOf(node.own, node, now)),
        subtreeUsage: Effect.map(Clock.currentTimeMillis, (now) => usageOf(node.sub, node, now)),
        stop: Effect.suspend(() => stopSubtree(node)),
        ended: Effect.suspend(() => Effect.zipRight(awaitDone(node), receiptOf(node)))
      }
      node.api = api
      return api
    }

    const stopAll = stopSubtree(root)

    const rootWall = root.budget.wallTimeMs
    if (rootWall !== undefined) {
      yield* FiberSet.run(
        runners,
        Effect.zipRight(
          Effect.sleep(Duration.millis(rootWall)),
          Effect.sync(() => exhaust(root, { path: root.path, dimension: "wallTime", limit: rootWall, used: rootWall }))
        )
      )
    }

    // Closing the supervisor's scope stops the tree, bounded by the drain timeout (then the runners are
    // interrupted and the nodes' scopes closed, which reaps what is left).
    yield* Effect.addFinalizer(() =>
      stopAll.pipe(Effect.interruptible, Effect.timeoutOption(Duration.sum(drainTimeout, Duration.seconds(1))))
    )

    const pendingUnder = (path: string = treeName) => (all: ReadonlyArray<ApprovalInbox.PendingApproval>) =>
      path === treeName ? all : all.filter((pending) => isUnder(pending.request.path, path))

    const service: SupervisorService = {
      name: treeName,
      spawn: (nodeOptions) => spawnUnder(root, nodeOptions),
      inbox,
      node: (path) =>
        Effect.sync(() => {
          const found = byPath.get(path)
          return found === undefined || found === root ? Option.none() : Option.some(apiOf(found))
        }),
      nodes: Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const all = preorder(root).filter((node) => node !== root)
        const states = yield* Effect.forEach(all, stateOf)
        return all.map((node, i) => infoOf(node, now, states[i]!))
      }),
      changes,
      pendingUnder: (path) => Effect.map(inbox.pending, pendingUnder(path)),
      pendingChanges: (path) => Stream.map(inbox.changes, pendingUnder(path)),
      usage: Effect.map(Clock.currentTimeMillis, (now) => usageOf(root.sub, root, now)),
      stop: stopAll,
      awaitIdle: Effect.zipRight(awaitChildren(root), receiptOf(root))
    }
    return service
  })
