/**
 * A supervised tree of delegates: nodes with paths (`root/review/tests`) started under a supervisor or
 * under another node, admitted under concurrency and depth limits, bounded by budgets carved out of their
 * parent's, answering through one tree inbox with the full provenance chain, and stopped with a receipt.
 *
 * @since 0.2.0
 */
import type { SessionSource } from "@deputy/protocol"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { AgentSpawner } from "./AgentSpawner.js"
import type { ApprovalInboxService, InboxOptions, PendingApproval } from "./ApprovalInbox.js"
import type { PolicyOptions, PolicyRule } from "./Approvals.js"
import type * as Delegate from "./Delegate.js"
import * as internal from "./internal/supervisor/tree.js"
import * as Text from "./Text.js"

/**
 * Why a node ended: a delegate's end reason, `budget_exhausted` (its subtree's budget, or an ancestor's,
 * ran out: see `NodeReceipt.exhausted`), or `spawn_failed` (its agent could not be started, or it was
 * stopped while still queued for admission).
 *
 * @since 0.2.0
 * @category models
 */
export type EndReason = Delegate.EndReason | "budget_exhausted" | "spawn_failed"

/**
 * What a subtree may use. Every field is optional (absent = no limit of its own; the parent's remaining
 * still caps it). `wallTime` counts from the node's start.
 *
 * @since 0.2.0
 * @category budgets
 */
export interface Budget {
  /** Tokens (`total_tokens` of the children's `token_count` events), over the whole subtree. */
  readonly tokens?: number | undefined
  /** Wall time from the node's start. */
  readonly wallTime?: Duration.DurationInput | undefined
  /** Turns started (`task_started`), over the whole subtree. */
  readonly turns?: number | undefined
  /** Approval requests asked, over the whole subtree. */
  readonly approvals?: number | undefined
}

/**
 * What a node (or a subtree) used: tokens, wall time in ms, turns started, approval requests asked.
 *
 * @since 0.2.0
 * @category budgets
 */
export interface Usage {
  readonly tokens: number
  readonly wallTimeMs: number
  readonly turns: number
  readonly approvals: number
}

/**
 * A node's effective limits after carving: each is the smaller of what was asked and what its parent had
 * left when it started (`undefined` = unlimited). `wallTimeMs` in ms.
 *
 * @since 0.2.0
 * @category budgets
 */
export interface EffectiveBudget {
  readonly tokens: number | undefined
  readonly wallTimeMs: number | undefined
  readonly turns: number | undefined
  readonly approvals: number | undefined
}

/**
 * Which budget ran out: the node whose budget it was, the dimension, the limit and what the subtree had
 * used when it ran out.
 *
 * @since 0.2.0
 * @category budgets
 */
export interface Exhaustion {
  readonly path: string
  readonly dimension: "tokens" | "wallTime" | "turns" | "approvals"
  readonly limit: number
  readonly used: number
}

/**
 * Concurrency and depth limits. `maxConcurrent` counts running nodes in the whole tree,
 * `maxConcurrentChildren` running children of one parent (the root included); `maxDepth` is the deepest
 * level allowed (a root-level node has depth 1). Over a concurrency limit a spawn waits in a FIFO queue
 * (`onLimit: "wait"`, the default) or fails with `AdmissionRefused` (`"fail"`); over `maxDepth` it always
 * fails.
 *
 * @since 0.2.0
 * @category admission
 */
export interface Limits {
  readonly maxConcurrent?: number | undefined
  readonly maxConcurrentChildren?: number | undefined
  readonly maxDepth?: number | undefined
  readonly onLimit?: "wait" | "fail" | undefined
  /**
   * How many threads one node's agent may report it spawned itself (`ThreadEvent`) as nodes, over its
   * whole life (default `defaultMaxThreads`). Past it, a reported thread is not a node: it is interrupted
   * through its agent when the agent allows, its requests get their default answers, and the refusal is
   * counted (`NodeInfo.threadsRefused`) and logged once.
   *
   * @since 0.2.0
   */
  readonly maxThreads?: number | undefined
}

/**
 * The default of `Limits.maxThreads`.
 *
 * @since 0.2.0
 * @category admission
 */
export const defaultMaxThreads = 256

