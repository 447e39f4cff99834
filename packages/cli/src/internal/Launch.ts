/**
 * What `deputy run` and `deputy demo` share once their options are read: settle how requests are
 * answered, build the run's layers (output, reporter, approvals, the agent) and provide them once, run
 * the session, and turn its outcome into the program's exit.
 *
 * @since 0.1.0
 */
import type { AgentSpawner, Errors } from "@deputy/core"
import type { ApprovalLedger } from "@deputy/ledger"
import type { SessionSource } from "@deputy/protocol"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Terminal from "@effect/platform/Terminal"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ApprovalSetup from "../ApprovalSetup.js"
import { RunFailed, UsageError } from "../Errors.js"
import * as Output from "../Output.js"
import * as PolicyFile from "../PolicyFile.js"
import * as Reporter from "./Reporter.js"
import * as Session from "./Session.js"
import * as Signals from "./Signals.js"
import type * as Tasks from "./Tasks.js"

/**
 * A run, as the commands describe it.
 *
 * @since 0.1.0
 * @category models
 */
export interface LaunchOptions {
  readonly input: string | undefined
  readonly interactive: boolean
  readonly cwd: string
  readonly source: SessionSource.SubAgentSource
  readonly config?: Readonly<Record<string, unknown>> | undefined
  readonly json: boolean
  readonly approval: Option.Option<ApprovalSetup.ApprovalMode>
  readonly policy: Option.Option<string>
  /** `--remember-to FILE`. @since 0.2.0 */
  readonly rememberTo?: Option.Option<string> | undefined
  readonly drainTimeout: Option.Option<Duration.Duration>
  readonly approvalTimeout: Option.Option<Duration.Duration>
  /** `--ledger`: where requests are recorded (absent: the default SQLite file). @since 0.2.0 */
  readonly ledger?: Option.Option<string> | undefined
  /** Lines shown before the run (not in JSON output). */
  readonly banner?: ReadonlyArray<string> | undefined
  /** Several tasks, run as siblings (`Session.runTasks`) instead of one `input`. @since 0.2.0 */
  readonly tree?: {
    readonly tasks: ReadonlyArray<Tasks.Task>
    readonly maxConcurrent: number
    readonly failFast: boolean
  } | undefined
}

/**
 * The approval mode: the one asked for, else ask on a terminal and deny without one. `ask` without a
 * terminal is a usage error (nobody could answer).
 *
 * @since 0.1.0
 * @category approvals
 */
export const approvalMode = (
  requested: Option.Option<ApprovalSetup.ApprovalMode>,
  interactiveTerminal: boolean
): Either.Either<{ readonly mode: ApprovalSetup.ApprovalMode; readonly defaulted: boolean }, UsageError> =>
  Option.match(requested, {
    onNone: () => Either.right({ mode: ApprovalSetup.defaultMode(interactiveTerminal), defaulted: true }),
    onSome: (mode) =>
      mode === "ask" && !interactiveTerminal
        ? Either.left(
          new UsageError({
            message: "--approval ask needs a terminal to ask on (stdin and stderr must be a TTY); " +
              "use --approval approve|deny, or a --policy file"
          })
        )
        : Either.right({ mode, defaulted: false })
  })

/**
 * Runs a session with `agent` as the spawner: fails with `RunFailed` (the exit code) when it did not
 * succeed, after everything was reported.
 *
 * @since 0.1.0
 * @category running
 */
export const launch = <E extends { readonly message: string }, R>(
  options: LaunchOptions,
  agent: Layer.Layer<AgentSpawner.AgentSpawner, E, R>
): Effect.Effect<
  void,
  UsageError | PolicyFile.PolicyFileError | Errors.SpawnError | RunFailed | ApprovalLedger.LedgerError | E,
  R | FileSystem.FileSystem | Terminal.Terminal
> =>
  Effect.gen(function*() {
    const terminal = yield* Terminal.Terminal
    const interactiveTerminal = yield* terminal.isTTY
    const { defaulted, mode } = yield* approvalMode(options.approval, interactiveTerminal)
    const rules = Option.isSome(options.policy) ? yield* PolicyFile.load(options.policy.value) : []
    const setup: ApprovalSetup.ApprovalSetup = {
      mode,
      defaulted,
      rules,
      rememberTo: Option.getOrUndefined(options.rememberTo ?? Option.none()),
      json: options.json
    }

    const display = Reporter.layerFor(options).pipe(Layer.provideMerge(Output.layer({ statusLine: !options.json })))
    // ledger-cli: every request is recorded in the ledger (unless --ledger off), which owns the deadline.
    const { approvals, delegateTimeout } = yield* ApprovalSetup.forRun(setup, {
      cwd: options.cwd,
      onInterrupt: Signals.interruptSelf,
      approvalTimeout: Option.getOrUndefined(options.approvalTimeout),
      ledger: options.ledger ?? Option.none()
    })

    const outcome = yield* Effect.gen(function*() {
      const reporter = yield* Reporter.Reporter
      const started = yield* Clock.currentTimeMillis
      const lines = options.json ? undefined : options.banner
      if (lines !== undefined) yield* Effect.flatMap(Output.Output, (out) => out.print(out.style.dim(lines.join("\n"))))
      if (options.tree !== undefined) {
        return yield* Session.runTasks({
          ...options.tree,
          cwd: options.cwd,
          source: options.source,
          config: options.config,
          drainTimeout: Option.getOrUndefined(options.drainTimeout),
          approvalTimeout: Option.getOrUndefined(options.approvalTimeout),
          approvals: setup,
          json: options.json
        }).pipe(Effect.provide(Layer.merge(approvals, agent)))
      }
      return yield* Session.run({
        input: options.input,
        interactive: options.interactive,
        cwd: options.cwd,
        source: options.source,
        config: options.config,
        drainTimeout: Option.getOrUndefined(options.drainTimeout),
        approvalTimeout: delegateTimeout,
        approvals: setup,
        showPrompt: interactiveTerminal
      }).pipe(
        Effect.provide(Layer.merge(approvals, agent)),
        // The sub-agent could not be started (by the delegate, or already by the agent's layer).
        Effect.tapError((error) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => reporter.startFailed(error.message, now - started))
        )
      )
    }).pipe(Effect.provide(display))
    if (outcome.exitCode !== 0) return yield* new RunFailed({ exitCode: outcome.exitCode })
  })
