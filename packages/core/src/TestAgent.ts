/**
 * A child you drive from a test: emit its events, read what it received, end it, crash it, make it hang.
 * By default it behaves like Codex: `interrupt` during a turn → `turn_aborted{interrupted}`,
 * `shutdown` → `shutdown_complete` and the end of its events.
 *
 * @since 0.1.0
 */
import type { Event, EventMsg, Submission } from "@deputy/protocol"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Agent from "./Agent.js"
import { AgentSpawner, type SpawnOptions } from "./AgentSpawner.js"
import { AgentClosed, AgentExited, type SpawnError } from "./Errors.js"

/**
 * How the test child behaves.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestAgentOptions {
  /** Answer `interrupt` and `shutdown` like Codex (default `true`). */
  readonly autoRespond?: boolean | undefined
  /** Ignore `shutdown`: never acknowledge it, never end (default `false`). */
  readonly hangOnShutdown?: boolean | undefined
  /** Events the child buffers before `emit` waits for the delegate to read (default 64). */
  readonly capacity?: number | undefined
  /** Runs during each spawn, in the child's scope: hold the spawn open on a `Deferred`, acquire, or fail. */
  readonly onSpawn?: ((options: SpawnOptions) => Effect.Effect<void, SpawnError, Scope.Scope>) | undefined
  /**
   * Runs, in order, after each submission the child receives (after the default behaviour); the controls
   * it gets act on the child that received the submission (since 0.2.0; before, on the latest child).
   * One that fails or dies crashes the child (`AgentExited`, the failure in its reason) rather than being
   * lost (since 0.2.0).
   */
  readonly onSubmission?:
    | ((submission: Submission.Submission, child: TestAgentService) => Effect.Effect<void>)
    | undefined
}

/**
 * What drives one test child: its events, its turns, what it received, its end.
 *
 * @since 0.2.0
 * @category models
 */
export interface TestAgentControls {
  /**
   * Emits an event message (its id defaults to the current turn's id, `""` outside a turn) or a whole
   * `Event` (`{id, msg}`, emitted as given). Waits while the buffer is full.
   */
  readonly emit: (event: EventMsg.EventMsg | Event.Event, id?: string) => Effect.Effect<void>
  /** Emits several, in order, in one offer. */
  readonly emitAll: (events: Iterable<EventMsg.EventMsg | Event.Event>, id?: string) => Effect.Effect<void>
  /** Starts a turn (`task_started`) for the last `user_input` received, or `id`; returns the turn id. */
  readonly startTurn: (id?: string) => Effect.Effect<string>
  /** Completes the current turn with an agent message and `task_complete`. */
  readonly completeTurn: (message?: string) => Effect.Effect<void>
  /** Every submission received, in order. */
  readonly received: Effect.Effect<ReadonlyArray<Submission.Submission>>
  /** Waits for a submission matching `predicate` (already received or future). */
  readonly awaitSubmission: (
    predicate: (submission: Submission.Submission) => boolean
  ) => Effect.Effect<Submission.Submission>
  /** Waits for a submission whose op has this `type`. */
  readonly awaitOp: (type: string) => Effect.Effect<Submission.Submission>
  /** Ends the child's events cleanly (it exited). */
  readonly end: Effect.Effect<void>
  /** Ends the child's events with a crash. */
  readonly crash: (exit?: { readonly code?: number; readonly reason?: string }) => Effect.Effect<void>
}

/**
 * One spawned test child (`TestAgent.child(n)`, `TestAgent.children`): the service's controls bound to that
 * child, with the options it was spawned with.
 *
 * @since 0.2.0
 * @category models
 */
export interface TestAgentChild extends TestAgentControls {
  /** Its place among the spawns (0 = the first). */
  readonly index: number
  /** What it was spawned with (source, cwd, config). */
  readonly spawnOptions: SpawnOptions
  /** Whether its scope has closed (the delegate released it). */
  readonly released: Effect.Effect<boolean>
}

