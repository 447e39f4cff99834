/**
 * Faithful text: how anything a sub-agent sent is shown to a person. Nothing it sends can move the
 * cursor, change colours, clear the screen or hide text: every control character (C0, DEL, C1), every
 * format character (bidi overrides and isolates, zero-width characters, Unicode category Cf), line and
 * paragraph separators, spaces other than the ASCII space and lone surrogates are shown as visible escapes
 * (`\n`, `\t`, `\x1b`, `\x9b`, `\u202e`, `\u{e0041}`), never interpreted and never dropped. Long or
 * multi-line fields keep their start and their end, with what was left out counted in between.
 *
 * Every human-readable output of the CLI (prompts, the status line, settlements, events) and of the web
 * page (`@deputy/web`) goes through this module (moved here from
 * `@deputy/cli` in 0.2.0; `@deputy/cli`'s `Text` re-exports it).
 *
 * @since 0.2.0
 */

/**
 * Code points shown as escapes: controls (Cc: C0, DEL, C1), format characters (Cf: bidi controls,
 * zero-width characters, U+FEFF, tag characters…), line/paragraph separators, lone surrogates, the
 * Hangul fillers (drawn as blanks), and every space except U+0020 (a no-break space looks like a word
 * break but is not one to a shell).
 */
const hidden = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u115f\u1160\u3164\uffa0]|(?! )\p{Zs}/u
const hiddenGlobal = new RegExp(hidden.source, "gu")

const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" }

const hex = (code: number, digits: number) => code.toString(16).padStart(digits, "0")

/**
 * The visible escape of one code point (`\n`, `\x1b`, `\x9b`, `\u202e`, `\u{e0041}`).
 *
 * @since 0.2.0
 * @category formatting
 */
export const escapeCodePoint = (char: string): string => {
  const known = named[char]
  if (known !== undefined) return known
  const code = char.codePointAt(0) ?? 0
  return code <= 0xff ? `\\x${hex(code, 2)}` : code <= 0xffff ? `\\u${hex(code, 4)}` : `\\u{${hex(code, 0)}}`
}

/**
 * Whether a text has anything that `visible` would escape.
 *
 * @since 0.2.0
 * @category predicates
 */
export const hasHidden = (text: string): boolean => hidden.test(text)

/**
 * How an escape is set off from the text around it (so `\n` sent as a newline and a backslash followed by
 * `n` read differently): e.g. reverse video on a colour terminal. It must not change the escape's width.
 *
 * @since 0.2.0
 * @category models
 */
export type Mark = (escape: string) => string

const unmarked: Mark = (escape) => escape

/**
 * The text on one line, every control, format and invisible character (newlines included) shown as an
 * escape.
 *
 * @since 0.2.0
 * @category formatting
 */
export const visible = (text: string, mark: Mark = unmarked): string =>
  text.replace(hiddenGlobal, (char) => mark(escapeCodePoint(char)))

/**
 * The text's lines (a newline or CRLF ends a line; a trailing newline makes no empty last line), each one
 * as `visible` shows it (a lone CR stays visible as `\r`).
 *
 * @since 0.2.0
 * @category formatting
 */
export const visibleLines = (text: string): Array<string> => {
  if (text === "") return []
  const lines = text.replace(/\r?\n$/, "").split(/\r?\n/)
  return lines.map((line) => visible(line))
}

/** The code points of `text` from the start while their escapes fit `width` columns. */
const takeStart = (text: string, width: number, mark: Mark): { readonly shown: string; readonly end: number } => {
  let shown = ""
  let used = 0
  let index = 0
  while (index < text.length) {
    const code = text.codePointAt(index)!
    const char = String.fromCodePoint(code)
    const unit = code > 0xffff ? 2 : 1
    // A lone surrogate has its own code point; `String.fromCodePoint` keeps it as one unit.
    const piece = hidden.test(char) ? escapeCodePoint(char) : char
    if (used + piece.length > width) break
    used += piece.length
    shown += piece === char ? char : mark(piece)
    index += unit
  }
  return { shown, end: index }
}

/** The code points of `text` from its end (not before `floor`) while their escapes fit `width` columns. */
const takeEnd = (
  text: string,
  width: number,
  floor: number,
  mark: Mark
): { readonly shown: string; readonly start: number } => {
  let shown = ""
  let used = 0
  let index = text.length
  while (index > floor) {
    const low = text.charCodeAt(index - 1)
    const pair = index - 2 >= floor && low >= 0xdc00 && low <= 0xdfff &&
      (text.charCodeAt(index - 2) & 0xfc00) === 0xd800
    const char = pair ? text.slice(index - 2, index) : text.slice(index - 1, index)
    const piece = hidden.test(char) ? escapeCodePoint(char) : char
    if (used + piece.length > width) break
    used += piece.length
    shown = (piece === char ? char : mark(piece)) + shown
    index -= char.length
  }
  return { shown, start: index }
}

const plural = (n: number, word: string) => `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`

/** Code points in `text[from, to)` (a surrogate pair counts once), without copying the text. */
const codePoints = (text: string, from: number, to: number): number => {
  let count = 0
  for (let index = from; index < to; index++) {
    const code = text.charCodeAt(index)
    const pairsWithNext = code >= 0xd800 && code <= 0xdbff && index + 1 < to &&
      (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00
    if (pairsWithNext) index++
    count++
  }
  return count
}

const marker = (left: number) => `…[${plural(left, "more character")}]…`

/**
 * The text on one line of at most about `width` columns: `visible`, and when it is longer, its start and
 * its end with the number of characters left out in between (`rm -rf ~/x …[1,024 more characters]… ls`),
 * so what a long field hides in its middle is never mistaken for nothing. Escapes are never cut in two.
 *
 * @since 0.2.0
 * @category formatting
 */
export const oneLine = (text: string, width: number, mark: Mark = unmarked): string => {
  const whole = takeStart(text, width, mark)
  if (whole.end === text.length) return whole.shown
  // Room for the marker, sized for the most it could say (everything left out).
  const room = Math.max(16, width - marker(text.length).length)
  const head = takeStart(text, Math.ceil(room / 2), mark)
  const tail = takeEnd(text, Math.floor(room / 2), head.end, mark)
  const left = codePoints(text, head.end, tail.start)
  return `${head.shown}${marker(left)}${tail.shown}`
}

/**
 * A multi-line field as lines a person can read at once: every line `oneLine` at `width`, and when
 * there are more than `head + tail` lines, the first `head` and the last `tail` with
 * `… N more lines …` in between.
 *
 * @since 0.2.0
 * @category formatting
 */
export const excerpt = (
  text: string,
  options: { readonly head: number; readonly tail: number; readonly width: number }
): Array<string> => {
  const lines = text === "" ? [] : text.replace(/\r?\n$/, "").split(/\r?\n/)
  const cut = (line: string) => oneLine(line, options.width)
  if (lines.length <= options.head + options.tail + 1) return lines.map(cut)
  return [
    ...lines.slice(0, options.head).map(cut),
    `… ${plural(lines.length - options.head - options.tail, "more line")} …`,
    ...lines.slice(lines.length - options.tail).map(cut)
  ]
}
