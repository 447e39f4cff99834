/**
 * The port through which a parent answers its sub-agents' requests, and ready layers for it.
 *
 * @since 0.1.0
 */
import type { Permissions, RequestUserInput, ReviewDecision } from "@deputy/protocol"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type {
  ApprovalKind,
  ApprovalRequest,
  CommandApproval,
  ElicitationRequest,
  ElicitationResponse,
  PatchApproval,
  PermissionsRequest,
  UserInputRequest
} from "./ApprovalRequest.js"
import {
  acceptableUnattended,
  elicitation as elicitationView,
  elicitationAnswerOf,
  networkAccess,
  noElicitation
} from "./ApprovalRequest.js"
import type { Answer, DecidedBy } from "./DecidedBy.js"
import { decided, isDecided } from "./DecidedBy.js"
import { globToRegExp } from "./internal/glob.js"
import { reviewDecisionOf } from "./internal/reviewDecision.js"
import * as RequestPaths from "./RequestPaths.js"
import * as ShellCommand from "./ShellCommand.js"

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
  readonly command: (request: CommandApproval) => Effect.Effect<Answer<ReviewDecision.ReviewDecision>>
  readonly patch: (request: PatchApproval) => Effect.Effect<Answer<ReviewDecision.ReviewDecision>>
  readonly permissions: (
    request: PermissionsRequest
  ) => Effect.Effect<Answer<Option.Option<Permissions.RequestPermissionsResponse>>>
  readonly userInput: (
    request: UserInputRequest
  ) => Effect.Effect<Answer<Option.Option<RequestUserInput.RequestUserInputResponse>>>
  /**
   * An MCP server's question (`ElicitationRequest`). Optional: without it, every elicitation is declined
   * (`decline`, decided by the `Default`), so a 0.1 implementation keeps working and fails closed. An
   * answer that does not fit the request (a field its form lacks, a `persist` it does not offer) is
   * declined too.
   *
   * @since 0.2.0
   */
  readonly elicitation?: ((request: ElicitationRequest) => Effect.Effect<Answer<ElicitationResponse>>) | undefined
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
): Permissions.RequestPermissionsResponse => ({ permissions: request.event.permissions, scope })

/**
 * What a matching policy rule does: decide, or `defer` to the next `Approvals` (a person, usually).
 *
 * @since 0.1.0
 * @category policy
 */
export type PolicyAction = "approve" | "approve_for_session" | "deny" | "abort" | "defer"

/**
 * One ordered policy rule. Every condition given must hold:
 * - `kind`: one kind or several;
 * - `commandPrefix`: command requests, read through wrappers and `sh|bash|zsh|dash -c` scripts
 *   (`ShellCommand`). An approving rule (`approve`, `approve_for_session`) matches only a *plain* script
 *   (simple commands joined by `&&`, `||`, `;`, `|`, newlines; no substitutions, subshells, `eval`,
 *   writing redirections, here-docs, computed words) whose every command starts with this prefix or is
 *   approved by another approving rule; any other rule matches when *any* command found anywhere in the
 *   script starts with it. A bare program word matches the standard program only (`rm`, `/bin/rm`,
 *   `\rm`, `"rm"`; `/tmp/evil/rm` only for deny rules); a word with `/` names that path;
 * - `pathGlob`: the paths a patch or permissions request touches (`RequestPaths.touched`: patch keys,
 *   `move_path`, `grant_root`, permission paths), resolved (cwd, `..`, symlinks). A relative glob
 *   matches paths inside the workspace (relative to it), an absolute glob resolved paths. An approving
 *   rule needs every path to match, any other rule one;
 * - `network`: for permissions requests, whether network access is asked (`true`: the rule is about
 *   network). An approving rule grants network only with `network: true`; a `pathGlob` alone never does.
 *   For command requests (since 0.2.0), whether the command asks to reach the network (Codex's
 *   `networkApprovalContext`, `ApprovalRequest.networkAccess`);
 * - `host` (since 0.2.0): command requests that ask to reach this host: `example.com` exactly, or
 *   `*.example.com` for its subdomains (not itself); case-insensitive, a trailing dot ignored. A command
 *   request that asks for network access is approved by an approving `commandPrefix` rule only when the
 *   rule also says `network: true` or names the host.
 *
 * - `mcpServer` (since 0.2.0): elicitations from the MCP server of this name (exactly);
 * - `mcpTool` (since 0.2.0): MCP tool-call approvals for the tool of this name (exactly). An approving
 *   rule accepts only tool-call approvals and forms without fields (`acceptableUnattended`): a form to
 *   fill or a URL to open always goes to a person.
 *
 * `source` is where the rule came from (a policy file), carried into `DecidedBy.PolicyRule.file`.
 *
 * @since 0.1.0
 * @category policy
 */
