/**
 * How a run answers the sub-agent's requests: the policy file's rules first, then the `--approval` mode
 * (`ask` a person at the terminal, `approve`, `deny`). Every answer carries who decided it
 * (`DecidedBy`), read by the reporters from the settlement, never re-derived.
 *
 * @since 0.1.0
 */
import { CodexAgent } from "@deputy/codex"
import { ApprovalRequest, Approvals, DecidedBy } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import type * as Terminal from "@effect/platform/Terminal"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { UsageError } from "./Errors.js"
import * as Accepts from "./internal/Accepts.js"
import * as Text from "./internal/Text.js"
import * as JsonOutput from "./JsonOutput.js"
import * as LedgerSetup from "./LedgerSetup.js"
import { Output } from "./Output.js"
import * as Render from "./Render.js"
import * as TerminalApprovals from "./TerminalApprovals.js"

/**
 * What answers the requests no policy rule decides. `inbox` (0.2.0): nobody in this process; each request
 * waits in the approval ledger until `deputy approve|deny ID` answers it from anywhere, or its deadline.
 *
 * @since 0.1.0
 * @category models
 */
export type ApprovalMode = "ask" | "approve" | "deny" | "inbox"

/**
 * A run's approval set-up. `defaulted`: the mode was not given and follows from the terminal (ask on a
 * terminal, deny without one).
 *
 * @since 0.1.0
 * @category models
 */
export interface ApprovalSetup {
  readonly mode: ApprovalMode
  readonly defaulted: boolean
  readonly rules: ReadonlyArray<Approvals.PolicyRule>
  /** `--remember-to FILE`: where accepted "approve and remember" rules are also written. @since 0.2.0 */
  readonly rememberTo?: string | undefined
  /** `--json`: remembered and revoked rules are written as `rule` records. @since 0.2.0 */
  readonly json?: boolean | undefined
}

/**
 * The mode when none is given: ask when a person can answer (stdin and stderr are terminals), deny
 * otherwise (fail closed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultMode = (interactiveTerminal: boolean): ApprovalMode => interactiveTerminal ? "ask" : "deny"

/**
 * Who decided a settled request, as 0.1 told it: the person, a policy rule (0-based index), or the mode;
 * `Other` for the deciders 0.2 added. Every variant carries the exact `decidedBy` it was read from.
 *
 * @since 0.1.0
 * @category models
 * @deprecated since 0.2.0: read `ApprovalSettlement.decidedBy` (a `DecidedBy.DecidedBy`).
 */
export type Decider =
  | { readonly _tag: "User"; readonly decidedBy?: DecidedBy.DecidedBy | undefined }
  | { readonly _tag: "Policy"; readonly rule: number; readonly decidedBy?: DecidedBy.DecidedBy | undefined }
  | {
    readonly _tag: "Mode"
    readonly mode: "approve" | "deny"
    readonly defaulted: boolean
    readonly decidedBy?: DecidedBy.DecidedBy | undefined
  }
  | { readonly _tag: "Other"; readonly decidedBy: DecidedBy.DecidedBy }

/**
 * Who decided a request, read from the settlement's `decidedBy` (never re-derived; `setup` is unused):
 * `undefined` when nobody did (a deadline or a cancellation).
 *
 * @since 0.1.0
 * @category attribution
 * @deprecated since 0.2.0: read `settlement.decidedBy`; `DecidedBy.describe` says it in words.
 */
export const decidedBy = (
  _setup: ApprovalSetup,
  settlement: ApprovalRequest.ApprovalSettlement
): Decider | undefined => {
  const by = settlement.decidedBy
  switch (by._tag) {
    case "Person":
      return { _tag: "User", decidedBy: by }
    case "PolicyRule":
      return { _tag: "Policy", rule: by.index, decidedBy: by }
    case "Fixed":
      return {
        _tag: "Mode",
        mode: by.setting.includes("approve") ? "approve" : "deny",
        defaulted: false,
        decidedBy: by
      }
    case "Default":
      return { _tag: "Mode", mode: "deny", defaulted: true, decidedBy: by }
    case "Deadline":
    case "Cancelled":
      return undefined
    default:
      return { _tag: "Other", decidedBy: by }
  }
}

