import { ApprovalInbox } from "@deputy/core"
import { WebServer } from "@deputy/web"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import { check, freshToken } from "../src/internal/guard.js"
import { child, request } from "./support.js"

const token = freshToken()
const host = "127.0.0.1:4000"
const post = {
  host,
  origin: "http://127.0.0.1:4000",
  "x-deputy-token": token,
  "content-type": "application/json",
  "content-length": "10"
}

describe("the guard", () => {
  it("lets the page, its assets and the event stream through with the token, and nothing without", () => {
    assert.isUndefined(check({ method: "GET", url: `/?token=${token}`, headers: { host } }, { host, token }))
    assert.isUndefined(check({ method: "GET", url: "/api/events", headers: { host, "x-deputy-token": token } }, {
      host,
      token
    }))
    assert.strictEqual(check({ method: "GET", url: "/", headers: { host } }, { host, token })?.status, 403)
    assert.strictEqual(
      check({ method: "OPTIONS", url: `/?token=${token}`, headers: { host } }, { host, token })?.status,
      403
    )
  })

  it.prop("refuses every token but the right one, and every Host but the one it started with", [
    FastCheck.string({ maxLength: 60 }),
    FastCheck.constantFrom("localhost:4000", "127.0.0.1:4001", "evil.example:4000", "127.0.0.1", "")
  ], ([guess, wrongHost]) => {
    if (guess !== token) {
      assert.strictEqual(
        check({ method: "GET", url: `/?token=${encodeURIComponent(guess)}`, headers: { host } }, { host, token })
          ?.status,
        403
      )
      assert.strictEqual(
        check({ method: "POST", url: "/api/answer", headers: { ...post, "x-deputy-token": guess } }, {
          host,
          token
        })?.status,
        403
      )
    }
    assert.strictEqual(
      check({ method: "GET", url: `/?token=${token}`, headers: { host: wrongHost } }, { host, token })?.status,
      403
    )
  })

  it("a POST needs the token in the header (not the URL), the same origin, JSON and a small length", () => {
    const expect = { host, token }
    assert.isUndefined(check({ method: "POST", url: "/api/answer", headers: post }, expect))
    const { "x-deputy-token": _, ...noHeader } = post
    assert.strictEqual(
      check({ method: "POST", url: `/api/answer?token=${token}`, headers: noHeader }, expect)?.status,
      403
    )
    assert.strictEqual(
      check({ method: "POST", url: "/api/answer", headers: { ...post, origin: "http://evil.example" } }, expect)
        ?.status,
      403
    )
    assert.strictEqual(
      check({ method: "POST", url: "/api/answer", headers: { ...post, origin: "http://localhost:4000" } }, expect)
        ?.status,
      403
    )
    const { origin: _o, ...noOrigin } = post
    assert.strictEqual(check({ method: "POST", url: "/api/answer", headers: noOrigin }, expect)?.status, 403)
    assert.isUndefined(
      check({ method: "POST", url: "/api/answer", headers: { ...noOrigin, "sec-fetch-site": "same-origin" } }, expect)
    )
    assert.strictEqual(
      check({ method: "POST", url: "/api/answer", headers: { ...noOrigin, "sec-fetch-site": "cross-site" } }, expect)
        ?.status,
      403
    )
    assert.strictEqual(
      check({ method: "POST", url: "/api/answer", headers: { ...post, "content-type": "text/plain" } }, expect)?.status,
      415
    )
    assert.strictEqual(
      check({ method: "POST", url: "/api/answer", headers: { ...post, "content-length": "99999" } }, expect)?.status,
      413
    )
  })
})

const layer = WebServer.layer().pipe(Layer.provideMerge(ApprovalInbox.layer))

