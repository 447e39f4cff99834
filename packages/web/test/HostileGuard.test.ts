import { assert, describe, it } from "@effect/vitest"
import { check, freshToken } from "../src/internal/guard.js"

// A web client without the token is untrusted: every variant below must be refused.
const token = freshToken()
const host = "127.0.0.1:4000"
const expect = { host, token }
const okPost = {
  host,
  origin: "http://127.0.0.1:4000",
  "x-deputy-token": token,
  "content-type": "application/json",
  "content-length": "10"
}

describe("hostile web clients", () => {
  it("Host variants that are not exactly the started name:port are refused (DNS rebinding)", () => {
    for (
      const bad of [
        "127.0.0.1.evil.com:4000",
        "127.0.0.1:4000.evil.com",
        "localhost:4000",
        "[::1]:4000",
        "127.0.0.1",
        "127.0.0.1:04000",
        "127.0.0.1:4000.",
        " 127.0.0.1:4000",
        "127.0.0.1:4000 ",
        "evil.com",
        "127.0.0.1:4000@evil.com",
        ""
      ]
    ) {
      assert.strictEqual(
        check({ method: "GET", url: `/?token=${token}`, headers: { host: bad } }, expect)?.status,
        403,
        `Host ${JSON.stringify(bad)}`
      )
    }
  })

  it("a near-miss token is refused: prefix, suffix, case change, same length but one byte off, multi-byte", () => {
    const flipped = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A")
    for (
      const bad of [
        token.slice(0, -1),
        token + "x",
        token.toUpperCase() === token ? token.toLowerCase() : token.toUpperCase(),
        flipped,
        "é".repeat(token.length / 2),
        `${token}\u0000`,
        ""
      ]
    ) {
      assert.strictEqual(
        check({ method: "GET", url: `/?token=${encodeURIComponent(bad)}`, headers: { host } }, expect)?.status,
        403
      )
      assert.strictEqual(
        check({ method: "GET", url: "/", headers: { host, "x-deputy-token": bad } }, expect)?.status,
        403
      )
    }
  })

  it("an empty token header does not fall back to a right token in the URL of a POST", () => {
    assert.strictEqual(
      check(
        { method: "POST", url: `/api/answer?token=${token}`, headers: { ...okPost, "x-deputy-token": undefined } },
        expect
      )
        ?.status,
      403
    )
  })

  it("SSE without the token is refused", () => {
    assert.strictEqual(check({ method: "GET", url: "/api/events", headers: { host } }, expect)?.status, 403)
    assert.strictEqual(check({ method: "GET", url: "/api/events?token=", headers: { host } }, expect)?.status, 403)
  })

  it("CORS-simple POSTs are refused: text/plain, form bodies, Origin null, a foreign or look-alike origin", () => {
    for (
      const type of [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "application/json-seq",
        ""
      ]
    ) {
      assert.notStrictEqual(
        check({ method: "POST", url: "/api/answer", headers: { ...okPost, "content-type": type } }, expect),
        undefined,
        type
      )
    }
    for (
      const origin of [
        "null",
        "http://127.0.0.1.evil.com:4000",
        "http://localhost:4000",
        "https://127.0.0.1:4000",
        "http://127.0.0.1:4000/",
        ""
      ]
    ) {
      assert.strictEqual(
        check({ method: "POST", url: "/api/answer", headers: { ...okPost, origin } }, expect)?.status,
        403,
        origin
      )
    }
    // without Origin, only Sec-Fetch-Site: same-origin passes
    const { origin: _origin, ...noOrigin } = okPost
    for (const site of [undefined, "same-site", "cross-site", "none"]) {
      assert.strictEqual(
        check({ method: "POST", url: "/api/answer", headers: { ...noOrigin, "sec-fetch-site": site } }, expect)?.status,
        403,
        String(site)
      )
    }
  })

  it("oversized or odd Content-Length is refused", () => {
    for (const length of [String(16 * 1024 + 1), "1e9", "-1", "1.5", "abc", "99999999999999999999"]) {
      assert.notStrictEqual(
        check({ method: "POST", url: "/api/answer", headers: { ...okPost, "content-length": length } }, expect),
        undefined,
        length
      )
    }
    const { "content-length": _length, ...chunked } = okPost
    assert.strictEqual(check({ method: "POST", url: "/api/answer", headers: chunked }, expect)?.status, 411)
  })

  it("other methods are refused even with every right header", () => {
    for (const method of ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]) {
      assert.strictEqual(check({ method, url: "/api/answer", headers: okPost }, expect)?.status, 403, method)
    }
  })
})
