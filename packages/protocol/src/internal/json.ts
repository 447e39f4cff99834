/**
 * Hostile JSON, contained: a nesting bound checked before parsing, and `__proto__` keys kept as data.
 */

const quote = 0x22
const backslash = 0x5c
const openBracket = 0x5b
const closeBracket = 0x5d
const openBrace = 0x7b
const closeBrace = 0x7d

/**
 * Whether JSON text nests arrays and objects deeper than `limit`, found by one scan of the brackets outside
 * strings (strings are skipped with `indexOf`, so long strings cost little). Malformed text is not judged:
 * `JSON.parse` reports it.
 */
export const nestsDeeperThan = (text: string, limit: number): boolean => {
  // more levels than characters is impossible: a short line needs no scan
  if (text.length <= limit) return false
  let depth = 0
  let index = 0
  const length = text.length
  while (index < length) {
    const code = text.charCodeAt(index)
    if (code === quote) {
      index = endOfString(text, index + 1)
      if (index === -1) return false
    } else if (code === openBracket || code === openBrace) {
      depth += 1
      if (depth > limit) return true
    } else if (code === closeBracket || code === closeBrace) {
      depth -= 1
    }
    index += 1
  }
  return false
}

/** The index of the quote that closes the string starting at `from`, or -1 if it is not closed. */
const endOfString = (text: string, from: number): number => {
  let search = from
  while (true) {
    const end = text.indexOf("\"", search)
    if (end === -1) return -1
    let backslashes = 0
    while (text.charCodeAt(end - 1 - backslashes) === backslash) backslashes += 1
    if (backslashes % 2 === 0) return end
    search = end + 1
  }
}

const hasOwn = (value: object, key: string): boolean => Object.prototype.hasOwnProperty.call(value, key)

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const define = (target: Record<string, unknown>, key: string, value: unknown): void => {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true })
}

/**
 * Puts back the `__proto__` keys a schema pass lost. `JSON.parse` makes `__proto__` an own data property,
 * but Effect's parser builds each object with `output[key] = value`, which for `__proto__` sets the prototype
 * instead: the key vanishes from `Object.keys`, and its fields show through as inherited ones. `source` is
 * the value the pass read (parsed JSON when decoding, the decoded value when encoding) and `result` what it
 * built; both have the same shape, so they are walked together. Objects with a `__proto__` key are rebuilt
 * with it as an own property, in `source`'s key order; values the pass handed through unchanged are skipped.
 * The walk recurses only into objects the pass built (values it handed through are the same reference and
 * are skipped), so its depth is the schema's nesting, not the input's.
 */
export const restoreProtoKeys = (source: unknown, result: unknown): unknown => {
  if (source === result || typeof result !== "object" || result === null) return result
  if (Array.isArray(source)) {
    if (Array.isArray(result)) {
      for (let index = 0; index < result.length; index++) {
        result[index] = restoreProtoKeys(source[index], result[index])
      }
    }
    return result
  }
  if (!isObject(source) || !isObject(result)) return result
  if (!hasOwn(source, "__proto__")) {
    for (const key of Object.keys(result)) {
      if (hasOwn(source, key)) result[key] = restoreProtoKeys(source[key], result[key])
    }
    return result
  }
  const prototype: unknown = Object.getPrototypeOf(result)
  // the pass assigned `__proto__`: an object or null became the prototype; any other value was dropped
  const protoValue = prototype === Object.prototype ? source["__proto__"] : prototype
  const rebuilt: Record<string, unknown> = {}
  for (const key of Object.keys(source)) {
    if (key === "__proto__") define(rebuilt, key, restoreProtoKeys(source[key], protoValue))
    else if (hasOwn(result, key)) define(rebuilt, key, restoreProtoKeys(source[key], result[key]))
  }
  for (const key of Object.keys(result)) {
    if (!hasOwn(rebuilt, key)) define(rebuilt, key, result[key])
  }
  return rebuilt
}