/**
 * The controls of the test child (the most recently spawned one), and of every child (`child(n)`,
 * `children`, `awaitChild`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TestAgentService extends TestAgentControls {
  /** Switches hang-on-shutdown on or off. */
  readonly setHangOnShutdown: (hang: boolean) => Effect.Effect<void>
  /** How many children were spawned, and how many of them were released (their scope closed). */
  readonly spawned: Effect.Effect<number>
  readonly released: Effect.Effect<number>
  /** Waits until a child has been spawned. */
  readonly awaitSpawn: Effect.Effect<void>
  /** The children spawned so far, in spawn order. @since 0.2.0 */
  readonly children: Effect.Effect<ReadonlyArray<TestAgentChild>>
  /** The `n`th child spawned (0 = the first), waiting for it. @since 0.2.0 */
  readonly child: (n: number) => Effect.Effect<TestAgentChild>
  /** The first child (spawned or future) whose spawn options match, waiting for it. @since 0.2.0 */
  readonly awaitChild: (predicate: (options: SpawnOptions) => boolean) => Effect.Effect<TestAgentChild>
}

/** An `Event` has `id` and `msg` and no `type`; an `EventMsg` always has a `type`. */
const isEvent = (item: EventMsg.EventMsg | Event.Event): item is Event.Event => !("type" in item) && "msg" in item

interface Child {
  readonly index: number
  readonly spawnOptions: SpawnOptions
  readonly events: Agent.EventChannel
  readonly submissions: Array<Submission.Submission>
  /** Reactions run in order by one fiber (forked while there are some), as a real child reads its stdin in order. */
  readonly reactions: Array<Effect.Effect<void>>
  reacting: boolean
  /** The fiber running the reactions, while one does; the child's finalizer interrupts it. */
  reactor: Fiber.RuntimeFiber<void> | undefined
  turn: { readonly eventId: string; readonly turnId: string } | undefined
  lastInputId: string | undefined
  closed: boolean
}

/**
 * Fibers waiting for a value to show up: each waits for the first one its predicate accepts. Plain fields
 * (no `SubscriptionRef`, no stream per wait): a test child costs little, so thousands of them can run.
 */
class Waiters<A> {
  private waiting: Set<(value: A) => boolean> | undefined

  /** The first of `existing` that matches, or the first future one offered to `notify`. */
  await<B extends A>(existing: () => ReadonlyArray<A>, predicate: (value: A) => value is B): Effect.Effect<B>
  await(existing: () => ReadonlyArray<A>, predicate: (value: A) => boolean): Effect.Effect<A>
  await(existing: () => ReadonlyArray<A>, predicate: (value: A) => boolean): Effect.Effect<A> {
    return Effect.suspend(() => {
      const found = existing().find(predicate)
      if (found !== undefined) return Effect.succeed(found)
      return Effect.async<A>((resume) => {
        const waiter = (value: A) => {
          if (!predicate(value)) return false
          resume(Effect.succeed(value))
          return true
        }
        ;(this.waiting ??= new Set()).add(waiter)
        return Effect.sync(() => void this.waiting?.delete(waiter))
      })
    })
  }

  notify(value: A): void {
    if (this.waiting === undefined) return
    for (const waiter of this.waiting) if (waiter(value)) this.waiting.delete(waiter)
  }
}