/**
 * What siblings do when one of them fails (ends other than `completed` or `interrupted`): carry on
 * (`continue`, the default) or stop (`fail_fast`: the failing node's siblings and their subtrees are
 * stopped).
 *
 * @since 0.2.0
 * @category models
 */
export type FailurePolicy = "continue" | "fail_fast"

/**
 * The options of a node besides its delegate's: its name (unique among its siblings, no `/`, no control
 * characters, 1 to 64 characters), its budget, the policy rules it adds (they can only narrow what its
 * ancestors' rules allow) and what its children do when one of them fails.
 *
 * @since 0.2.0
 * @category models
 */
export interface NodeSettings {
  readonly name: string
  readonly budget?: Budget | undefined
  readonly policy?: ReadonlyArray<PolicyRule> | undefined
  readonly childFailure?: FailurePolicy | undefined
  /**
   * Limits of this node's own children: how many may run at once (default: the tree's
   * `maxConcurrentChildren`; it can only be lower).
   */
  readonly limits?: { readonly maxConcurrentChildren?: number | undefined } | undefined
  /**
   * The parent's turn and tool call in which this node was started (e.g. Codex's `spawn_agent` call),
   * carried into the provenance chain of its requests.
   */
  readonly startedIn?: { readonly turnId?: string | undefined; readonly callId?: string | undefined } | undefined
}

/**
 * How to start a node: an interactive delegate (`DelegateOptions`) or, with `input`, a one-shot one
 * (`OneShotOptions`), plus the node's settings.
 *
 * @since 0.2.0
 * @category models
 */
export type SpawnNodeOptions =
  | (NodeSettings & Delegate.DelegateOptions & { readonly input?: undefined })
  | (NodeSettings & Delegate.OneShotOptions)

/**
 * Where a node is in its life: waiting for admission (its place in the FIFO queue, 0 = next), starting,
 * running, stopping (told to stop — a stop, a budget, a failing sibling, its parent's end — or its
 * delegate ended and its children are being stopped), or ended.
 *
 * @since 0.2.0
 * @category admission
 */
export type NodeState =
  | { readonly _tag: "Queued"; readonly position: number }
  | { readonly _tag: "Starting" }
  | { readonly _tag: "Running" }
  | { readonly _tag: "Stopping" }
  | { readonly _tag: "Ended"; readonly reason: EndReason }

/**
 * What a node left behind: its path, end reason, last agent message, own usage and subtree usage, the
 * pids its stop ended (processes of its agent still running when its scope closed), which budget ran out,
 * and whether its drain ran out of time.
 *
 * @since 0.2.0
 * @category receipts
 */
export interface NodeReceipt {
  readonly path: string
  readonly name: string
  readonly depth: number
  readonly reason: EndReason
  /** Whether its delegate ever started (false: refused, failed to spawn, or stopped while queued). */
  readonly started: boolean
  readonly message?: string | undefined
  readonly lastAgentMessage: string | null
  /** This node's own usage. */
  readonly usage: Usage
  /** This node's and its descendants' usage (wall time: this node's). */
  readonly subtreeUsage: Usage
  readonly pidsKilled: ReadonlyArray<number>
  readonly exhausted?: Exhaustion | undefined
  readonly drainTimedOut: boolean
}

/**
 * The receipt of a stop (or of the tree's end): one entry per node of the stopped subtree, parents before
 * children, the usage of the whole, and whether the one drain timeout ran out before every node ended.
 *
 * @since 0.2.0
 * @category receipts
 */
export interface Receipt {
  readonly nodes: ReadonlyArray<NodeReceipt>
  readonly usage: Usage
  readonly drainTimedOut: boolean
}

/**
 * A node as listed: path, name, depth, state, source, delegate id (once started), own and subtree usage
 * and its effective budget.
 *
 * @since 0.2.0
 * @category models
 */
export interface NodeInfo {
  readonly path: string
  readonly name: string
  readonly depth: number
  readonly parent: string | undefined
  readonly source: SessionSource.SubAgentSource
  readonly delegateId: string
  readonly state: NodeState
  readonly usage: Usage
  readonly subtreeUsage: Usage
  readonly budget: EffectiveBudget
  /**
   * Set for a node Deputy did not spawn: a thread its parent's agent started itself and reported
   * (`ThreadEvent`, e.g. a Codex `spawn_agent` sub-agent). It has no delegate of its own: its requests come
   * through the delegate of the node that owns the thread (`delegateId`).
   *
   * @since 0.2.0
   */
  readonly external?: ExternalThread | undefined
  /**
   * How many threads this node's agent reported that did not become nodes (over `maxThreads` or
   * `maxDepth`, or naming a parent thread it never reported).
   *
   * @since 0.2.0
   */
  readonly threadsRefused?: number | undefined
}

