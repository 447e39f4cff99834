import { ApprovalRequest, ShellWords } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"

const command = (argv: ReadonlyArray<string>): ApprovalRequest.CommandApproval => ({
  id: "d/command/c",
  delegateId: "d",
  turnId: "t",
  callId: "c",
  source: "review",
  kind: "command",
  event: { type: "exec_approval_request", call_id: "c", command: argv, cwd: "/work", parsed_cmd: [] }
})

describe("ApprovalRequest.describe shows argv boundaries", () => {
  it("a word with a space does not read as two words", () => {
    assert.strictEqual(ApprovalRequest.describe(command(["rm", "-rf", "/tmp/x /"])), "run `rm -rf '/tmp/x /'` in /work")
    assert.notStrictEqual(
      ApprovalRequest.describe(command(["rm", "-rf", "/tmp/x /"])),
      ApprovalRequest.describe(command(["rm", "-rf", "/tmp/x", "/"]))
    )
  })

  it.prop("two different argvs never describe the same", {
    a: FastCheck.array(FastCheck.string({ maxLength: 6 }), { maxLength: 4 }),
    b: FastCheck.array(FastCheck.string({ maxLength: 6 }), { maxLength: 4 })
  }, ({ a, b }) => {
    if (ShellWords.join(a) === ShellWords.join(b)) return
    assert.notStrictEqual(ApprovalRequest.describe(command(a)), ApprovalRequest.describe(command(b)))
  })
})
