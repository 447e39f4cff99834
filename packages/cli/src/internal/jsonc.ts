/**
 * A small JSON-with-comments reader that remembers where each value starts, so that a problem found later
 * (a wrong field in a policy rule) can be reported with its line. Accepts `//` and `/* *\/` comments and
 * trailing commas; everything else is strict JSON.
 */

/** A 1-based line and column. */
export interface Position {
  readonly line: number
  readonly column: number
}

/** The text is not JSON: what is wrong, and where. */
export interface SyntaxProblem extends Position {
  readonly problem: string
}

/** A parsed document: its value, and where each object, array and member value starts. */
export interface Document {
  readonly value: unknown
  /** Where the value at `path` starts (or the nearest parent that exists). */
  readonly positionOf: (path: ReadonlyArray<PropertyKey>) => Position
}

class Failure {
  constructor(readonly problem: SyntaxProblem) {}
}

/** Parses JSON with comments and trailing commas. */
export const parse = (text: string): Document | SyntaxProblem => {
  let index = 0
  const starts = new WeakMap<object, Map<PropertyKey, Position>>()
  const origin = { line: 1, column: 1 }

  const positionAt = (offset: number): Position => {
    let line = 1
    let lineStart = 0
    for (let i = 0; i < offset && i < text.length; i++) {
      if (text[i] === "\n") {
        line++
        lineStart = i + 1
      }
    }
    return { line, column: offset - lineStart + 1 }
  }
  const fail = (problem: string, at = index): never => {
    throw new Failure({ problem, ...positionAt(at) })
  }
  const describeHere = () => index >= text.length ? "the end of the file" : JSON.stringify(text[index])

  const skipBlank = () => {
    while (index < text.length) {
      const char = text[index]
      if (char === " " || char === "\t" || char === "\n" || char === "\r" || char === "\uFEFF") {
        index++
      } else if (char === "/" && text[index + 1] === "/") {
        while (index < text.length && text[index] !== "\n") index++
      } else if (char === "/" && text[index + 1] === "*") {
        const end = text.indexOf("*/", index + 2)
        if (end === -1) fail("a /* comment is not closed")
        index = end + 2
      } else {
        return
      }
    }
  }

  const parseString = (): string => {
    const start = index
    index++ // opening quote
    let result = ""
    while (true) {
      if (index >= text.length || text[index] === "\n") fail("a string is not closed", start)
      const char = text[index]
      if (char === "\"") {
        index++
        return result
      }
      if (char === "\\") {
        const escape = text[index + 1]
        const simple: Record<string, string> = {
          "\"": "\"",
          "\\": "\\",
          "/": "/",
          b: "\b",
          f: "\f",
          n: "\n",
          r: "\r",
          t: "\t"
        }
        if (escape !== undefined && escape in simple) {
          result += simple[escape]
          index += 2
        } else if (escape === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(index + 2, index + 6))) {
          result += String.fromCharCode(parseInt(text.slice(index + 2, index + 6), 16))
          index += 6
        } else {
          fail(`invalid escape \\${escape ?? ""} in a string`)
        }
      } else {
        result += char
        index++
      }
    }
  }

  const parseValue = (parent: object | undefined, key: PropertyKey): unknown => {
    skipBlank()
    const start = index
    const position = positionAt(start)
    const record = (value: unknown) => {
      if (parent !== undefined) starts.get(parent)?.set(key, position)
      if (typeof value === "object" && value !== null && !starts.has(value)) {
        starts.set(value, new Map([[selfKey, position]]))
      }
      return value
    }
    const char = text[index]
    if (char === "{") {
      const object: Record<string, unknown> = {}
      record(object)
      index++
      skipBlank()
      while (text[index] !== "}") {
        if (text[index] !== "\"") fail(`expected a "quoted" field name or }, found ${describeHere()}`)
        const nameStart = index
        const name = parseString()
        skipBlank()
        if (text[index] !== ":") fail(`expected : after "${name}", found ${describeHere()}`)
        index++
        if (Object.prototype.hasOwnProperty.call(object, name)) fail(`the field "${name}" appears twice`, nameStart)
        object[name] = parseValue(object, name)
        skipBlank()
        if (text[index] === ",") {
          index++
          skipBlank()
        } else if (text[index] !== "}") {
          fail(`expected , or } after the value of "${name}", found ${describeHere()}`)
        }
      }
      index++
      return object
    }
    if (char === "[") {
      const array: Array<unknown> = []
      record(array)
      index++
      skipBlank()
      while (text[index] !== "]") {
        array.push(parseValue(array, array.length))
        skipBlank()
        if (text[index] === ",") {
          index++
          skipBlank()
        } else if (text[index] !== "]") {
          fail(`expected , or ] in a list, found ${describeHere()}`)
        }
      }
      index++
      return array
    }
    if (char === "\"") return record(parseString())
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(
      text.slice(index, index + 64)
    )
    if (literal) {
      index += literal[0].length
      return record(JSON.parse(literal[0]))
    }
    if (char === "'") return fail("strings need double quotes (\"...\"), not single quotes")
    return fail(`expected a value, found ${describeHere()}`)
  }

  try {
    const value = parseValue(undefined, "")
    skipBlank()
    if (index < text.length) fail(`unexpected ${describeHere()} after the end of the document`)
    return {
      value,
      positionOf: (path) => {
        let current: unknown = value
        let position: Position = typeof value === "object" && value !== null
          ? starts.get(value)?.get(selfKey) ?? origin
          : origin
        for (const key of path) {
          if (typeof current !== "object" || current === null) break
          const next = starts.get(current)?.get(key)
          if (next === undefined) break
          position = next
          current = (current as Record<PropertyKey, unknown>)[key]
        }
        return position
      }
    }
  } catch (error) {
    if (error instanceof Failure) return error.problem
    throw error
  }
}

const selfKey = Symbol("self")

/** Whether `parse` failed. */
export const isSyntaxProblem = (result: Document | SyntaxProblem): result is SyntaxProblem => "problem" in result