/**
 * What is known of an external node's thread: its id, its parent thread (absent: the agent's own), its
 * name and role as the agent reported them (untrusted: show them through `Text`).
 *
 * @since 0.2.0
 * @category threads
 */
export interface ExternalThread {
  readonly threadId: string
  readonly parentThreadId?: string | undefined
  readonly reportedName?: string | undefined
  readonly role?: string | undefined
}

/**
 * The event type an agent emits to report a thread it spawned itself (a Codex `spawn_agent` sub-agent; a
 * process agent may emit it too). Under a supervisor each reported thread becomes a node under the
 * reporting node (or under the node of its parent thread), whose state follows these events and whose
 * requests (those naming the thread in `ApprovalRequest.threadField`) carry its path and chain.
 *
 * @since 0.2.0
 * @category threads
 */
export const threadEventType = "deputy_thread" as const

/**
 * A thread report: `started` (with the parent's turn and call that spawned it), `turn_started` (counted
 * as a turn of the node), `usage` (the thread's own total tokens so far), `turn_ended` (a turn of the
 * thread ended, with its outcome and last message: the thread lives on, idle, and may run another turn,
 * e.g. a Codex `followup_task`) and `ended` (the thread itself ended, e.g. Codex's `thread/closed`; its
 * reason, when absent, is its last turn's outcome). A thread that never reports `ended` ends with the node
 * that owns it: idle, with its last turn's outcome; mid-turn (or before any turn), `interrupted`.
 * `parent_thread_id` absent means the agent's own thread.
 *
 * @since 0.2.0
 * @category threads
 */
export interface ThreadEvent {
  readonly type: typeof threadEventType
  readonly event: "started" | "turn_started" | "usage" | "turn_ended" | "ended"
  readonly thread_id: string
  readonly parent_thread_id?: string | undefined
  readonly name?: string | undefined
  readonly role?: string | undefined
  readonly turn_id?: string | undefined
  readonly call_id?: string | undefined
  readonly total_tokens?: number | undefined
  readonly reason?: "completed" | "interrupted" | "errored" | undefined
  readonly last_agent_message?: string | null | undefined
}

const threadEvents: ReadonlySet<string> = new Set(["started", "turn_started", "usage", "turn_ended", "ended"])
const threadReasons: ReadonlySet<string> = new Set(["completed", "interrupted", "errored"])

/**
 * A thread report read from an event message (it comes from the child: anything malformed is ignored,
 * fields of the wrong type are dropped, the id is at most 200 characters).
 *
 * @since 0.2.0
 * @category threads
 */
export const threadEventOf = (msg: unknown): ThreadEvent | undefined => {
  if (typeof msg !== "object" || msg === null) return undefined
  const fields = msg as Record<string, unknown>
  const text = (value: unknown) => typeof value === "string" ? value : undefined
  const id = text(fields.thread_id)
  const event = text(fields.event)
  if (fields.type !== threadEventType || id === undefined || id.length === 0 || id.length > 200) return undefined
  if (event === undefined || !threadEvents.has(event)) return undefined
  const reason = text(fields.reason)
  const tokens = fields.total_tokens
  const last = fields.last_agent_message
  return {
    type: threadEventType,
    event: event as ThreadEvent["event"],
    thread_id: id,
    parent_thread_id: text(fields.parent_thread_id),
    name: text(fields.name),
    role: text(fields.role),
    turn_id: text(fields.turn_id),
    call_id: text(fields.call_id),
    total_tokens: typeof tokens === "number" && Number.isFinite(tokens) && tokens >= 0 ? tokens : undefined,
    reason: reason !== undefined && threadReasons.has(reason) ? reason as ThreadEvent["reason"] : undefined,
    last_agent_message: text(last) ?? (last === null ? null : undefined)
  }
}

/**
 * A change of the tree, as `SupervisorService.changes` streams them: a `Snapshot` of every node first,
 * then every node `Added` (with its state then) and every `StateChanged` (the state as `Node.state`
 * reports it, `Stopping` included from the moment a stop is asked for), in the order they happened.
 *
 * @since 0.2.0
 * @category models
 */
