/**
 * How a run answers the sub-agent's requests: the policy file's rules first, then the `--approval` mode
 * (`ask` a person at the terminal, `approve`, `deny`), and who decided each settled request.
 *
 * @since 0.1.0
 */
import type { ApprovalRequest } from "@deputy/core"
import { Approvals } from "@deputy/core"
import type * as Terminal from "@effect/platform/Terminal"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Output } from "./Output.js"
import * as PolicyFile from "./PolicyFile.js"
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
 * Who decided a settled request: the person, a policy rule (0-based index), or the mode.
 *
 * @since 0.1.0
 * @category models
 */
export type Decider =
  | { readonly _tag: "User" }
  | { readonly _tag: "Policy"; readonly rule: number }
  | { readonly _tag: "Mode"; readonly mode: "approve" | "deny"; readonly defaulted: boolean }

/**
 * Who decided a request that was answered (`undefined` for timed-out and aborted ones: nobody did).
 *
 * @since 0.1.0
 * @category attribution
 */
export const decidedBy = (
  setup: ApprovalSetup,
  settlement: ApprovalRequest.ApprovalSettlement
): Decider | undefined => {
  if (settlement.outcome === "timed_out" || settlement.outcome === "aborted") return undefined
  const rule = PolicyFile.decidingRule(setup.rules, settlement.request)
  if (rule !== undefined) return { _tag: "Policy", rule }
  return setup.mode === "ask" ? { _tag: "User" } : { _tag: "Mode", mode: setup.mode, defaulted: setup.defaulted }
}

/**
 * A decider for people: `you`, `policy rule 2`, `--approval approve`, `default (no terminal)`.
 *
 * @since 0.1.0
 * @category attribution
 */
export const describeDecider = (decider: Decider | undefined): string => {
  if (decider === undefined) return "nobody"
  switch (decider._tag) {
    case "User":
      return "you"
    case "Policy":
      return `policy rule ${decider.rule + 1}`
    case "Mode":
      return decider.defaulted ? "default (no terminal)" : `--approval ${decider.mode}`
  }
}

/**
 * The `Approvals` of a run: the policy's rules over the mode's answers. `ask` prompts on the terminal;
 * Ctrl-C at a prompt runs `onInterrupt`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  setup: ApprovalSetup,
  options: { readonly cwd?: string | undefined; readonly onInterrupt: Effect.Effect<void> }
): Layer.Layer<Approvals, never, Terminal.Terminal | Output> => {
  const base = setup.mode === "ask"
    ? TerminalApprovals.layer({ cwd: options.cwd, onInterrupt: options.onInterrupt })
    : setup.mode === "approve"
    ? Approvals.layerApproveAll
    : Approvals.layerDenyAll
  return setup.rules.length === 0 ? base : Approvals.layerPolicy(setup.rules).pipe(Layer.provide(base))
}
