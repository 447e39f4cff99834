/**
 * The port through which a parent answers its sub-agents' requests, and ready layers for it.
 *
 * @since 0.1.0
 */
import type { RequestPermissionsResponse, RequestUserInputResponse, ReviewDecision } from "@deputy/protocol"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type {
  ApprovalKind,
  ApprovalRequest,
  CommandApproval,
  PatchApproval,
  PermissionsRequest,
  UserInputRequest
} from "./ApprovalRequest.js"
import type { Answer } from "./DecidedBy.js"
import { globToRegExp } from "./internal/glob.js"

/**
 * What answers the child's requests. `Option.none()` for permissions or user input means "no answer": the
 * child then receives nothing granted / no answers. An implementation may take as long as a person
 * needs; the delegate interrupts the wait when it shuts down.
 *
 * Each method returns its answer attributed (`DecidedBy.decided(value, decidedBy)`), so the delegate can
 * say who decided; a bare answer (as 0.1 implementations return) is settled as `Unattributed`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApprovalsService {
  readonly command: (request: CommandApproval) => Effect.Effect<Answer<ReviewDecision>>
  readonly patch: (request: PatchApproval) => Effect.Effect<Answer<ReviewDecision>>
  readonly permissions: (
    request: PermissionsRequest
  ) => Effect.Effect<Answer<Option.Option<RequestPermissionsResponse>>>
  readonly userInput: (request: UserInputRequest) => Effect.Effect<Answer<Option.Option<RequestUserInputResponse>>>
}

/**
 * Grants exactly the permissions a request asked for.
 *
 * @since 0.1.0
 * @category constructors
 */
export const grantRequested = (
  request: PermissionsRequest,
  scope: "turn" | "session" = "turn"
): RequestPermissionsResponse => ({ permissions: request.event.permissions, scope })

/**
 * What a matching policy rule does: decide, or `defer` to the next `Approvals` (a person, usually).
 *
 * @since 0.1.0
 * @category policy
 */
export type PolicyAction = "approve" | "approve_for_session" | "deny" | "abort" | "defer"

/**
 * One ordered policy rule. Every condition given must hold: `kind` (one or several), `commandPrefix`
 * (command requests whose argv starts with these words; a `sh|bash|zsh -c|-lc SCRIPT` command is also
 * matched on the words of its script), `pathGlob` (patch requests whose every file matches; permission
 * requests whose every path matches; `*`, `**` and `?` as in shells).
 *
 * @since 0.1.0
 * @category policy
 */
export interface PolicyRule {
  readonly kind?: ApprovalKind | ReadonlyArray<ApprovalKind> | undefined
  readonly commandPrefix?: ReadonlyArray<string> | undefined
  readonly pathGlob?: string | undefined
  readonly action: PolicyAction
}

const shells = new Set(["sh", "bash", "zsh", "dash"])

/** The word lists a command prefix is matched against: the argv, and the script of a shell `-c` call. */
const commandWords = (argv: ReadonlyArray<string>): ReadonlyArray<ReadonlyArray<string>> => {
  const [program, flag, script] = argv
  const base = program?.split("/").pop() ?? ""
  if (shells.has(base) && (flag === "-c" || flag === "-lc") && script !== undefined && argv.length === 3) {
    return [argv, script.trim().split(/\s+/)]
  }
  return [argv]
}

const hasPrefix = (words: ReadonlyArray<string>, prefix: ReadonlyArray<string>) =>
  prefix.length <= words.length && prefix.every((word, index) => words[index] === word)

const requestedPaths = (request: ApprovalRequest): ReadonlyArray<string> | undefined => {
  switch (request.kind) {
    case "patch":
      return Object.keys(request.event.changes)
    case "permissions": {
      const fileSystem = request.event.permissions.file_system
      return [...(fileSystem?.read ?? []), ...(fileSystem?.write ?? [])]
    }
    default:
      return undefined
  }
}

/**
 * Whether a rule applies to a request.
 *
 * @since 0.1.0
 * @category policy
 */
