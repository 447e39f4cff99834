import * as crypto from "node:crypto"

/** Random bytes are drawn in blocks: one `randomFillSync` per 256 ids instead of one per id. */
const pool = Buffer.alloc(16 * 256)
let offset = pool.length

/** A UUID v7 (RFC 9562): 48-bit millisecond timestamp, then random bits; sorts by creation time. */
export const uuidv7 = (): string => {
  if (offset === pool.length) {
    crypto.randomFillSync(pool)
    offset = 0
  }
  const bytes = pool.subarray(offset, offset + 16)
  offset += 16
  const now = Date.now()
  bytes[0] = Math.floor(now / 2 ** 40) & 0xff
  bytes[1] = Math.floor(now / 2 ** 32) & 0xff
  bytes[2] = Math.floor(now / 2 ** 24) & 0xff
  bytes[3] = Math.floor(now / 2 ** 16) & 0xff
  bytes[4] = Math.floor(now / 2 ** 8) & 0xff
  bytes[5] = now & 0xff
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = bytes.toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
