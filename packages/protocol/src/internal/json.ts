/**
 * Hostile JSON, contained: bounds on nesting and width checked before parsing, and `__proto__` keys kept as data.
 */

const quote = 0x22
const backslash = 0x5c
const openBracket = 0x5b
const closeBracket = 0x5d
const openBrace = 0x7b
const closeBrace = 0x7d
const colon = 0x3a
const comma = 0x2c

/**
 * What makes JSON text too costly to take in: nesting deeper than `maxDepth` (`JSON.stringify` and any
 * recursive reader overflow their stack) or more than `maxItems` object members and array elements in all
 * (each costs the schema pass microseconds, so a line of a million would hold the event loop for seconds).
 * Found by one scan of the characters outside strings (strings are skipped with `indexOf`, so long strings
 * cost little); malformed text is not judged here, `JSON.parse` reports it.
 */
export const excess = (
  text: string,
  maxDepth: number,
  maxItems: number
): "too_deep" | "too_many_items" | undefined => {
  // a level needs a character and an item at least two (`1,`): a short line needs no scan
  if (text.length <= maxDepth && text.length <= 2 * maxItems) return undefined
  // whether each open container is an array, and whether the innermost one is an array still empty
  const inArray: Array<boolean> = []
  let emptyArray = false
  let items = 0
  let index = 0
  const length = text.length
  while (index < length) {
    const code = text.charCodeAt(index)
    if (emptyArray && code !== closeBracket && !isWhitespace(code)) {
      emptyArray = false
      items += 1
    }
    if (code === quote) {
      index = endOfString(text, index + 1)
      if (index === -1) return undefined
    } else if (code === openBracket || code === openBrace) {
      if (inArray.length === maxDepth) return "too_deep"
      inArray.push(code === openBracket)
      emptyArray = code === openBracket
    } else if (code === closeBracket || code === closeBrace) {
      inArray.pop()
      emptyArray = false
    } else if (code === colon || (code === comma && inArray[inArray.length - 1] === true)) {
      // a colon starts a member's value, a comma in an array the next element
      items += 1
    }
    if (items > maxItems) return "too_many_items"
    index += 1
  }
  return undefined
}

const isWhitespace = (code: number): boolean => code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09

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
      if (!hasOwn(source, key)) continue
      const restored = restoreProtoKeys(source[key], result[key])
      if (key === "__proto__") define(result, key, restored)
      else result[key] = restored
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