export interface PolicyRule {
  readonly kind?: ApprovalKind | ReadonlyArray<ApprovalKind> | undefined
  readonly commandPrefix?: ReadonlyArray<string> | undefined
  readonly pathGlob?: string | undefined
  /** @since 0.2.0 */
  readonly network?: boolean | undefined
  /** @since 0.2.0 */
  readonly host?: string | undefined
  /** @since 0.2.0 */
  readonly mcpServer?: string | undefined
  /** @since 0.2.0 */
  readonly mcpTool?: string | undefined
  readonly action: PolicyAction
  /** @since 0.2.0 */
  readonly source?: string | undefined
}

/**
 * What a policy needs besides its rules: the workspace relative globs are matched in (default
 * `process.cwd()`), and the shell parser (default: the one loaded in this process, if any; without one,
 * shell scripts are never approved by prefix rules). `Approvals.layerPolicy` loads the parser.
 *
 * @since 0.2.0
 * @category policy
 */
export interface PolicyOptions {
  readonly workspace?: string | undefined
  readonly parser?: ShellCommand.ShellParser | undefined
}

const approving = (action: PolicyAction) => action === "approve" || action === "approve_for_session"

const kindMatches = (rule: PolicyRule, request: ApprovalRequest): boolean => {
  if (rule.kind === undefined) return true
  const kinds: ReadonlyArray<ApprovalKind> = typeof rule.kind === "string" ? [rule.kind] : rule.kind
  return kinds.includes(request.kind)
}

const pathMatches = (
  pattern: RegExp,
  absolute: boolean,
  touchedPath: RequestPaths.TouchedPath,
  lenient: boolean
): boolean => {
  if (absolute) return pattern.test(touchedPath.resolved)
  if (touchedPath.relative !== undefined) return pattern.test(touchedPath.relative)
  // a relative glob never matches outside the workspace; a deny rule still catches the same names there
  return lenient && pattern.test(touchedPath.resolved.replace(/^\/+/, ""))
}

const normalHost = (host: string): string => host.trim().toLowerCase().replace(/\.$/, "")

/**
 * Whether a host matches a rule's `host`: the same name, or for `*.example.com` a subdomain of
 * `example.com` (never `example.com` itself, never `evilexample.com`). Case-insensitive.
 *
 * @since 0.2.0
 * @category policy
 */
export const hostMatches = (pattern: string, host: string): boolean => {
  const wanted = normalHost(pattern)
  const given = normalHost(host)
  if (given === "" || wanted === "") return false
  if (wanted.startsWith("*.")) {
    const suffix = wanted.slice(1)
    return suffix.length > 1 && given.length > suffix.length && given.endsWith(suffix)
  }
  return given === wanted
}

