/**
 * The anchor: the ledger's head `(seq, hash)` kept outside the database, in a file rewritten after each
 * append (one fixed-size record, in place) and authenticated with an HMAC whose key is a 0600 file. Removing entries from the
 * database (and rewinding its head row) then no longer passes `verify`: the anchor still names the old end.
 *
 * An append moves the anchor only forward and only when the anchor lies on the chain it extends, so a
 * truncation is never laundered by the next append.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { genesis } from "./ledger.js"

/** What the anchor file says. */
export type AnchorState =
  | { readonly _tag: "Missing" }
  | { readonly _tag: "Invalid"; readonly reason: string }
  | { readonly _tag: "Valid"; readonly seq: number; readonly hash: string }

/** The anchor's record: its JSON padded with spaces to a fixed size, so a rewrite never shortens the file. */
const recordBytes = 256

/** An anchor file and its key. Every operation is synchronous (small files) and may throw. */
export interface Anchor {
  readonly file: string
  readonly read: () => AnchorState
  /** Replaces the anchor's record in place, in one write of one fixed-size record. */
  readonly write: (seq: number, hash: string) => void
  /** The head this process last wrote, if it did. */
  readonly written: () => { readonly seq: number; readonly hash: string } | undefined
}

/** What an append does with the anchor, given the chain's head before it (read under the write lock). */
export type AnchorMove =
  | { readonly _tag: "Advance" }
  | { readonly _tag: "Keep" }
  /** Advance only if the entry at `seq` has this hash (the anchor lags the head: another writer's append). */
  | { readonly _tag: "Compare"; readonly seq: number; readonly hash: string }

/** Whether an append on top of `head` may move the anchor forward. */
export const moveOf = (state: AnchorState, head: { readonly seq: number; readonly hash: string }): AnchorMove => {
  switch (state._tag) {
    case "Missing":
      return head.seq === 0 ? { _tag: "Advance" } : { _tag: "Keep" }
    case "Invalid":
      return { _tag: "Keep" }
    case "Valid":
      // the empty ledger's anchor (written when it was opened) lies on every chain
      if (state.seq === 0) return state.hash === genesis ? { _tag: "Advance" } : { _tag: "Keep" }
      if (state.seq > head.seq) return { _tag: "Keep" }
      if (state.seq === head.seq) return state.hash === head.hash ? { _tag: "Advance" } : { _tag: "Keep" }
      return { _tag: "Compare", seq: state.seq, hash: state.hash }
  }
}

/** The move for an append, the anchor read under the write lock (an unreadable anchor is kept as it is). */
export const decide = (anchor: Anchor, head: { readonly seq: number; readonly hash: string }): AnchorMove => {
  // nobody appended since this process anchored the head: no need to read the file again
  const written = anchor.written()
  if (written !== undefined && written.seq === head.seq && written.hash === head.hash) return { _tag: "Advance" }
  try {
    return moveOf(anchor.read(), head)
  } catch {
    return { _tag: "Keep" }
  }
}

/** Writes the anchor after a commit; returns why it could not (the entries are committed either way). */
export const advance = (anchor: Anchor, seq: number, hash: string): string | undefined => {
  try {
    anchor.write(seq, hash)
    return undefined
  } catch (error) {
    return `could not write its anchor ${anchor.file}: ${error instanceof Error ? error.message : String(error)}`
  }
}

const keyBytes = 32

/**
 * Reads the key, creating it (0600) if it does not exist; refuses a key others can read. A new key is written
 * whole to a file of its own, then linked into place (fails if one is there already), so a second process
 * opening the same fresh ledger reads a complete key or none: it once read the other's empty file.
 */
const loadKey = (keyFile: string): Buffer => {
  fs.mkdirSync(path.dirname(keyFile), { recursive: true })
  if (!fs.existsSync(keyFile)) {
    const draft = `${keyFile}.${process.pid}.${randomBytes(6).toString("hex")}`
    fs.writeFileSync(draft, randomBytes(keyBytes).toString("hex") + "\n", { flag: "wx", mode: 0o600 })
    try {
      fs.linkSync(draft, keyFile)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    } finally {
      fs.rmSync(draft, { force: true })
    }
  }
  const stat = fs.statSync(keyFile)
  if (!stat.isFile()) throw new Error(`its anchor key ${keyFile} is not a regular file`)
  if ((stat.mode & 0o077) !== 0) {
    throw new Error(
      `its anchor key ${keyFile} can be read by others (mode ${(stat.mode & 0o777).toString(8)}); ` +
        `run chmod 600 on it`
    )
  }
  const text = fs.readFileSync(keyFile, "utf8").trim()
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`its anchor key ${keyFile} is not 64 hex digits`)
  return Buffer.from(text, "hex")
}

const macOf = (key: Buffer, seq: number, hash: string): string =>
  createHmac("sha256", key).update(`deputy-ledger-anchor/1\n${seq}\n${hash}`).digest("hex")

const parse = (key: Buffer, text: string): AnchorState => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { _tag: "Invalid", reason: "is not JSON" }
  }
  const { hash, mac, seq } = (value ?? {}) as { seq?: unknown; hash?: unknown; mac?: unknown }
  if (
    typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0 || typeof hash !== "string" ||
    !/^[0-9a-f]{64}$/.test(hash) || typeof mac !== "string" || !/^[0-9a-f]{64}$/.test(mac)
  ) {
    return { _tag: "Invalid", reason: "is not an anchor (seq, hash, mac)" }
  }
  const expected = Buffer.from(macOf(key, seq, hash), "hex")
  if (!timingSafeEqual(expected, Buffer.from(mac, "hex"))) {
    return { _tag: "Invalid", reason: "was not written with this ledger's key (its HMAC does not match)" }
  }
  return { _tag: "Valid", seq, hash }
}

/** The key file of an anchor when none is given: `ledger.key` beside it. */
export const defaultKeyFile = (file: string): string => path.join(path.dirname(file), "ledger.key")

/** Opens an anchor, creating its key if needed (throws if the key cannot be made or is unsafe). */
export const make = (file: string, keyFile: string): Anchor => {
  const key = loadKey(keyFile)
  const read = (): AnchorState => {
    let text: string
    try {
      text = fs.readFileSync(file, "latin1")
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { _tag: "Missing" }
      throw error
    }
    return parse(key, text.trimEnd())
  }
  let written: { readonly seq: number; readonly hash: string } | undefined
  return {
    file,
    read,
    written: () => written,
    write: (seq, hash) => {
      const record = Buffer.alloc(recordBytes, " ")
      record.write(JSON.stringify({ seq, hash, mac: macOf(key, seq, hash) }), "latin1")
      record[recordBytes - 1] = 0x0a
      // one fixed-size write in place (no truncate, no rename: on ext4 either makes the close or rename
      // wait for the data, measured ~1.5 ms); a torn record fails its HMAC and reads as invalid
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o600)
      try {
        fs.writeSync(fd, record, 0, recordBytes, 0)
      } finally {
        fs.closeSync(fd)
      }
      written = { seq, hash }
    }
  }
}

/** Reads an anchor for `verify`: an invalid read is retried, as a writer may be rewriting it right now. */
export const readSettled = (anchor: Anchor): AnchorState => {
  let state = anchor.read()
  for (let attempt = 0; attempt < 3 && state._tag === "Invalid"; attempt++) state = anchor.read()
  return state
}
