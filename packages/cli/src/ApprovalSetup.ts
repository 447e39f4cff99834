/**
 * How a run answers the sub-agent's requests: the policy file's rules first, then the `--approval` mode
 * (`ask` a person at the terminal, `approve`, `deny`). Every answer carries who decided it
 * (`DecidedBy`), read by the reporters from the settlement, never re-derived.
 *
 * @since 0.1.0
 */
import type { ApprovalRequest } from "@deputy/core"
import { Approvals, DecidedBy } from "@deputy/core"
import type * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { Output } from "./Output.js"
import * as TerminalApprovals from "./TerminalApprovals.js"

/**
 * What answers the requests no policy rule decides.
 *
 * @since 0.1.0
 * @category models
 */
export type ApprovalMode = "ask" | "approve" | "deny"

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
const fixedLayer = (mode: "approve" | "deny", by: DecidedBy.DecidedBy): Layer.Layer<Approvals> =>
  Layer.succeed(Approvals, {
    command: () => Effect.succeed(DecidedBy.decided(mode === "approve" ? "approved" : "denied", by)),
    patch: () => Effect.succeed(DecidedBy.decided(mode === "approve" ? "approved" : "denied", by)),
    permissions: (request) =>
      Effect.succeed(
        DecidedBy.decided(mode === "approve" ? Option.some(Approvals.grantRequested(request)) : Option.none(), by)
      ),
    userInput: () => Effect.succeed(DecidedBy.decided(Option.none(), by))
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
  options: { readonly cwd?: string | undefined; readonly onInterrupt: Effect.Effect<void> }
): Layer.Layer<Approvals, never, Terminal.Terminal | Output> =>
  Layer.effect(
    Approvals,
    Effect.map(Approvals, (prompt): Approvals.Service => ({
      command: (request) => Effect.map(prompt.command(request), attribute),
      patch: (request) => Effect.map(prompt.patch(request), attribute),
      permissions: (request) => Effect.map(prompt.permissions(request), attribute),
      userInput: (request) => Effect.map(prompt.userInput(request), attribute)
    }))
  ).pipe(Layer.provide(TerminalApprovals.layer({ cwd: options.cwd, onInterrupt: options.onInterrupt })))

/**
 * The `Approvals` of a run: the policy's rules (relative globs in `cwd`) over the mode's answers. `ask`
 * prompts on the terminal; Ctrl-C at a prompt runs `onInterrupt`. Every answer says who decided.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  setup: ApprovalSetup,
  options: { readonly cwd?: string | undefined; readonly onInterrupt: Effect.Effect<void> }
): Layer.Layer<Approvals, never, Terminal.Terminal | Output> => {
  const base = setup.mode === "ask"
    ? terminalLayer(options)
    : fixedLayer(setup.mode, modeDecider(setup))
  return setup.rules.length === 0
    ? base
    : Approvals.layerPolicy(setup.rules, { workspace: options.cwd ?? process.cwd() }).pipe(Layer.provide(base))
}