export type TreeChange =
  | { readonly _tag: "Snapshot"; readonly nodes: ReadonlyArray<NodeInfo> }
  | { readonly _tag: "Added"; readonly node: NodeInfo }
  | { readonly _tag: "StateChanged"; readonly path: string; readonly state: NodeState }

/**
 * A node of the tree. `delegate` waits until it is admitted and started (fails with `NodeNotStarted` if it
 * never starts); `spawn` starts a child under it; `stop` stops its subtree and returns the receipt.
 *
 * @since 0.2.0
 * @category models
 */
export interface Node {
  readonly path: string
  readonly name: string
  readonly depth: number
  /** The delegate id (known from the start; the delegate uses it once it starts). */
  readonly delegateId: string
  readonly budget: EffectiveBudget
  readonly state: Effect.Effect<NodeState>
  /** The node's state as it changes (current value first). */
  readonly stateChanges: Stream.Stream<NodeState>
  readonly delegate: Effect.Effect<Delegate.DelegateHandle, NodeNotStarted>
  /** Set for a thread its parent's agent spawned itself (see `NodeInfo.external`). @since 0.2.0 */
  readonly external?: ExternalThread | undefined
  /** Starts a child under this node (see `SupervisorService.spawn`). */
  readonly spawn: (options: SpawnNodeOptions) => Effect.Effect<Node, SpawnRefused>
  readonly children: Effect.Effect<ReadonlyArray<Node>>
  /** This node's own usage so far. */
  readonly usage: Effect.Effect<Usage>
  /** This node's and its descendants' usage so far. */
  readonly subtreeUsage: Effect.Effect<Usage>
  /** Stops this node and its subtree (pending requests answered with defaults) and returns the receipt. */
  readonly stop: Effect.Effect<Receipt>
  /** Waits until this node and its whole subtree have ended, and returns their receipt. */
  readonly ended: Effect.Effect<Receipt>
}

/**
 * A spawn was refused: over a concurrency limit with `onLimit: "fail"` (`limit` says which), deeper than
 * `maxDepth`, under a node that has ended, or after the supervisor stopped.
 *
 * @since 0.2.0
 * @category errors
 */
export class AdmissionRefused extends Schema.TaggedError<AdmissionRefused>("@deputy/core/AdmissionRefused")(
  "AdmissionRefused",
  {
    path: Schema.String,
    limit: Schema.Literal(
      "maxConcurrent",
      "maxConcurrentChildren",
      "maxDepth",
      "parent_ended",
      "stopped",
      "external_parent"
    ),
    value: Schema.optional(Schema.Number)
  }
) {
  override get message(): string {
    switch (this.limit) {
      case "maxDepth":
        return `cannot start ${this.path}: deeper than the tree's maximum depth (${this.value})`
      case "parent_ended":
        return `cannot start ${this.path}: its parent has ended`
      case "stopped":
        return `cannot start ${this.path}: the supervisor is stopping`
      case "external_parent":
        return `cannot start ${this.path}: its parent is a thread its agent spawned itself (no delegate of its own)`
      default:
        return `cannot start ${this.path}: ${this.limit} (${this.value}) reached; raise the limit or use onLimit: "wait"`
    }
  }
}

/**
 * A node name is not usable: empty, longer than 64 characters, with `/` or a control character, or
 * taken by a sibling.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidNodeName extends Schema.TaggedError<InvalidNodeName>("@deputy/core/InvalidNodeName")(
  "InvalidNodeName",
  { name: Schema.String, parent: Schema.String, reason: Schema.String }
) {
  override get message(): string {
    // the name comes from a sub-agent: escaped (no raw C1 controls or bidi) and cut
    return `cannot start a node named "${Text.oneLine(this.name, 80)}" under ${
      Text.oneLine(this.parent, 200)
    }: ${this.reason}`
  }
}

/**
 * Why a spawn was refused.
 *
 * @since 0.2.0
 * @category errors
 */
export type SpawnRefused = AdmissionRefused | InvalidNodeName

/**
 * A node's delegate never started: its spawn failed, or it was stopped while queued.
 *
 * @since 0.2.0
 * @category errors
 */