/**
 * A decider for people, in 0.1's words: `you`, `policy rule 2`, `--approval approve`,
 * `default (no terminal)`, `default (end of input)`; the deciders 0.2 added as `DecidedBy.describe`.
 *
 * @since 0.1.0
 * @category attribution
 * @deprecated since 0.2.0: use `DecidedBy.describe(settlement.decidedBy)`.
 */
export const describeDecider = (decider: Decider | undefined): string => {
  if (decider === undefined) return "nobody"
  switch (decider._tag) {
    case "User":
      return "you"
    case "Policy":
      return `policy rule ${decider.rule + 1}`
    case "Mode":
      return decider.defaulted
        ? `default (${decider.decidedBy?._tag === "Default" ? decider.decidedBy.why : "no terminal"})`
        : `--approval ${decider.mode}`
    case "Other":
      return DecidedBy.describe(decider.decidedBy)
  }
}

/**
 * Answers every request the same way, saying who decided: `approve` approves commands and patches and
 * grants permissions as asked; `deny` denies and grants nothing. No questions are answered.
 */
const fixedLayer = (mode: "approve" | "deny", by: DecidedBy.DecidedBy): Layer.Layer<Approvals.Approvals> =>
  Layer.succeed(Approvals.Approvals, {
    command: () => Effect.succeed(DecidedBy.decided(mode === "approve" ? "approved" : "denied", by)),
    patch: () => Effect.succeed(DecidedBy.decided(mode === "approve" ? "approved" : "denied", by)),
    permissions: (request) =>
      Effect.succeed(
        DecidedBy.decided(mode === "approve" ? Option.some(Approvals.grantRequested(request)) : Option.none(), by)
      ),
    userInput: () => Effect.succeed(DecidedBy.decided(Option.none(), by)),
    elicitation: (request) =>
      Effect.succeed(
        DecidedBy.decided(ApprovalRequest.elicitationAnswerOf(mode === "approve" ? "approve" : "deny", request), by)
      )
  })

/**
 * Who answers in a fixed mode: `--approval approve|deny` when given, the default when not (no terminal).
 *
 * @since 0.2.0
 * @category attribution
 */
export const modeDecider = (setup: ApprovalSetup): DecidedBy.DecidedBy =>
  setup.defaulted ? { _tag: "Default", why: "no terminal" } : { _tag: "Fixed", setting: `--approval ${setup.mode}` }

const person: DecidedBy.DecidedBy = { _tag: "Person", channel: "terminal" }

const attribute = <A>(answer: DecidedBy.Answer<A>): DecidedBy.Answer<A> =>
  DecidedBy.isDecided(answer) ? answer : DecidedBy.decided(answer, person)

/**
 * The terminal's answers, each attributed: what the prompt says (`Person` with the key, or `Default`
 * for the end of input) passes unchanged; a bare answer is the person at the terminal.
 */
const terminalLayer = (
  setup: ApprovalSetup,
  options: { readonly cwd?: string | undefined; readonly onInterrupt: Effect.Effect<void> }
): Layer.Layer<Approvals.Approvals, never, Terminal.Terminal | Output> =>
  Layer.effect(
    Approvals.Approvals,
    Effect.map(Approvals.Approvals, (prompt): Approvals.ApprovalsService => ({
      command: (request) => Effect.map(prompt.command(request), attribute),
      patch: (request) => Effect.map(prompt.patch(request), attribute),
      permissions: (request) => Effect.map(prompt.permissions(request), attribute),
      userInput: (request) => Effect.map(prompt.userInput(request), attribute),
      ...(prompt.elicitation === undefined ? {} : {
        elicitation: (request: ApprovalRequest.ElicitationRequest) =>
          Effect.map(prompt.elicitation!(request), attribute)
      })
    }))
  ).pipe(Layer.provide(Layer.unwrapEffect(Effect.map(Output, (output) =>
    TerminalApprovals.layer({
      cwd: options.cwd,
      onInterrupt: options.onInterrupt,
      rememberTo: setup.rememberTo,
      onRuleChange: setup.json === true
        ? (change) => output.print(JsonOutput.ruleLine(JsonOutput.ruleRecord(change)))
        : undefined
    })))))