/** The conditions other than `commandPrefix`, for one request. */
const otherConditionsHold = (rule: PolicyRule, request: ApprovalRequest, workspace: string): boolean => {
  const approves = approving(rule.action)
  if (rule.mcpServer !== undefined || rule.mcpTool !== undefined) {
    if (request.kind !== "elicitation") return false
    if (rule.mcpServer !== undefined && request.event.server_name !== rule.mcpServer) return false
    if (rule.mcpTool !== undefined) {
      const view = elicitationView(request)
      if (view._tag !== "ToolCall" || view.toolName !== rule.mcpTool) return false
    }
  }
  // a form to fill or a URL to open is never approved by a rule
  if (request.kind === "elicitation" && approves && !acceptableUnattended(request)) return false
  const network = networkAccess(request)
  if (rule.host !== undefined) {
    if (network === undefined || !hostMatches(rule.host, network.host)) return false
  }
  if (rule.network !== undefined) {
    if (request.kind === "command") {
      if ((network !== undefined) !== rule.network) return false
    } else if (request.kind !== "permissions") return false
    else if ((request.event.permissions.network?.enabled === true) !== rule.network) return false
  }
  if (network !== undefined && approves && rule.commandPrefix !== undefined) {
    // network access is approved only by a rule that says so (or by a rule without conditions)
    if (rule.network !== true && rule.host === undefined) return false
  }
  if (request.kind === "permissions" && approves && request.event.permissions.network?.enabled === true) {
    // network is granted only by a rule that says so (or by a rule without conditions on what is granted)
    if (rule.network !== true && rule.pathGlob !== undefined) return false
  }
  if (rule.pathGlob !== undefined) {
    if (request.kind !== "patch" && request.kind !== "permissions") return false
    const paths = RequestPaths.touched(request, workspace)
    if (paths.length === 0) return false
    const absolute = rule.pathGlob.startsWith("/")
    const pattern = globToRegExp(rule.pathGlob)
    const each = (touchedPath: RequestPaths.TouchedPath) => pathMatches(pattern, absolute, touchedPath, !approves)
    if (approves ? !paths.every(each) : !paths.some(each)) return false
  } else if (rule.network === true && approves && request.kind === "permissions") {
    // a network rule alone does not grant file-system paths
    if (RequestPaths.touched(request, workspace).length > 0) return false
  }
  return true
}

interface Resolved {
  readonly workspace: string
  readonly parser: ShellCommand.ShellParser | undefined
}

const resolveOptions = (options: PolicyOptions | undefined): Resolved => ({
  workspace: options?.workspace ?? process.cwd(),
  parser: options?.parser ?? ShellCommand.loadedParser()
})

/** Whether a prefix rule matches one simple command (its readings) as an approving or other rule. */
const coversCommand = (rule: PolicyRule, readings: ReadonlyArray<ShellCommand.Reading>): boolean => {
  const prefix = rule.commandPrefix!
  return approving(rule.action)
    ? readings.some((reading) => reading.approvable && ShellCommand.readingHasPrefix(reading, prefix, "approve"))
    : readings.some((reading) => ShellCommand.readingHasPrefix(reading, prefix, "deny"))
}

/** The first rule that decides one simple command taken alone, for a command request. */
const firstForCommand = (
  rules: ReadonlyArray<PolicyRule>,
  request: ApprovalRequest,
  readings: ReadonlyArray<ShellCommand.Reading>,
  workspace: string
): number =>
  rules.findIndex((rule) =>
    kindMatches(rule, request) && otherConditionsHold(rule, request, workspace) &&
    (rule.commandPrefix === undefined || coversCommand(rule, readings))
  )

/**
 * The index of the first rule that applies to a request, or -1. Rules stay ordered; for a command, an
 * approving prefix rule applies when the script is plain and every one of its commands, taken alone, is
 * first matched by an approving rule (this one among them), so adding `touch a &&` in front of a
 * command never changes how it is decided.
 *
 * @since 0.2.0
 * @category policy
 */
export const firstMatchIndex = (
  rules: ReadonlyArray<PolicyRule>,
  request: ApprovalRequest,
  options?: PolicyOptions
): number => {
  const { parser, workspace } = resolveOptions(options)
  const analysis = request.kind === "command" ? ShellCommand.analyze(request.event.command, parser) : undefined
  let approvedBy: ReadonlySet<number> | undefined
  const approvingRules = (): ReadonlySet<number> => {
    if (approvedBy !== undefined) return approvedBy
    const found = new Set<number>()
    if (analysis !== undefined && analysis.plain) {
      for (const readings of analysis.commands) {
        const index = firstForCommand(rules, request, readings, workspace)
        const rule = rules[index]
        if (rule === undefined || !approving(rule.action) || rule.commandPrefix === undefined) {
          found.clear()
          break
        }
        found.add(index)
      }
    }
    approvedBy = found
    return found
  }
  return rules.findIndex((rule, index) => {
    if (!kindMatches(rule, request) || !otherConditionsHold(rule, request, workspace)) return false
    if (rule.commandPrefix === undefined) return true
    if (analysis === undefined) return false
    return approving(rule.action)
      ? approvingRules().has(index)
      : analysis.commands.some((readings) => coversCommand(rule, readings))
  })
}

