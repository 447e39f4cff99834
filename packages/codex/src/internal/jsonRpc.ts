/**
 * The app-server's JSON-RPC dialect: JSON-RPC 2.0 without the `"jsonrpc"` field, one message per line,
 * with an optional W3C `trace` carrier on requests (codex-rs `app-server-protocol/src/jsonrpc_lite.rs`).
 */
import type { W3cTraceContext } from "@deputy/protocol"

/** A request id: the app-server uses integers, strings are allowed. */
export type RequestId = string | number

/** The error object of a JSON-RPC error response. */
export interface RpcErrorBody {
  readonly code: number
  readonly message: string
  readonly data?: unknown
}

/** One message read from the app-server. */
export type Incoming =
  | { readonly _tag: "Request"; readonly id: RequestId; readonly method: string; readonly params: unknown }
  | { readonly _tag: "Notification"; readonly method: string; readonly params: unknown }
  | { readonly _tag: "Response"; readonly id: RequestId; readonly result: unknown }
  | { readonly _tag: "ErrorResponse"; readonly id: RequestId; readonly error: RpcErrorBody }

/** "Method not found": the answer to a server request this client does not handle. */
export const methodNotFound = -32601

const isRequestId = (value: unknown): value is RequestId => typeof value === "string" || typeof value === "number"

/** Reads a parsed JSON value as a message, or `undefined` when it is not one. */
export const classify = (json: unknown): Incoming | undefined => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined
  const message = json as Record<string, unknown>
  const method = message.method
  if (typeof method === "string") {
    return isRequestId(message.id)
      ? { _tag: "Request", id: message.id, method, params: message.params }
      : { _tag: "Notification", method, params: message.params }
  }
  if (!isRequestId(message.id)) return undefined
  if ("result" in message) return { _tag: "Response", id: message.id, result: message.result }
  const error = message.error
  if (typeof error === "object" && error !== null) {
    const body = error as Record<string, unknown>
    return {
      _tag: "ErrorResponse",
      id: message.id,
      error: {
        code: typeof body.code === "number" ? body.code : 0,
        message: typeof body.message === "string" ? body.message : JSON.stringify(error)
      }
    }
  }
  return undefined
}

const traceCarrier = (
  trace: W3cTraceContext.W3cTraceContext | undefined
): W3cTraceContext.W3cTraceContext | undefined => {
  if (trace === undefined) return undefined
  const carrier: { traceparent?: string; tracestate?: string } = {}
  if (typeof trace.traceparent === "string") carrier.traceparent = trace.traceparent
  if (typeof trace.tracestate === "string") carrier.tracestate = trace.tracestate
  return carrier.traceparent === undefined ? undefined : carrier
}

/** A request line, with the trace carrier when there is a `traceparent`. */
export const request = (
  id: number,
  method: string,
  params: unknown,
  trace?: W3cTraceContext.W3cTraceContext | undefined
): string => {
  const carrier = traceCarrier(trace)
  return JSON.stringify(carrier === undefined ? { method, id, params } : { method, id, params, trace: carrier })
}

/** A notification line. */
export const notification = (method: string, params?: unknown): string =>
  JSON.stringify(params === undefined ? { method } : { method, params })

/** A result line answering a server request. */
export const result = (id: RequestId, value: unknown): string => JSON.stringify({ id, result: value })

/** An error line answering a server request. */
export const error = (id: RequestId, code: number, message: string): string =>
  JSON.stringify({ id, error: { code, message } })
