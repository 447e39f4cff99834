/**
 * One run of a sub-agent from start to end, as the CLI shows it: a one-shot turn, or an interactive
 * session that reads further prompts until the end of input. Events, settled requests and the end go to
 * the `Reporter`. On interruption (Ctrl-C) the sub-agent is shut down and drained — what the drain brings
 * is still shown — and the end is reported before the program exits.
 *
 * @since 0.1.0
 */
import type { AgentSpawner, SpawnError } from "@deputy/core"
import { Approvals, Delegate } from "@deputy/core"
import type { Event, SubAgentSource } from "@deputy/protocol"
import { textInput } from "@deputy/protocol"
import * as Terminal from "@effect/platform/Terminal"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as ApprovalSetup from "./ApprovalSetup.js"
import { Output } from "./Output.js"
import * as Render from "./Render.js"
import { Reporter } from "./Reporter.js"

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
): Effect.Effect<Outcome, SpawnError, AgentSpawner | Approvals | Reporter | Output | Terminal.Terminal> =>
  Effect.gen(function*() {
    const reporter = yield* Reporter
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