/**
 * The `Approvals` of a run: the policy's rules (relative globs in `cwd`) over the mode's answers. `ask`
 * prompts on the terminal; Ctrl-C at a prompt runs `onInterrupt`. Every answer says who decided.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  setup: ApprovalSetup,
  options: {
    readonly cwd?: string | undefined
    readonly onInterrupt: Effect.Effect<void>
    /** `inbox`: the deadline, to warn at 80 % of it. @since 0.2.0 */
    readonly deadline?: Duration.Duration | undefined
  }
): Layer.Layer<Approvals.Approvals, never, Terminal.Terminal | Output> => {
  const base = setup.mode === "ask"
    ? terminalLayer(setup, options)
    : setup.mode === "inbox"
    ? inboxLayer(options.cwd, options.deadline)
    : fixedLayer(setup.mode, modeDecider(setup))
  return setup.rules.length === 0
    ? base
    : Approvals.layerPolicy(setup.rules, { workspace: options.cwd ?? process.cwd() }).pipe(Layer.provide(base))
}

/**
 * `--approval inbox` below the ledger: nobody here answers; each request is announced on stderr with the
 * commands that answer it, and waits (the ledger's middleware races this with the answer from elsewhere
 * and the deadline).
 */
const inboxLayer = (
  cwd: string | undefined,
  deadline: Duration.Duration | undefined
): Layer.Layer<Approvals.Approvals, never, Output> =>
  Layer.effect(Approvals.Approvals, Effect.map(Output, (output) => inboxService(output, cwd, deadline)))

/** The `inbox` answers: none; each request is announced with the commands that answer it, and waits. */
const inboxService = (
  output: Effect.Effect.Success<typeof Output>,
  cwd: string | undefined,
  deadline: Duration.Duration | undefined
): Approvals.ApprovalsService => {
  const wait = (request: ApprovalRequest.ApprovalRequest) =>
    Effect.zipRight(
      output.note(
        `${output.terminalStyle.yellow("⧗ waiting in the ledger")}: ${
          Text.oneLine(Render.describeRequest(request, cwd), 160)
        }\n  answer it with: ${
          request.kind === "elicitation" || request.kind === "user_input"
            ? Accepts.answerHint(request)
            : `deputy approve ${Text.visible(request.id)}   or: deputy deny ${Text.visible(request.id)} --reason "..."`
        }`
      ),
      deadline === undefined ? Effect.never : Effect.sleep(Duration.times(deadline, 0.8)).pipe(
        Effect.zipRight(output.note(
          `${output.terminalStyle.yellow("⏱ deadline near")}: ${Text.visible(request.id)} times out in ${
            Render.duration(Duration.toMillis(deadline) * 0.2)
          } unless answered`
        )),
        Effect.zipRight(Effect.never)
      )
    )
  return { command: wait, patch: wait, permissions: wait, userInput: wait, elicitation: wait }
}

/**
 * A run's `Approvals` with the ledger (0.2.0): every request is recorded pending in the `ApprovalLedger`
 * before the policy or the mode sees it, and its settlement appended. On start, the requests left
 * pending by dead `deputy` processes of this host are settled `lost` (shown on stderr); a decision that
 * was recorded but never reached its child is re-sent, without asking anyone, only to the very request
 * it was given for (`LedgerSetup.sameRequest`): replayed by the same durable Codex thread, or asked again
 * in this run's working directory (recorded with every request) within `resendWithin` of the decision;
 * each re-send is said on stderr (and with `--json` as a `resent` record), naming the old request, who
 * decided and when, and why; a decision of the same question not reused is said too. `deadline`
 * (`--approval-timeout`) is the ledger's: a warning entry at 80 %, then `timed_out`. In `inbox` mode
 * answers come from `deputy approve|deny`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerRecorded = (
  setup: ApprovalSetup,
  options: {
    readonly cwd?: string | undefined
    readonly onInterrupt: Effect.Effect<void>
    readonly deadline?: Duration.Duration | undefined
    /** How far back to look for dead deputies' requests, to reattach or re-send (default: 7 days). */
    readonly resendWindow?: Duration.Duration | undefined
    /**
     * How long after a decision it is re-sent to the same request asked again in this working directory
     * (default `LedgerSetup.defaultResendWithin`, 15 minutes; the old request's deadline bounds it too).
     *
     * @since 0.2.0
     */
    readonly resendWithin?: Duration.Duration | undefined
  }
): Layer.Layer<
  Approvals.Approvals,
  ApprovalLedger.LedgerError,
  Terminal.Terminal | Output | ApprovalLedger.ApprovalLedger
