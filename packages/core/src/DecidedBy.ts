/**
 * Who (or what) decided a request: carried with every answer from the decider to the settlement, the
 * inbox's settlements and the CLI's records, and never re-derived after the fact.
 *
 * @since 0.2.0
 */
import * as Schema from "effect/Schema"

/**
 * A person answered: at the terminal (`channel: "terminal"`, with the `key` pressed), or through another
 * client that identifies a person (`name`).
 *
 * @since 0.2.0
 * @category models
 */
export const Person = Schema.TaggedStruct("Person", {
  channel: Schema.String,
  key: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String)
})

/**
 * A policy rule decided: its index in the ordered rules (0-based), the rule as written, and the file it
 * came from, if any.
 *
 * @since 0.2.0
 * @category models
 */
export const PolicyRule = Schema.TaggedStruct("PolicyRule", {
  index: Schema.Number,
  rule: Schema.Unknown,
  file: Schema.optional(Schema.String)
})

/**
 * A fixed setting decided everything of its kind: `approve-all`, `deny-all`, `--approval approve`.
 *
 * @since 0.2.0
 * @category models
 */
export const Fixed = Schema.TaggedStruct("Fixed", { setting: Schema.String })

/**
 * Nobody could be asked, so the safe default answered: no terminal, the end of input, nobody listening.
 *
 * @since 0.2.0
 * @category models
 */
export const Default = Schema.TaggedStruct("Default", { why: Schema.String })

/**
 * The request's deadline passed before anyone answered (`timed_out`, never a person's denial).
 *
 * @since 0.2.0
 * @category models
 */
export const Deadline = Schema.TaggedStruct("Deadline", { afterMs: Schema.Number })

/**
 * The request was cancelled before an answer: the delegate shut down or ended, and the child received
 * the default answer.
 *
 * @since 0.2.0
 * @category models
 */
export const Cancelled = Schema.TaggedStruct("Cancelled", { reason: Schema.String })

/**
 * The approval service failed (a defect or an error), so the child received the fail-closed default.
 *
 * @since 0.2.0
 * @category models
 */
export const ServiceFailed = Schema.TaggedStruct("ServiceFailed", { error: Schema.String })

/**
 * A client of an `ApprovalInbox` answered (a UI, a fiber, another process), named by the client.
 *
 * @since 0.2.0
 * @category models
 */
export const InboxClient = Schema.TaggedStruct("InboxClient", { client: Schema.String })

/**
 * A test script answered (`Approvals.layerTest`).
 *
 * @since 0.2.0
 * @category models
 */
export const Script = Schema.TaggedStruct("Script", {})

/**
 * An `Approvals` implementation answered without saying who decided (one written for 0.1, which returns
 * bare decisions). `service` names what is known.
 *
 * @since 0.2.0
 * @category models
 */
export const Unattributed = Schema.TaggedStruct("Unattributed", { service: Schema.String })

/**
 * Who decided a request.
 *
 * @since 0.2.0
 * @category models
 */
export const DecidedBy = Schema.Union(
  Person,
  PolicyRule,
  Fixed,
  Default,
  Deadline,
  Cancelled,
  ServiceFailed,
  InboxClient,
  Script,
  Unattributed
).annotations({ identifier: "DecidedBy" })

/**
 * @since 0.2.0
 * @category models
 */
export type DecidedBy = typeof DecidedBy.Type

/**
 * An answer together with who gave it. `Approvals` implementations return `Decided` values so the
 * delegate can pass `decidedBy` on; a bare answer (0.1 style) is recorded as `Unattributed`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Decided<A> {
  readonly _tag: "Decided"
  readonly value: A
  readonly decidedBy: DecidedBy
}

/**
 * An answer, attributed or bare.
 *
 * @since 0.2.0
 * @category models
 */
export type Answer<A> = A | Decided<A>

/**
 * Attributes an answer.
 *
 * @since 0.2.0
 * @category constructors
 */
export const decided = <A>(value: A, decidedBy: DecidedBy): Decided<A> => ({ _tag: "Decided", value, decidedBy })

/**
 * Whether an answer carries its decider.
 *
 * @since 0.2.0
 * @category predicates
 */
export const isDecided = <A>(answer: Answer<A>): answer is Decided<A> =>
  typeof answer === "object" && answer !== null && (answer as { readonly _tag?: unknown })._tag === "Decided"

/**
 * Splits an answer into its value and its decider (`Unattributed` with `service` for a bare one).
 *
 * @since 0.2.0
 * @category destructors
 */
export const split = <A>(answer: Answer<A>, service: string): Decided<A> =>
  isDecided(answer) ? answer : decided(answer, { _tag: "Unattributed", service })

/**
 * Who decided, in a few words for people: `you (key a)`, `policy rule 3`, `--approval deny`,
 * `default (no terminal)`, `deadline (30 s)`, `cancelled`, `approval service failed`, `inbox client web`.
 *
 * @since 0.2.0
 * @category formatting
 */
export const describe = (decidedBy: DecidedBy): string => {
  switch (decidedBy._tag) {
    case "Person":
      return decidedBy.name !== undefined
        ? decidedBy.name
        : decidedBy.channel === "terminal"
        ? decidedBy.key !== undefined ? `you (key ${decidedBy.key})` : "you"
        : `a person (${decidedBy.channel})`
    case "PolicyRule":
      return `policy rule ${decidedBy.index + 1}${decidedBy.file !== undefined ? ` of ${decidedBy.file}` : ""}`
    case "Fixed":
      return decidedBy.setting
    case "Default":
      return `the default (${decidedBy.why})`
    case "Deadline":
      return `the deadline (${Math.round(decidedBy.afterMs)} ms)`
    case "Cancelled":
      return `cancellation (${decidedBy.reason})`
    case "ServiceFailed":
      return `the fail-closed default (the approval service failed: ${decidedBy.error})`
    case "InboxClient":
      return `inbox client ${decidedBy.client}`
    case "Script":
      return "a test script"
    case "Unattributed":
      return `${decidedBy.service} (unattributed)`
  }
}