/**
 * Whether a rule, taken alone, applies to a request (for an approving prefix rule: a plain script whose
 * every command it covers).
 *
 * @since 0.1.0
 * @category policy
 */
export const ruleMatches = (rule: PolicyRule, request: ApprovalRequest, options?: PolicyOptions): boolean =>
  firstMatchIndex([rule], request, options) === 0

/**
 * The first rule that applies to a request, if any (see `firstMatchIndex`).
 *
 * @since 0.1.0
 * @category policy
 */
export const firstMatch = (
  rules: ReadonlyArray<PolicyRule>,
  request: ApprovalRequest,
  options?: PolicyOptions
): Option.Option<PolicyRule> => Option.fromNullable(rules[firstMatchIndex(rules, request, options)])

/** What a rule is, as `DecidedBy.PolicyRule.rule` records it (without `source`, which goes to `file`). */
const ruleRecord = (rule: PolicyRule): unknown => {
  const { source: _source, ...written } = rule
  return written
}

/**
 * An `Approvals` that applies ordered rules and defers what no rule decides to `fallback`. Each answer
 * says which rule decided it (`DecidedBy.PolicyRule`); deferred ones carry the fallback's attribution.
 * For permissions, approve grants what was asked (for the session with `approve_for_session`) and
 * deny/abort grant nothing; user input can only be deferred or left unanswered.
 *
 * @since 0.1.0
 * @category policy
 */
