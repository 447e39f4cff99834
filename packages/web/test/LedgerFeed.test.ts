import { ApprovalInbox } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import { LedgerFeed, WebServer } from "@deputy/web"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Browser from "./browser.js"
import { approve, command, request } from "./support.js"

describe("LedgerFeed.history", () => {
  it.scopedLive("decisions of any ledger client, with who decided and when; undecided requests are not history", () =>
    Effect.gen(function*() {
      const ledger = yield* ApprovalLedger.ApprovalLedger
      yield* ledger.recordPending(command(1))
      yield* ledger.recordPending(command(2))
      const feed = yield* LedgerFeed.history(ledger, { every: "10 millis", batch: 1 }).pipe(
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      const first = yield* ledger.answer("other/command/c1", approve, { _tag: "InboxClient", client: "web:other-tab" })
      yield* ledger.recordPending(command(3))
      yield* ledger.answer("other/command/c3", { _tag: "Decision", decision: "denied" }, {
        _tag: "InboxClient",
        client: "terminal:77"
      })
      const entries = Chunk.toReadonlyArray(yield* Fiber.join(feed))
      assert.deepStrictEqual(
        entries.map((entry) => [entry.settlement.request.id, entry.settlement.outcome, entry.settlement.decidedBy]),
        [
          ["other/command/c1", "approved", { _tag: "InboxClient", client: "web:other-tab" }],
          ["other/command/c3", "denied", { _tag: "InboxClient", client: "terminal:77" }]
        ]
      )
      assert.strictEqual(entries[0].at, first.at)
    }).pipe(Effect.provide(ApprovalLedger.layerMemory())))
})
;(Browser.available ? describe : describe.skip)("LedgerFeed.history in Chromium", () => {
  it.scopedLive("in Chromium: an answer given through the ledger elsewhere appears in the page's history with who decided", () =>
    Effect.gen(function*() {
      const ledger = yield* ApprovalLedger.ApprovalLedger
      yield* ledger.recordPending(command(1))
      const server = yield* WebServer.make({ history: LedgerFeed.history(ledger, { every: "20 millis" }) })
      const context = yield* Browser.context
      const page = yield* Browser.pw(() => context.newPage())
      yield* Browser.pw(() => page.goto(server.url))
      yield* Browser.pw(() => page.locator("body[data-live=yes]").waitFor())
      // A second ledger client (another process's tab) answers first.
      yield* ledger.answer("other/command/c1", approve, { _tag: "InboxClient", client: "web:other-tab" })
      const item = page.locator(`#history li[data-id="other/command/c1"]`)
      yield* Browser.pw(() => item.waitFor())
      const text = yield* Browser.pw(() => item.innerText())
      assert.include(text, "web:other-tab")
      assert.include(text, "approved")
      const state = yield* request({
        port: server.port,
        path: `/api/state?token=${server.token}`,
        headers: { host: `127.0.0.1:${server.port}` }
      })
      const body = JSON.parse(state.body) as WebServer.Message & { type: "snapshot" }
      assert.deepStrictEqual(Option.fromNullable(body.history[0]?.client), Option.some("web:other-tab"))
    }).pipe(Effect.provide([ApprovalLedger.layerMemory(), ApprovalInbox.layer])))
})