export const ruleMatches = (rule: PolicyRule, request: ApprovalRequest): boolean => {
  if (rule.kind !== undefined) {
    const kinds: ReadonlyArray<ApprovalKind> = typeof rule.kind === "string" ? [rule.kind] : rule.kind
    if (!kinds.includes(request.kind)) return false
  }
  if (rule.commandPrefix !== undefined) {
    if (request.kind !== "command") return false
    const prefix = rule.commandPrefix
    if (!commandWords(request.event.command).some((words) => hasPrefix(words, prefix))) return false
  }
  if (rule.pathGlob !== undefined) {
    const paths = requestedPaths(request)
    if (paths === undefined || paths.length === 0) return false
    const pattern = globToRegExp(rule.pathGlob)
    if (!paths.every((path) => pattern.test(path))) return false
  }
  return true
}

/**
 * The first rule that applies to a request, if any.
 *
 * @since 0.1.0
 * @category policy
 */
export const firstMatch = (rules: ReadonlyArray<PolicyRule>, request: ApprovalRequest): Option.Option<PolicyRule> =>
  Option.fromNullable(rules.find((rule) => ruleMatches(rule, request)))

const reviewDecisionOf = (action: Exclude<PolicyAction, "defer">): ReviewDecision =>
  action === "approve"
    ? "approved"
    : action === "approve_for_session"
    ? "approved_for_session"
    : action === "deny"
    ? "denied"
    : "abort"

/**
 * An `Approvals` that applies ordered rules and defers what no rule decides to `fallback`.
 * For permissions, approve grants what was asked (for the session with `approve_for_session`) and
 * deny/abort grant nothing; user input can only be deferred or left unanswered.
 *
 * @since 0.1.0
 * @category policy
 */
export const makePolicy = (rules: ReadonlyArray<PolicyRule>, fallback: ApprovalsService): ApprovalsService => {
  const decide = <R extends ApprovalRequest, A>(
    request: R,
    onRule: (action: Exclude<PolicyAction, "defer">) => A,
    ask: (request: R) => Effect.Effect<A>
  ): Effect.Effect<A> => {
    const rule = firstMatch(rules, request)
    return Option.isSome(rule) && rule.value.action !== "defer"
      ? Effect.succeed(onRule(rule.value.action))
      : ask(request)
  }
  return {
    command: (request) => decide(request, reviewDecisionOf, fallback.command),
    patch: (request) => decide(request, reviewDecisionOf, fallback.patch),
    permissions: (request) =>
      decide(
        request,
        (action) =>
          action === "approve" || action === "approve_for_session"
            ? Option.some(grantRequested(request, action === "approve" ? "turn" : "session"))
            : Option.none(),
        fallback.permissions
      ),
    userInput: (request) => decide(request, () => Option.none(), fallback.userInput)
  }
}

/**
 * A scripted answer for tests: a constant, or a function of the request (which may wait, fail or hang).
 *
 * @since 0.1.0
 * @category testing
 */
export type TestAnswer<R, A> = A | ((request: R) => Effect.Effect<A>)

/**
 * Scripted answers by kind. Defaults: approve commands and patches, grant permissions as asked,
 * answer no questions.
 *
 * @since 0.1.0
 * @category testing
 */
export interface TestAnswers {
  readonly command?: TestAnswer<CommandApproval, ReviewDecision> | undefined
  readonly patch?: TestAnswer<PatchApproval, ReviewDecision> | undefined
  readonly permissions?: TestAnswer<PermissionsRequest, Option.Option<RequestPermissionsResponse>> | undefined
  readonly userInput?: TestAnswer<UserInputRequest, Option.Option<RequestUserInputResponse>> | undefined
}

/**
 * What a test `Approvals` was asked, in order (provided by `Approvals.layerTest`).
 *
 * @since 0.1.0
 * @category testing
 */
export class TestApprovals extends Context.Tag("@deputy/core/TestApprovals")<TestApprovals, {
  readonly asked: Effect.Effect<ReadonlyArray<ApprovalRequest>>
}>() {}

const answerWith = <R, A>(answer: TestAnswer<R, A>, request: R): Effect.Effect<A> =>
  typeof answer === "function" ? (answer as (request: R) => Effect.Effect<A>)(request) : Effect.succeed(answer)