/**
 * Builds the test child's controls and its `AgentSpawner`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: TestAgentOptions = {}) =>
  Effect.sync(() => {
    let latest: Child | undefined
    const all: Array<Child> = []
    const spawnWaiters = new Waiters<Child>()
    let spawnedCount = 0
    let releasedCount = 0
    let hangOnShutdown = options.hangOnShutdown ?? false
    const autoRespond = options.autoRespond ?? true
    const submissionWaiters = new WeakMap<Child, Waiters<Submission.Submission>>()
    const allChildren = () => all

    /** The latest child; waits for the first spawn. */
    const child: Effect.Effect<Child> = Effect.suspend(() =>
      latest !== undefined ? Effect.succeed(latest) : spawnWaiters.await(allChildren, () => true)
    )

    const track = (state: Child, event: Event.Event) => {
      if (event.msg.type === "task_started") {
        state.turn = { eventId: event.id, turnId: String(event.msg.turn_id ?? event.id) }
      } else if (event.msg.type === "task_complete" || event.msg.type === "turn_aborted") {
        state.turn = undefined
      }
    }

    /** Emits in one offer (waits while the child's buffer is full), tracking turns as it goes. */
    const emitTo = (state: Child, items: Iterable<EventMsg.EventMsg | Event.Event>, id?: string) =>
      Effect.suspend(() => Effect.asVoid(state.events.offerAll(toEvents(state, items, id))))

    const waitersOf = (state: Child): Waiters<Submission.Submission> => {
      let waiters = submissionWaiters.get(state)
      if (waiters === undefined) submissionWaiters.set(state, waiters = new Waiters())
      return waiters
    }

    /** The events of one emit: a loop of its own, so it stays optimized whatever calls it. */
    const toEvents = (state: Child, items: Iterable<EventMsg.EventMsg | Event.Event>, id: string | undefined) => {
      const batch: Array<Event.Event> = Array.isArray(items) ? new Array(items.length) : []
      let count = 0
      for (const item of items) {
        const event: Event.Event = isEvent(item) ? item : { id: id ?? state.turn?.eventId ?? "", msg: item }
        const type = event.msg.type
        if (type === "task_started" || type === "task_complete" || type === "turn_aborted") track(state, event)
        batch[count++] = event
      }
      batch.length = count
      return batch
    }

    /** The controls bound to one child (or to the latest, through `child`). */
    const controls = (target: Effect.Effect<Child>) => {
      const bound = {
        emit: (msg: EventMsg.EventMsg | Event.Event, id?: string) =>
          Effect.flatMap(target, (state) => emitTo(state, [msg], id)),
        emitAll: (msgs: Iterable<EventMsg.EventMsg | Event.Event>, id?: string) =>
          Effect.flatMap(target, (state) => emitTo(state, msgs, id)),
        startTurn: (id?: string) =>
          Effect.flatMap(target, (state) => {
            const turnId = id ?? state.lastInputId ?? "turn-1"
            return Effect.as(emitTo(state, [{ type: "task_started", turn_id: turnId }], turnId), turnId)
          }),
        completeTurn: (message = "done") =>
          Effect.flatMap(target, (state) => {
            const turnId = state.turn?.turnId ?? ""
            return emitTo(state, [{ type: "agent_message", message }, {
              type: "task_complete",
              turn_id: turnId,
              last_agent_message: message
            }])
          }),
        received: Effect.flatMap(target, (state) =>
          Effect.sync((): ReadonlyArray<Submission.Submission> => state.submissions.slice())),
        awaitSubmission: (predicate: (submission: Submission.Submission) => boolean) =>
          Effect.flatMap(target, (state) =>
            waitersOf(state).await(() => state.submissions, predicate)),
        awaitOp: (type: string) => bound.awaitSubmission((submission) => submission.op.type === type),
        end: Effect.flatMap(target, (state) => state.events.end),
        crash: (exit: { readonly code?: number; readonly reason?: string } = {}) =>
          Effect.flatMap(target, (state) =>
            state.events.fail(
              new AgentExited({ code: exit.code ?? 1, reason: exit.reason ?? "the test child crashed" })
            ))
      }
      return bound
    }

    const childControls = (state: Child): TestAgentChild => ({
      ...controls(Effect.succeed(state)),
      index: state.index,
      spawnOptions: state.spawnOptions,
      released: Effect.sync(() => state.closed)
    })

    const awaitChildState = (predicate: (state: Child) => boolean): Effect.Effect<Child> =>
      spawnWaiters.await(allChildren, predicate)

    const service: TestAgentService = {
      ...controls(child),
      setHangOnShutdown: (hang) => Effect.sync(() => void (hangOnShutdown = hang)),
      spawned: Effect.sync(() => spawnedCount),
      released: Effect.sync(() => releasedCount),
      awaitSpawn: Effect.asVoid(child),
      children: Effect.sync(() => all.map(childControls)),
      child: (n) => Effect.map(awaitChildState((state) => state.index === n), childControls),
      awaitChild: (predicate) => Effect.map(awaitChildState((state) => predicate(state.spawnOptions)), childControls)
    }

    const react = (state: Child, submission: Submission.Submission): Effect.Effect<void> => {
      const op = submission.op
      const reactions: Array<Effect.Effect<void>> = []
      if (op.type === "user_input") state.lastInputId = submission.id
      // With nothing queued, a reaction runs at once: an interrupt with no turn to abort has nothing to do.
      const idle = !state.reacting && state.reactions.length === 0 && state.turn === undefined
      if (autoRespond && op.type === "interrupt" && !idle) {
        reactions.push(Effect.suspend(() => {
          const turn = state.turn
          return turn === undefined
            ? Effect.void
            : emitTo(state, [{ type: "turn_aborted", turn_id: turn.turnId, reason: "interrupted" }], turn.eventId)
        }))
      }
      if (autoRespond && op.type === "shutdown") {
        reactions.push(Effect.suspend(() =>
          hangOnShutdown
            ? Effect.void
            : Effect.zipRight(emitTo(state, [{ type: "shutdown_complete" }], ""), state.events.end)
        ))
      }
      if (options.onSubmission) {
        // bound to the child that received it (the latest one, as before, when there is one child)
        reactions.push(options.onSubmission(submission, { ...service, ...controls(Effect.succeed(state)) }))
      }
      return Effect.suspend(() => {
        state.reactions.push(...reactions)
        if (state.reacting || state.reactions.length === 0) return Effect.void
        state.reacting = true
        // Started at once, in the child's scope: the reaction runs until it waits, then the submitter goes on.
        // A reaction that fails or dies crashes the child with it (no observer would see it otherwise, and
        // the reactions after it would wait forever).
        // One fiber for the reactions pending now (not a scope per reaction: thousands of children close at
        // once in the benchmarks); the child's finalizer interrupts the one left running.
        return Effect.map(Effect.runtime<never>(), (runtime) => {
          const reactor = Runtime.runFork(
            runtime,
            Effect.catchAllCause(Effect.interruptible(runReactions(state)), (cause) => reactionFailed(state, cause))
          )
          if (reactor.unsafePoll() === null) {
            state.reactor = reactor
            reactor.addObserver(() => {
              if (state.reactor === reactor) state.reactor = undefined
            })
          }
        })
      })
    }

    /** A reaction failed (not interrupted): the child crashes with the failure; the reactions left are dropped. */
    const reactionFailed = (state: Child, cause: Cause.Cause<never>): Effect.Effect<void> =>
      Cause.isInterruptedOnly(cause) ? Effect.void : Effect.suspend(() => {
        state.reactions.length = 0
        state.reacting = false
        return Effect.asVoid(state.events.fail(
          new AgentExited({ code: 1, reason: `the test child's reaction failed: ${String(Cause.squash(cause))}` })
        ))
      })

    /** Runs the child's reactions in order until none is left (a submission forks it again). */
    const runReactions = (state: Child): Effect.Effect<void> =>
      Effect.suspend(() => {
        const next = state.reactions.shift()
        if (next === undefined) {
          state.reacting = false
          return Effect.void
        }
        return Effect.zipRight(next, runReactions(state))
      })

    const spawner: Context.Tag.Service<AgentSpawner> = {
      spawn: (spawnOptions) =>
        Effect.gen(function*() {
          if (options.onSpawn) {
            yield* options.onSpawn(spawnOptions)
          }
          const state: Child = {
            index: spawnedCount++,
            spawnOptions,
            events: Agent.makeChannel(options.capacity ?? 64),
            submissions: [],
            reactions: [],
            reacting: false,
            reactor: undefined,
            turn: undefined,
            lastInputId: undefined,
            closed: false
          }
          // On the scope itself (`Effect.addFinalizer` would save and patch the fiber refs around it).
          yield* Scope.addFinalizer(
            yield* Effect.scope,
            Effect.fiberIdWith((self) => {
              state.closed = true
              const reactor = state.reactor
              state.reactor = undefined
              // A reaction may close the child's scope itself: it is not interrupted by its own finalizer.
              const stop = reactor === undefined || reactor.id() === self
                ? Effect.void
                : Fiber.interrupt(reactor)
              return Effect.zipRight(stop, Effect.zipRight(state.events.end, Effect.sync(() => void releasedCount++)))
            })
          )
          latest = state
          all.push(state)
          spawnWaiters.notify(state)
          return yield* Agent.make({
            name: "test-agent",
            submitWithId: (submission) =>
              Effect.suspend(() => {
                if (state.closed || state.events.isDone) {
                  return Effect.fail(new AgentClosed({ reason: "the test child has ended" }))
                }
                state.submissions.push(submission)
                submissionWaiters.get(state)?.notify(submission)
                return react(state, submission)
              }),
            events: state.events
          })
        })
    }
    return { service, spawner } as const
  })

/**
 * A child you drive from a test (`yield* TestAgent.TestAgent`): `TestAgent.layer(options)` provides it with
 * the `AgentSpawner` that hands it out; `TestAgent.make(options)` builds both without a layer.
 *
 * @since 0.1.0
 * @category tags
 */
export class TestAgent extends Context.Tag("@deputy/core/TestAgent")<TestAgent, TestAgentService>() {}

/**
 * A layer with a test child: `AgentSpawner` hands out the child, `TestAgent` drives it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: TestAgentOptions = {}): Layer.Layer<TestAgent | AgentSpawner> =>
  Layer.effectContext(
    Effect.map(
      make(options),
      ({ service, spawner }) => Context.make(TestAgent, service).pipe(Context.add(AgentSpawner, spawner))
    )
  )
