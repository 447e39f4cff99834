/**
 * A node's `Approvals`: fills the request's place in the tree (`path`, `chain`), counts it against the
 * approvals budgets, answers from the node's own session grants, applies the policies of the node and its
 * ancestors (the most restrictive wins: a node can only narrow), and asks the tree inbox what is left.
 */
import type { ReviewDecision } from "@deputy/protocol"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ApprovalInboxService } from "../../ApprovalInbox.js"
import type { ApprovalRequest, CommandApproval, ElicitationResponse, ProvenanceLink } from "../../ApprovalRequest.js"
import { elicitationAnswerOf, noElicitation } from "../../ApprovalRequest.js"
import {
  type ApprovalsService,
  firstMatchIndex,
  grantRequested,
  type PolicyAction,
  type PolicyOptions,
  type PolicyRule
} from "../../Approvals.js"
import { type Answer, decided, type DecidedBy, split } from "../../DecidedBy.js"
import type { Exhaustion } from "../../Supervisor.js"
import { reviewDecisionOf } from "../reviewDecision.js"
import type { TreeNode } from "./tree.js"

/** What a node's `Approvals` needs from the tree. */
export interface NodeApprovalsDeps {
  readonly inbox: ApprovalInboxService
  /** Counts one request; returns the exhaustion if the request would pass a budget (then nothing is counted). */
  readonly countApproval: (node: TreeNode) => Exhaustion | undefined
  /**
   * The node a request is from (the node itself, or the node of the thread it names), or why it gets the
   * default answer.
   */
  readonly targetOf: (node: TreeNode, request: ApprovalRequest) => TreeNode | string
  readonly policyOptions?: PolicyOptions | undefined
}

/** The links from the first node under the root down to `node`. */
export const chainOf = (node: TreeNode): ReadonlyArray<ProvenanceLink> => {
  const nodes: Array<TreeNode> = []
  for (let at: TreeNode | undefined = node; at?.parent !== undefined; at = at.parent) nodes.unshift(at)
  return nodes.map((link, i): ProvenanceLink => {
    const next = nodes[i + 1]
    return {
      path: link.path,
      name: link.name,
      delegateId: link.delegateId,
      source: link.source,
      ...(next?.startedIn?.turnId === undefined ? {} : { turnId: next.startedIn.turnId }),
      ...(next?.startedIn?.callId === undefined ? {} : { callId: next.startedIn.callId })
    }
  })
}

/** Lower is narrower: a denial beats a person's answer, which beats an approval for the turn, then the session. */
const rank = (action: PolicyAction): number =>
  action === "deny" || action === "abort" ? 0 : action === "defer" ? 1 : action === "approve" ? 2 : 3

interface Verdict {
  readonly action: Exclude<PolicyAction, "defer">
  readonly decidedBy: DecidedBy
}

/** The narrowest decision of the policies from the root down to `node`, or none (ask the inbox). */
const verdictOf = (
  node: TreeNode,
  request: ApprovalRequest,
  options: PolicyOptions | undefined
): Verdict | undefined => {
  let best: { rank: number; action: PolicyAction; index: number; rule: PolicyRule; level: TreeNode } | undefined
  const levels: Array<TreeNode> = []
  for (let at: TreeNode | undefined = node; at !== undefined; at = at.parent) levels.unshift(at)
  for (const level of levels) {
    const rules = level.policy
    if (rules === undefined || rules.length === 0) continue
    const index = firstMatchIndex(rules, request, options)
    const rule = rules[index]
    const action: PolicyAction = rule?.action ?? "defer"
    if (best === undefined || rank(action) < best.rank) {
      best = rule === undefined
        ? { rank: rank(action), action, index, rule: { action: "defer" }, level }
        : { rank: rank(action), action, index, rule, level }
    }
  }
  if (best === undefined || best.action === "defer") return undefined
  const { source, ...written } = best.rule
  return {
    action: best.action,
    decidedBy: { _tag: "PolicyRule", index: best.index, rule: written, file: source ?? `policy of ${best.level.path}` }
  }
}

const commandKey = (request: CommandApproval): string => JSON.stringify([request.event.command, request.event.cwd])

/** Builds the `Approvals` of one node. */
export const nodeApprovals = (owner: TreeNode, deps: NodeApprovalsDeps): ApprovalsService => {
  let ownChain: ReadonlyArray<ProvenanceLink> | undefined
  const enrich = <R extends ApprovalRequest>(request: R, node: TreeNode): R => {
    if (node !== owner) return { ...request, path: node.path, chain: chainOf(node) }
    ownChain ??= chainOf(owner)
    return { ...request, path: owner.path, chain: ownChain }
  }

  /** The steps every kind shares; `fromAction` turns a policy's action into the kind's answer. */
  const ask = <R extends ApprovalRequest, A>(
    request: R,
    refused: A,
    fromAction: (action: Exclude<PolicyAction, "defer">, request: R) => A,
    inboxAsk: (request: R) => Effect.Effect<Answer<A>>,
    granted?: (request: R, value: A) => boolean
  ): Effect.Effect<Answer<A>> =>
    Effect.suspend(() => {
      // A request of a thread the agent spawned itself is that thread's node's: its path, budget, grants.
      const node = deps.targetOf(owner, request)
      if (typeof node === "string") return Effect.succeed(decided(refused, { _tag: "Default", why: node }))
      const enriched = enrich(request, node)
      const over = deps.countApproval(node)
      if (over !== undefined) {
        return Effect.succeed(
          decided(refused, { _tag: "Default", why: `the approvals budget of ${over.path} ran out` })
        )
      }
      if (enriched.kind === "command" && node.sessionGrants.has(commandKey(enriched))) {
        return Effect.succeed(decided(
          fromAction("approve", enriched),
          { _tag: "Fixed", setting: `approved for the session of ${node.path}` }
        ))
      }
      const verdict = verdictOf(node, enriched, deps.policyOptions)
      const answer: Effect.Effect<Answer<A>> = verdict === undefined
        ? inboxAsk(enriched)
        : Effect.succeed(decided(fromAction(verdict.action, enriched), verdict.decidedBy))
      if (granted === undefined) return answer
      return Effect.tap(answer, (given) =>
        Effect.sync(() => {
          const { value } = split<A>(given, "Approvals")
          if (enriched.kind === "command" && granted(enriched, value)) node.sessionGrants.add(commandKey(enriched))
        }))
    })

  const isSessionGrant = (_request: ApprovalRequest, decision: ReviewDecision.ReviewDecision) =>
    decision === "approved_for_session"

  return {
    command: (request) => ask(request, "denied", reviewDecisionOf, deps.inbox.approvals.command, isSessionGrant),
    patch: (request) => ask(request, "denied", reviewDecisionOf, deps.inbox.approvals.patch),
    permissions: (request) =>
      ask(
        request,
        Option.none(),
        (action, asked) =>
          action === "approve" || action === "approve_for_session"
            ? Option.some(grantRequested(asked, action === "approve" ? "turn" : "session"))
            : Option.none(),
        deps.inbox.approvals.permissions
      ),
    userInput: (request) => ask(request, Option.none(), () => Option.none(), deps.inbox.approvals.userInput),
    elicitation: (request) =>
      ask(
        request,
        { action: "decline" },
        elicitationAnswerOf,
        deps.inbox.approvals.elicitation ??
          (() => Effect.succeed(decided<ElicitationResponse>({ action: "decline" }, noElicitation)))
      )
  }
}
