import { ApprovalInbox, type ApprovalRequest } from "@deputy/core"
import { WebServer } from "@deputy/web"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { request } from "./support.js"

const command: ApprovalRequest.CommandApproval = {
  id: "other/command/c1",
  delegateId: "other",
  turnId: "t",
  callId: "c1",
  source: "review",
  path: "root/other",
  kind: "command",
  event: { type: "exec_approval_request", call_id: "c1", command: ["make", "deploy"], cwd: "/srv" }
}

const fromLedger: ApprovalInbox.InboxSettlement = {
  request: command,
  outcome: "denied",
  decidedBy: { _tag: "InboxClient", client: "terminal:4242" },
  by: "inbox"
}

describe("optional inputs", () => {
  it.scopedLive("a supervisor's tree and the ledger's history reach the page's state", () =>
    Effect.gen(function*() {
      const server = yield* WebServer.make({
        tree: Stream.make([
          { id: "root", path: "root", status: "running", usage: { tokens: 42, turns: 2 }, budgetLeft: "958 tokens" },
          { id: "other", path: "root/other", parent: "root", status: { completed: null }, ended: "completed" }
        ]),
        history: Stream.make({ settlement: fromLedger, at: 1_700_000_000_000 })
      })
      const state = yield* request({
        port: server.port,
        path: `/api/state?token=${server.token}`,
        headers: { host: `127.0.0.1:${server.port}` }
      })
      const body = JSON.parse(state.body) as WebServer.Message & { type: "snapshot" }
      assert.deepStrictEqual(body.nodes.map((node) => [node.id, node.status, node.parent]), [
        ["root", "running", undefined],
        ["other", "completed", "root"]
      ])
      assert.deepStrictEqual(body.nodes[0].usage, { total: 42, turns: 2 })
      assert.deepStrictEqual(body.nodes[0].budgetLeft, ["958 tokens"])
      assert.deepStrictEqual(body.history.map((entry) => [entry.id, entry.outcome, entry.client, entry.at]), [
        ["other/command/c1", "denied", "terminal:4242", 1_700_000_000_000]
      ])
    }).pipe(Effect.provide(ApprovalInbox.layer)))

  it.scopedLive("a token that could not be put in a URL as is is refused", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(WebServer.make({ token: "short\"><script>" }))
      assert.strictEqual(error._tag, "WebServerError")
      assert.include(error.message, "URL-safe")
    }).pipe(Effect.provide(ApprovalInbox.layer)))

  it.scopedLive("a port that is taken is a typed error that says what to do", () =>
    Effect.gen(function*() {
      const first = yield* WebServer.make()
      const error = yield* Effect.flip(WebServer.make({ port: first.port }))
      assert.include(error.message, `127.0.0.1:${first.port}`)
      assert.include(error.message, "--port")
    }).pipe(Effect.provide(ApprovalInbox.layer)))
})