/**
 * The port through which a parent answers its sub-agents' requests (`yield* Approvals`), with its ready
 * layers as statics: `layerApproveAll`, `layerDenyAll`, `layerPolicy(rules)`, `layerTest(answers)`.
 *
 * @since 0.1.0
 * @category tags
 */
export class Approvals extends Context.Tag("@deputy/core/Approvals")<Approvals, ApprovalsService>() {
  /**
   * Approves every command and patch, grants every permission as asked, answers no questions.
   * For trusted children and tests only.
   */
  static readonly layerApproveAll: Layer.Layer<Approvals> = Layer.succeed(Approvals, {
    command: () => Effect.succeed("approved"),
    patch: () => Effect.succeed("approved"),
    permissions: (request) => Effect.succeed(Option.some(grantRequested(request))),
    userInput: () => Effect.succeed(Option.none())
  })

  /** Denies every command and patch, grants nothing, answers no questions: the fail-closed default. */
  static readonly layerDenyAll: Layer.Layer<Approvals> = Layer.succeed(Approvals, {
    command: () => Effect.succeed("denied"),
    patch: () => Effect.succeed("denied"),
    permissions: () => Effect.succeed(Option.none()),
    userInput: () => Effect.succeed(Option.none())
  })

  /**
   * A policy over the `Approvals` below it, which answers what no rule decides:
   * `Approvals.layerPolicy(rules).pipe(Layer.provideMerge(ApprovalInbox.layer))`.
   */
  static readonly layerPolicy = (rules: ReadonlyArray<PolicyRule>): Layer.Layer<Approvals, never, Approvals> =>
    Layer.effect(Approvals, Effect.map(Approvals, (fallback) => makePolicy(rules, fallback)))

  /** Scripted answers (see `TestAnswers`) that record every request; read them through `TestApprovals`. */
  static readonly layerTest = (answers: TestAnswers = {}): Layer.Layer<Approvals | TestApprovals> =>
    Layer.effectContext(Effect.gen(function*() {
      const asked = yield* Ref.make<ReadonlyArray<ApprovalRequest>>([])
      const record = <R extends ApprovalRequest, A>(answer: TestAnswer<R, A>) => (request: R) =>
        Effect.zipRight(Ref.update(asked, (all) => [...all, request]), answerWith(answer, request))
      const service: ApprovalsService = {
        command: record(answers.command ?? "approved"),
        patch: record(answers.patch ?? "approved"),
        permissions: record(answers.permissions ?? ((request) => Effect.succeed(Option.some(grantRequested(request))))),
        userInput: record(answers.userInput ?? Option.none())
      }
      return Context.make(Approvals, service).pipe(Context.add(TestApprovals, { asked: Ref.get(asked) }))
    }))

  /** The tag of what a `layerTest` was asked. */
  static readonly TestApprovals = TestApprovals
  /** @see {@link makePolicy} */
  static readonly makePolicy = makePolicy
  /** @see {@link ruleMatches} */
  static readonly ruleMatches = ruleMatches
  /** @see {@link firstMatch} */
  static readonly firstMatch = firstMatch
  /** @see {@link grantRequested} */
  static readonly grantRequested = grantRequested
}

/**
 * Types of the `Approvals` port, reachable as `Approvals.PolicyRule` and so on.
 *
 * @since 0.1.0
 */
export declare namespace Approvals {
  /** @since 0.1.0 */
  export type Service = ApprovalsService
  /** @since 0.1.0 */
  export type ApprovalsService = import("./Approvals.js").ApprovalsService
  /** @since 0.1.0 */
  export type PolicyRule = import("./Approvals.js").PolicyRule
  /** @since 0.1.0 */
  export type PolicyAction = import("./Approvals.js").PolicyAction
  /** @since 0.1.0 */
  export type TestAnswers = import("./Approvals.js").TestAnswers
  /** @since 0.1.0 */
  export type TestAnswer<R, A> = import("./Approvals.js").TestAnswer<R, A>
}