describe("the server, over real HTTP", () => {
  it.scopedLive("refuses no token, a wrong Host and a cross-origin POST; the request stays pending", () =>
    Effect.gen(function*() {
      const server = yield* WebServer.WebServer
      const inbox = yield* ApprovalInbox.ApprovalInbox
      const { agent } = yield* child("root/a")
      yield* agent.emit({ type: "exec_approval_request", call_id: "c1", command: ["rm", "-rf", "/"], cwd: "/" }, "t")
      const pending = yield* inbox.awaitPending()
      const own = `127.0.0.1:${server.port}`
      const port = server.port

      assert.strictEqual(server.url, `http://${own}/?token=${server.token}`)
      assert.strictEqual(
        (yield* request({ port, path: `/?token=${server.token}`, headers: { host: own } })).status,
        200
      )
      for (const path of ["/", "/app.js", "/style.css", "/api/state", "/api/events", "/?token=wrong"]) {
        const refused = yield* request({ port, path, headers: { host: own } })
        assert.strictEqual(refused.status, 403, path)
        assert.notInclude(refused.body, "rm -rf")
      }
      const rebinding = yield* request({
        port,
        path: `/api/state?token=${server.token}`,
        headers: { host: `evil.example:${port}` }
      })
      assert.strictEqual(rebinding.status, 403)
      assert.notInclude(rebinding.body, "rm -rf")

      const body = JSON.stringify({ id: pending.request.id, action: "approve", tab: "attacker" })
      const headers = {
        host: own,
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        "x-deputy-token": server.token
      }
      const crossOrigin = yield* request({
        port,
        path: "/api/answer",
        method: "POST",
        headers: { ...headers, origin: "http://evil.example" },
        body
      })
      assert.strictEqual(crossOrigin.status, 403)
      assert.isUndefined(crossOrigin.headers["access-control-allow-origin"])
      const simpleForm = yield* request({
        port,
        path: `/api/answer?token=${server.token}`,
        method: "POST",
        headers: {
          host: own,
          origin: server.origin,
          "content-type": "text/plain",
          "content-length": String(body.length)
        },
        body
      })
      assert.strictEqual(simpleForm.status, 403)
      const preflight = yield* request({
        port,
        path: `/api/answer?token=${server.token}`,
        method: "OPTIONS",
        headers: { host: own, origin: "http://evil.example" }
      })
      assert.strictEqual(preflight.status, 403)
      assert.isUndefined(preflight.headers["access-control-allow-origin"])
      assert.deepStrictEqual((yield* inbox.pending).map((entry) => entry.request.id), [pending.request.id])

      // The same answer from the page's origin goes through, once.
      const accepted = yield* request({
        port,
        path: "/api/answer",
        method: "POST",
        headers: { ...headers, origin: server.origin },
        body
      })
      assert.strictEqual(accepted.status, 200)
      const answer = yield* agent.awaitOp("exec_approval")
      assert.deepStrictEqual(answer.op, { type: "exec_approval", id: "c1", turn_id: "t", decision: "approved" })
      const again = yield* request({
        port,
        path: "/api/answer",
        method: "POST",
        headers: { ...headers, origin: server.origin },
        body
      })
      assert.strictEqual(again.status, 409)
      assert.include(again.body, "inbox client web:attacker")
    }).pipe(Effect.provide(layer)))

  it.scopedLive("pages carry a strict content security policy and no referrer", () =>
    Effect.gen(function*() {
      const server = yield* WebServer.WebServer
      const page = yield* request({
        port: server.port,
        path: `/?token=${server.token}`,
        headers: { host: `127.0.0.1:${server.port}` }
      })
      assert.include(String(page.headers["content-security-policy"]), "script-src 'self'")
      assert.strictEqual(page.headers["referrer-policy"], "no-referrer")
      assert.strictEqual(page.headers["x-frame-options"], "DENY")
      assert.notInclude(page.body, "<script>")
    }).pipe(Effect.provide(layer)))

  it.scopedLive("answers racing for one request: exactly one wins, the others are told who decided", () =>
    Effect.gen(function*() {
      const server = yield* WebServer.WebServer
      const { agent } = yield* child("root/a")
      const inbox = yield* ApprovalInbox.ApprovalInbox
      yield* agent.emit({ type: "exec_approval_request", call_id: "c1", command: ["make"], cwd: "/" }, "t")
      const pending = yield* inbox.awaitPending()
      const post = (tab: string, action: string) => {
        const body = JSON.stringify({ id: pending.request.id, action, tab })
        return request({
          port: server.port,
          path: "/api/answer",
          method: "POST",
          headers: {
            host: `127.0.0.1:${server.port}`,
            origin: server.origin,
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body)),
            "x-deputy-token": server.token
          },
          body
        })
      }
      const tabs = Array.from({ length: 12 }, (_, i) => `tab${i}`)
      const replies = yield* Effect.forEach(tabs, (tab, i) => post(tab, i % 2 === 0 ? "approve" : "deny"), {
        concurrency: "unbounded"
      })
      const winners = replies.flatMap((reply, i) => reply.status === 200 ? [tabs[i]] : [])
      assert.strictEqual(winners.length, 1)
      assert.deepStrictEqual(replies.filter((reply) => reply.status === 409).length, tabs.length - 1)
      const answer = yield* agent.awaitOp("exec_approval")
      const expected = tabs.indexOf(winners[0]) % 2 === 0 ? "approved" : "denied"
      assert.deepStrictEqual(answer.op, { type: "exec_approval", id: "c1", turn_id: "t", decision: expected })
      assert.strictEqual((yield* agent.received).filter((s) => s.op.type === "exec_approval").length, 1)
      for (const reply of replies.filter((reply) => reply.status === 409)) {
        const settled = (JSON.parse(reply.body) as { settled?: { client?: string } }).settled
        // The settlement is announced before the winner's reply is written, but a loser can be refused
        // between the two: it is then told the request is not pending, without the name yet.
        if (settled !== undefined) assert.strictEqual(settled.client, `web:${winners[0]}`)
      }
    }).pipe(Effect.provide(layer)))
})
