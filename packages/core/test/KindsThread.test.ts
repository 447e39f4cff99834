import { ApprovalRequest } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import { route } from "../src/internal/requests.js"

const origin = { delegateId: "d", source: "review" as const, sequence: 0 }

describe("nested threads in provenance", () => {
  it("route copies the event's deputy_thread into Provenance.thread; none when absent or malformed", () => {
    const msg = { type: "exec_approval_request", call_id: "c", command: ["ls"], cwd: "/" }
    const nested = route(
      { id: "t", msg: { ...msg, deputy_thread: { id: "sub", parentId: "main", nickname: "Galileo" } } as any },
      origin
    )!
    assert.deepStrictEqual(nested.request.thread, { id: "sub", parentId: "main", nickname: "Galileo", role: undefined })
    assert.strictEqual(nested.request.id, "d/command/c")
    assert.notProperty(route({ id: "t", msg: msg as any }, origin)!.request, "thread")
    assert.notProperty(route({ id: "t", msg: { ...msg, deputy_thread: { id: 7 } } as any }, origin)!.request, "thread")
    assert.strictEqual(ApprovalRequest.threadOf({ deputy_thread: "x" }), undefined)
  })
})