> =>
  Layer.effect(
    Approvals.Approvals,
    Effect.gen(function*() {
      const ledger = yield* ApprovalLedger.ApprovalLedger
      const output = yield* Output
      const style = output.terminalStyle
      const now = yield* Clock.currentTimeMillis
      const window = options.resendWindow === undefined ? 7 * 24 * 3_600_000 : Duration.toMillis(options.resendWindow)
      // A durable Codex of a dead deputy still runs: reattached below instead of settled lost.
      const theirs: Array<string> = []
      const reattachable = yield* LedgerSetup.reattachable(
        now - window,
        (point, reason) =>
          output.note(
            `${style.yellow("ledger")}: the Codex at ${Text.visible(point.socketPath)} is not reattached: ${
              Text.visible(reason)
            }`
          ),
        LedgerSetup.isAlive,
        {
          // Another user's durable Codex: its requests are left pending for its owner's next deputy.
          foreign: (point, reason, requestIds) =>
            Effect.zipRight(
              Effect.sync(() => void theirs.push(...requestIds)),
              output.note(
                `${style.yellow("ledger")}: the Codex at ${Text.visible(point.socketPath)} is another user's (${
                  Text.visible(reason)
                }); its ${requestIds.length} pending request${requestIds.length === 1 ? "" : "s"} are left to them`
              )
            )
        }
      )
      const lost = yield* LedgerSetup.settleDead(
        LedgerSetup.isAlive,
        new Set([...theirs, ...reattachable.flatMap((found) => found.entries.map((entry) => entry.requestId))])
      )
      const shownLost = 10
      if (lost.length > shownLost) {
        yield* output.note(
          `${style.yellow("ledger")}: ${lost.length} requests of dead deputy processes settled lost; the first ` +
            `${shownLost} below, all with: deputy log --outcome lost`
        )
      }
      for (const entry of lost.slice(0, shownLost)) {
        yield* output.note(
          `${style.yellow("ledger")}: ${Text.visible(entry.requestId)} settled lost: ${
            Text.visible(entry.data.reason ?? "its process is gone")
          }`
        )
      }
      const found = yield* LedgerSetup.undelivered(now - window)
      const inner = yield* Approvals.Approvals
      // Said like any decision: on stderr, and with --json as a `resent` record before its `approval` record.
      const resent = (request: ApprovalRequest.ApprovalRequest, from: LedgerSetup.Undelivered, why = "") => {
        const at = new Date(from.decided.at).toISOString()
        return Effect.zipRight(
          output.note(
            `${style.yellow("ledger")}: ${Text.visible(request.id)} was asked before (${
              Text.visible(from.request.id)
            }) and decided by ${Text.visible(DecidedBy.describe(from.decidedBy))} at ${at}; that answer is sent ` +
              `again, nobody is asked${why === "" ? "" : `: ${Text.visible(why)}`}`
          ),
          setup.json === true
            ? output.print(JsonOutput.resentLine({
              deputy: "resent",
              id: request.id,
              from: from.request.id,
              decided_by: from.decidedBy,
              decided_at: at,
              why
            }))
            : Effect.void
        )
      }
      const reattachOf = (request: ApprovalRequest.ApprovalRequest) =>
        CodexAgent.reattachPointOf(request.event.turn_id ?? "")
      const workspace = LedgerSetup.workspaceOf(options.cwd ?? process.cwd())
      const resend: LedgerSetup.ResendOptions = {
        workspace,
        within: options.resendWithin,
        childOf: reattachOf,
        onNotResent: (request, from, why) =>
          output.note(
            `${style.yellow("ledger")}: ${Text.visible(request.id)} is asked: the decision of the same question ` +
              `(${Text.visible(from.request.id)}, by ${Text.visible(DecidedBy.describe(from.decidedBy))} at ${
                new Date(from.decided.at).toISOString()
              }) that its dead deputy never passed on is not reused: ${Text.visible(why)}`
          )
      }
      const middleware = (remote: boolean) => ({
        remote,
        deadline: options.deadline,
        reattachOf,
        originOf: () => ({ workspace }),
        onFailure: (request: ApprovalRequest.ApprovalRequest, error: unknown) =>
          output.note(
            `${style.red("ledger")}: could not record ${Text.visible(request.id)} (${
              Text.visible(error instanceof Error ? error.message : String(error))
            }); it was answered with the fail-closed default`
          )
      })
      const recorded = ledger.approvals(
        yield* LedgerSetup.resending(found, inner, resent, resend),
        middleware(setup.mode === "inbox")
      )
      // Reattached only by a run in `inbox` mode: another run would block its own start on answers from
      // elsewhere. The requests stay pending meanwhile (`deputy approve|deny` them); the Codex waits.
      const reattaching = setup.mode === "inbox" ? reattachable : []
      for (const dead of setup.mode === "inbox" ? [] : reattachable) {
        yield* output.note(
          `${
            style.yellow("ledger")
          }: a Codex (pid ${dead.point.pid}) a dead deputy left waits with ${dead.entries.length} request${
            dead.entries.length === 1 ? "" : "s"
          } pending; they are left pending (deputy inbox lists ` +
            `them); a run with --approval inbox reattaches it and finishes its turn`
        )
      }
      // The orphaned turn was asked in `inbox` mode (only it runs Codex durable): it is answered as it
      // would have been, from the ledger (a decision re-sent, `deputy approve|deny`, the deadline), never
      // by this run's rules (a policy file written for another directory, maybe).
      const orphaned = reattaching.length === 0 ? recorded : ledger.approvals(
        yield* LedgerSetup.resending(found, inboxService(output, options.cwd, options.deadline), resent, resend),
        middleware(true)
      )
      for (const dead of reattaching) {
        yield* output.note(
          `${
            style.yellow("ledger")
          }: reattaching to the Codex (pid ${dead.point.pid}) a dead deputy left with ${dead.entries.length} request${
            dead.entries.length === 1 ? "" : "s"
          } pending; its turn goes on`
        )
        const ended = yield* LedgerSetup.reattach(dead, orphaned, { resend: found, since: now - window })
        yield* output.note(`${style.yellow("ledger")}: the reattached Codex (pid ${dead.point.pid}): ${ended}`)
      }
      return recorded
    })
  ).pipe(Layer.provide(layer(setup, options)))

