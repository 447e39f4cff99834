import * as crypto from "node:crypto"

/** What a request brings that the guard checks. */
export interface Incoming {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string | undefined>>
}

/** Why a request is refused (the status and a short text for the body). */
export interface Refusal {
  readonly status: 400 | 403 | 411 | 413 | 415
  readonly reason: string
}

/** The header that carries the token on API calls. */
export const tokenHeader = "x-deputy-token"

/** Largest body a POST may carry. */
export const maxBody = 16 * 1024

const sameToken = (given: string | null | undefined, token: string): boolean => {
  if (typeof given !== "string") return false
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && crypto.timingSafeEqual(a, b)
}

/**
 * Checks one request against the server's rules; `undefined` lets it through.
 *
 * - The Host header must be exactly the loopback name and port the server started with (a page on
 *   another name that resolves to 127.0.0.1, DNS rebinding, is refused).
 * - Every request carries the token: reading (GET) in the `token` query parameter or the header, changing
 *   state (POST) only in the header.
 * - A POST must also be same-origin: `Origin` equal to the server's own, or, without `Origin`,
 *   `Sec-Fetch-Site: same-origin`; it must be JSON with a known, small length.
 * - Nothing else (no OPTIONS: there is no CORS).
 */
export const check = (incoming: Incoming, expect: { readonly host: string; readonly token: string }) => {
  const host = incoming.headers["host"]
  if (host === undefined || host.toLowerCase() !== expect.host) {
    return { status: 403, reason: "wrong Host header" } satisfies Refusal
  }
  const url = new URL(incoming.url, `http://${expect.host}`)
  const method = incoming.method.toUpperCase()
  if (method === "GET" || method === "HEAD") {
    const given = incoming.headers[tokenHeader] ?? url.searchParams.get("token")
    return sameToken(given, expect.token) ? undefined : { status: 403, reason: "missing or wrong token" }
  }
  if (method !== "POST") return { status: 403, reason: "method not allowed" } satisfies Refusal
  if (!sameToken(incoming.headers[tokenHeader], expect.token)) {
    return { status: 403, reason: "missing or wrong token header" } satisfies Refusal
  }
  const origin = incoming.headers["origin"]
  const site = incoming.headers["sec-fetch-site"]
  const sameOrigin = origin !== undefined ? origin.toLowerCase() === `http://${expect.host}` : site === "same-origin"
  if (!sameOrigin) return { status: 403, reason: "cross-origin request" } satisfies Refusal
  const type = incoming.headers["content-type"] ?? ""
  if (!/^application\/json(;|$)/i.test(type.trim())) {
    return { status: 415, reason: "the body must be application/json" } satisfies Refusal
  }
  const length = incoming.headers["content-length"]
  if (length === undefined) return { status: 411, reason: "Content-Length is required" } satisfies Refusal
  const bytes = Number(length)
  if (!Number.isInteger(bytes) || bytes < 0) return { status: 400, reason: "bad Content-Length" } satisfies Refusal
  if (bytes > maxBody) return { status: 413, reason: "body too large" } satisfies Refusal
  return undefined
}

/** A fresh random token: 32 bytes, URL-safe. */
export const freshToken = (): string => crypto.randomBytes(32).toString("base64url")
