import type { ApprovalRequest } from "@deputy/core"

const provenance = (kind: ApprovalRequest.ApprovalKind, callId: string) => ({
  id: `delegate/${kind}/${callId}`,
  delegateId: "delegate",
  turnId: "turn-1",
  callId,
  source: "review" as const
})

export const command = (
  argv: ReadonlyArray<string> = ["npm", "test"],
  callId = "call-1"
): ApprovalRequest.CommandApproval => ({
  ...provenance("command", callId),
  kind: "command",
  event: { type: "exec_approval_request", call_id: callId, command: argv, cwd: "/repo", reason: "to check the build" }
})

/** A command request whose `available_decisions` propose remembering a rule for `prefix` (Codex's amendment). */
export const proposing = (
  argv: ReadonlyArray<string>,
  prefix: ReadonlyArray<string> = argv
): ApprovalRequest.CommandApproval => {
  const request = command(argv)
  return {
    ...request,
    event: {
      ...request.event,
      available_decisions: [
        "approved",
        { approved_execpolicy_amendment: { proposed_execpolicy_amendment: [...prefix] } },
        "denied"
      ]
    }
  }
}

export const patch = (callId = "call-2"): ApprovalRequest.PatchApproval => ({
  ...provenance("patch", callId),
  kind: "patch",
  event: {
    type: "apply_patch_approval_request",
    call_id: callId,
    changes: {
      "/repo/NOTES.md": { type: "add", content: "# Notes\n\nhello\n" },
      "/repo/src/app.ts": {
        type: "update",
        unified_diff: "@@ -1,2 +1,2 @@\n-const a = 1\n+const a = 2\n const b = 3\n",
        move_path: null
      }
    },
    reason: "to write the notes"
  }
})

export const permissions = (callId = "call-3"): ApprovalRequest.PermissionsRequest => ({
  ...provenance("permissions", callId),
  kind: "permissions",
  event: {
    type: "request_permissions",
    call_id: callId,
    reason: "to fetch dependencies",
    permissions: { network: { enabled: true }, file_system: { write: ["/repo/node_modules"] } }
  }
})

export const userInput = (callId = "call-4"): ApprovalRequest.UserInputRequest => ({
  ...provenance("user_input", callId),
  kind: "user_input",
  event: {
    type: "request_user_input",
    call_id: callId,
    questions: [
      {
        id: "color",
        header: "Style",
        question: "Which colour?",
        options: [{ label: "red", description: "warm" }, { label: "blue", description: "cold" }]
      },
      { id: "name", header: "Name", question: "What name?" }
    ]
  }
})
