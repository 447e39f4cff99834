import type { ApprovalRequest } from "@deputy/core"

const source = "review" as const

/** A command request as a delegate routes it. */
export const commandRequest = (n: number | string, delegateId = "d1"): ApprovalRequest.CommandApproval => ({
  kind: "command",
  id: `${delegateId}/command/c${n}`,
  delegateId,
  turnId: "t1",
  callId: `c${n}`,
  source,
  path: "root/review",
  chain: [{ path: "root", name: "root", delegateId: "root", source, turnId: "t0", callId: "spawn" }],
  event: { type: "exec_approval_request", call_id: `c${n}`, command: ["git", "status"], cwd: "/repo" }
})

/** A permissions request. */
export const permissionsRequest = (n: number | string, delegateId = "d1"): ApprovalRequest.PermissionsRequest => ({
  kind: "permissions",
  id: `${delegateId}/permissions/p${n}`,
  delegateId,
  turnId: "t1",
  callId: `p${n}`,
  source,
  event: { type: "request_permissions", call_id: `p${n}`, permissions: { network: { enabled: true } } }
})

/** A user-input request. */
export const userInputRequest = (n: number | string, delegateId = "d1"): ApprovalRequest.UserInputRequest => ({
  kind: "user_input",
  id: `${delegateId}/user_input/u${n}`,
  delegateId,
  turnId: `t${n}`,
  callId: `u${n}`,
  source,
  event: {
    type: "request_user_input",
    call_id: `u${n}`,
    questions: [{ id: "q1", header: "Pick", question: "Which one?" }]
  } as ApprovalRequest.UserInputRequest["event"]
})

/** An MCP elicitation of the server `files` (id 7) asking `request` (a form, a tool-call approval, a URL). */
export const elicitationRequest = (
  request: ApprovalRequest.ElicitationRequest["event"]["request"]
): ApprovalRequest.ElicitationRequest => ({
  id: "d/elicitation/files#7",
  delegateId: "d",
  turnId: "t",
  callId: "files#7",
  source: "review",
  kind: "elicitation",
  event: { type: "elicitation_request", server_name: "files", id: 7, request }
})