export class NodeNotStarted extends Schema.TaggedError<NodeNotStarted>("@deputy/core/NodeNotStarted")(
  "NodeNotStarted",
  { path: Schema.String, reason: Schema.String }
) {
  override get message(): string {
    return `node ${this.path} did not start: ${this.reason}`
  }
}

/**
 * The supervisor's options: the tree's name (the root of every path, default `root`), the whole tree's
 * budget, limits, policy rules (the root level: every node's requests pass them first), what root-level
 * siblings do when one fails, the one drain timeout of a stop (default 2 s; each delegate's own
 * `drainTimeout` defaults to it), and the inbox the tree answers through (default: a new one, deadlines
 * as `inboxOptions` say).
 *
 * @since 0.2.0
 * @category models
 */
export interface SupervisorOptions {
  readonly name?: string | undefined
  readonly budget?: Budget | undefined
  readonly limits?: Limits | undefined
  readonly policy?: ReadonlyArray<PolicyRule> | undefined
  readonly policyOptions?: PolicyOptions | undefined
  readonly childFailure?: FailurePolicy | undefined
  readonly drainTimeout?: Duration.DurationInput | undefined
  readonly inbox?: ApprovalInboxService | undefined
  readonly inboxOptions?: InboxOptions | undefined
}

/**
 * The supervisor. `spawn` starts a root-level node; `inbox` is the one inbox of the whole tree (requests
 * carry `path` and `chain`); `pendingUnder(path)` lists the pending requests of a subtree, oldest first;
 * `stop` stops the whole tree and returns its receipt (closing the supervisor's scope does the same).
 *
 * @since 0.2.0
 * @category models
 */
export interface SupervisorService {
  readonly name: string
  readonly spawn: (options: SpawnNodeOptions) => Effect.Effect<Node, SpawnRefused>
  readonly inbox: ApprovalInboxService
  /** The node at a path (`root/review/tests`), if any. */
  readonly node: (path: string) => Effect.Effect<Option.Option<Node>>
  /** Every node, parents before children. */
  readonly nodes: Effect.Effect<ReadonlyArray<NodeInfo>>
  /**
   * The tree as it changes: a snapshot, then every node added and every state change in order; nothing
   * that happens after the snapshot is missed, nothing in it is repeated. Usage is not streamed (read
   * `nodes`).
   */
  readonly changes: Stream.Stream<TreeChange>
  /** The pending requests of the subtree at `path` (the whole tree by default), oldest first. */
  readonly pendingUnder: (path?: string) => Effect.Effect<ReadonlyArray<PendingApproval>>
  /** The same as a stream of lists (current value first). */
  readonly pendingChanges: (path?: string) => Stream.Stream<ReadonlyArray<PendingApproval>>
  /** The whole tree's usage so far. */
  readonly usage: Effect.Effect<Usage>
  /** Stops the whole tree and returns its receipt (every node, ever started or queued). */
  readonly stop: Effect.Effect<Receipt>
  /** Waits until every node spawned so far has ended, and returns the receipt. */
  readonly awaitIdle: Effect.Effect<Receipt>
}

/**
 * Whether a request's node path is `path` or below it (`root/review` covers `root/review/tests`, not
 * `root/reviewer`).
 *
 * @since 0.2.0
 * @category inbox
 */
export const isUnder = (requestPath: string | undefined, path: string): boolean =>
  requestPath !== undefined && (requestPath === path || requestPath.startsWith(path + "/"))

/**
 * Builds a supervisor in the current scope; closing the scope stops the tree. Nodes spawn through the
 * `AgentSpawner` in context; requests no policy decides go to the tree inbox.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (
  options?: SupervisorOptions
) => Effect.Effect<SupervisorService, never, Scope.Scope | AgentSpawner> = internal.make

/**
 * The supervisor (`yield* Supervisor`): `Supervisor.layer(options)` builds one for the layer's scope
 * from the `AgentSpawner` in context.
 *
 * @since 0.2.0
 * @category tags
 */
export class Supervisor extends Context.Tag("@deputy/core/Supervisor")<Supervisor, SupervisorService>() {}

/**
 * A layer with a supervisor, stopped when the layer's scope closes.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: SupervisorOptions = {}): Layer.Layer<Supervisor, never, AgentSpawner> =>
  Layer.scoped(Supervisor, make(options))
