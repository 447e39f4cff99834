import { EventMsg, Op } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

const decodeMsg = Schema.decodeUnknownEither(Schema.parseJson(EventMsg.EventMsg))
const encodeMsg = Schema.encodeEither(Schema.parseJson(EventMsg.EventMsg))
const decodeOp = Schema.decodeUnknownEither(Schema.parseJson(Op.Op))
const encodeOp = Schema.encodeEither(Schema.parseJson(Op.Op))

const roundTrip = (text: string) => {
  const decoded = decodeMsg(text)
  if (Either.isLeft(decoded)) return assert.fail(String(decoded.left))
  assert.strictEqual(Either.getOrThrow(encodeMsg(decoded.right)), text)
  return decoded.right
}

describe("deputy_thread and is_blocking are modelled (optional, open, same bytes back)", () => {
  it("a request event's deputy_thread decodes typed and re-encodes to the same text", () => {
    const text =
      `{"type":"exec_approval_request","deputy_thread":{"id":"t-2","parentId":"t-1","nickname":"Galileo","x":1},` +
      `"call_id":"c","command":["ls"],"cwd":"/w"}`
    const msg = roundTrip(text)
    assert.isTrue(EventMsg.isEventMsg(msg, "exec_approval_request"))
    if (EventMsg.isEventMsg(msg, "exec_approval_request")) assert.strictEqual(msg.deputy_thread?.nickname, "Galileo")
  })

  it("is_blocking on request_user_input is a boolean field, kept in place", () => {
    const msg = roundTrip(`{"type":"request_user_input","call_id":"c","is_blocking":false,"questions":[]}`)
    if (!EventMsg.isEventMsg(msg, "request_user_input")) return assert.fail("not modelled")
    assert.strictEqual(msg.is_blocking, false)
    assert.isTrue(
      Either.isLeft(decodeMsg(`{"type":"request_user_input","call_id":"c","is_blocking":"no","questions":[]}`))
    )
  })
})

describe("elicitation_request and resolve_elicitation", () => {
  it("a form elicitation with a __proto__ property keeps it as data, same text back", () => {
    const text = `{"type":"elicitation_request","server_name":"srv","id":7,"request":{"mode":"form","message":"hi",` +
      `"requested_schema":{"type":"object","properties":{"__proto__":{"type":"string"}}}}}`
    const msg = roundTrip(text)
    if (!EventMsg.isEventMsg(msg, "elicitation_request")) return assert.fail("not modelled")
    const properties = (msg.request.requested_schema as { properties: object }).properties
    assert.deepStrictEqual(Object.keys(properties), ["__proto__"])
    assert.strictEqual(Object.getPrototypeOf(properties), Object.prototype)
  })

  it("an unknown mode decodes (Deputy declines it later); a missing server name does not", () => {
    const msg = roundTrip(
      `{"type":"elicitation_request","server_name":"s","id":"r","request":{"mode":"telepathy","message":"m"}}`
    )
    assert.strictEqual(msg.type, "elicitation_request")
    assert.isTrue(
      Either.isLeft(decodeMsg(`{"type":"elicitation_request","id":"r","request":{"mode":"form","message":"m"}}`))
    )
  })

  it("resolve_elicitation carries meta (a tool-call approval's persist choice)", () => {
    const text =
      `{"type":"resolve_elicitation","server_name":"s","request_id":1,"decision":"accept","meta":{"persist":"session"}}`
    const op = decodeOp(text)
    if (Either.isLeft(op)) return assert.fail(String(op.left))
    assert.strictEqual(Either.getOrThrow(encodeOp(op.right)), text)
  })
})