/**
 * The `Approvals` of a run and the delegate's own deadline, from `--ledger` (0.2.0): with a ledger,
 * `layerRecorded` (the ledger owns `--approval-timeout`; the delegate's deadline, a second later, only
 * answers when the ledger could not). The default ledger that cannot be opened does not stop a run (it
 * is said on stderr, and requests are answered as without a ledger); one asked for, or needed by
 * `inbox`, does. `inbox` with `--ledger off` is a usage error.
 *
 * @since 0.2.0
 * @category layers
 */
export const forRun = (
  setup: ApprovalSetup,
  options: {
    readonly cwd?: string | undefined
    readonly onInterrupt: Effect.Effect<void>
    readonly approvalTimeout: Duration.Duration | undefined
    readonly ledger: Option.Option<string>
  }
): Either.Either<{
  readonly approvals: Layer.Layer<Approvals.Approvals, ApprovalLedger.LedgerError, Terminal.Terminal | Output>
  readonly delegateTimeout: Duration.Duration | undefined
}, UsageError> =>
  Either.flatMap(LedgerSetup.parse(options.ledger, "run"), (ledger) => {
    const plain = layer(setup, options)
    if (ledger._tag === "Off") {
      return setup.mode === "inbox"
        ? Either.left(
          new UsageError({
            message:
              "--approval inbox needs a ledger to wait in; drop --ledger off (or give sqlite:PATH, postgres:URL)",
            command: "run"
          })
        )
        : Either.right({ approvals: plain, delegateTimeout: options.approvalTimeout })
    }
    const approvals = layerRecorded(setup, { ...options, deadline: options.approvalTimeout }).pipe(
      Layer.provide(LedgerSetup.layer(ledger)),
      Layer.catchAll((error) =>
        setup.mode === "inbox" || Option.isSome(options.ledger)
          ? Layer.fail(error)
          : Layer.unwrapEffect(Effect.as(
            Effect.flatMap(Output, (out) =>
              out.note(
                `${out.terminalStyle.yellow("ledger")}: ${
                  Text.visible(error.message)
                }; this run's requests are not recorded (--ledger off says so explicitly)`
              )),
            plain
          ))
      )
    )
    const delegateTimeout = options.approvalTimeout === undefined
      ? undefined
      : Duration.sum(options.approvalTimeout, Duration.seconds(1))
    return Either.right({ approvals, delegateTimeout })
  })