export const makePolicy = (
  rules: ReadonlyArray<PolicyRule>,
  fallback: ApprovalsService,
  options?: PolicyOptions
): ApprovalsService => {
  const resolved = resolveOptions(options)
  const decide = <R extends ApprovalRequest, A>(
    request: R,
    onRule: (action: Exclude<PolicyAction, "defer">) => A,
    ask: (request: R) => Effect.Effect<Answer<A>>
  ): Effect.Effect<Answer<A>> =>
    Effect.suspend(() => {
      const index = firstMatchIndex(rules, request, resolved)
      const rule = rules[index]
      if (rule === undefined || rule.action === "defer") return ask(request)
      return Effect.succeed(decided(onRule(rule.action), {
        _tag: "PolicyRule",
        index,
        rule: ruleRecord(rule),
        ...(rule.source === undefined ? {} : { file: rule.source })
      }))
    })
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
    userInput: (request) => decide(request, () => Option.none(), fallback.userInput),
    elicitation: (request) =>
      decide(request, (action) => elicitationAnswerOf(action, request), (asked) =>
        fallback.elicitation === undefined
          ? Effect.succeed(decided<ElicitationResponse>({ action: "decline" }, noElicitation))
          : fallback.elicitation(asked))
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
  readonly command?: TestAnswer<CommandApproval, ReviewDecision.ReviewDecision> | undefined
  readonly patch?: TestAnswer<PatchApproval, ReviewDecision.ReviewDecision> | undefined
  readonly permissions?:
    | TestAnswer<PermissionsRequest, Option.Option<Permissions.RequestPermissionsResponse>>
    | undefined
  readonly userInput?:
    | TestAnswer<UserInputRequest, Option.Option<RequestUserInput.RequestUserInputResponse>>
    | undefined
  /** @since 0.2.0 (default: decline) */
  readonly elicitation?: TestAnswer<ElicitationRequest, ElicitationResponse> | undefined
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

const script: DecidedBy = { _tag: "Script" }

const answerWith = <R, A>(answer: TestAnswer<R, A>, request: R): Effect.Effect<Answer<A>> =>
  Effect.map(
    typeof answer === "function" ? (answer as (request: R) => Effect.Effect<A>)(request) : Effect.succeed(answer),
    (value): Answer<A> => isDecided(value) ? value : decided(value, script)
  )

const fixed = (setting: string): DecidedBy => ({ _tag: "Fixed", setting })

const approveAll: DecidedBy = fixed("approve-all")
const denyAll: DecidedBy = fixed("deny-all")

/**
 * The port through which a parent answers its sub-agents' requests (`yield* Approvals.Approvals`); its
 * ready layers are this module's `layerApproveAll`, `layerDenyAll`, `layerPolicy(rules)`, `layerTest(answers)`.
 *
 * @since 0.1.0
 * @category tags
 */
export class Approvals extends Context.Tag("@deputy/core/Approvals")<Approvals, ApprovalsService>() {}

/**
 * Approves every command and patch, grants every permission as asked, answers no questions, accepts MCP
 * tool-call approvals (once) and declines forms to fill and URLs. For trusted children and tests only.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerApproveAll: Layer.Layer<Approvals> = Layer.succeed(Approvals, {
  command: () => Effect.succeed(decided("approved", approveAll)),
  patch: () => Effect.succeed(decided("approved", approveAll)),
  permissions: (request) => Effect.succeed(decided(Option.some(grantRequested(request)), approveAll)),
  userInput: () => Effect.succeed(decided(Option.none(), approveAll)),
  elicitation: (request) => Effect.succeed(decided(elicitationAnswerOf("approve", request), approveAll))
})

/**
 * Denies every command and patch, grants nothing, answers no questions, declines elicitations: the
 * fail-closed default.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDenyAll: Layer.Layer<Approvals> = Layer.succeed(Approvals, {
  command: () => Effect.succeed(decided("denied", denyAll)),
  patch: () => Effect.succeed(decided("denied", denyAll)),
  permissions: () => Effect.succeed(decided(Option.none(), denyAll)),
  userInput: () => Effect.succeed(decided(Option.none(), denyAll)),
  elicitation: () => Effect.succeed(decided<ElicitationResponse>({ action: "decline" }, denyAll))
})

/**
 * A policy over the `Approvals` below it, which answers what no rule decides (loads the shell parser
 * once; if it cannot be loaded, logs a warning and approves no shell script by prefix).
 *
 * `Approvals.layerPolicy(rules).pipe(Layer.provideMerge(ApprovalInbox.layer))`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPolicy = (
  rules: ReadonlyArray<PolicyRule>,
  options: Omit<PolicyOptions, "parser"> = {}
): Layer.Layer<Approvals, never, Approvals> =>
  Layer.effect(
    Approvals,
    Effect.gen(function*() {
      const fallback = yield* Approvals
      const parser = yield* ShellCommand.parser.pipe(
        Effect.tapError((error) => Effect.logWarning(error.message)),
        Effect.option
      )
      return makePolicy(rules, fallback, { ...options, parser: Option.getOrUndefined(parser) })
    })
  )

/**
 * Scripted answers (see `TestAnswers`) that record every request; read them through `TestApprovals`.
 *
 * @since 0.1.0
 * @category testing
 */
export const layerTest = (answers: TestAnswers = {}): Layer.Layer<Approvals | TestApprovals> =>
  Layer.effectContext(Effect.gen(function*() {
    const asked = yield* Ref.make<ReadonlyArray<ApprovalRequest>>([])
    const record = <R extends ApprovalRequest, A>(answer: TestAnswer<R, A>) => (request: R) =>
      Effect.zipRight(Ref.update(asked, (all) => [...all, request]), answerWith(answer, request))
    const service: ApprovalsService = {
      command: record(answers.command ?? "approved"),
      patch: record(answers.patch ?? "approved"),
      permissions: record(answers.permissions ?? ((request) => Effect.succeed(Option.some(grantRequested(request))))),
      userInput: record(answers.userInput ?? Option.none()),
      elicitation: record<ElicitationRequest, ElicitationResponse>(answers.elicitation ?? { action: "decline" })
    }
    return Context.make(Approvals, service).pipe(Context.add(TestApprovals, { asked: Ref.get(asked) }))
  }))
