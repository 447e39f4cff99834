/**
 * Faithful text: how anything a sub-agent sent is shown to a person (controls, format and invisible
 * characters as visible escapes; long fields keep their start and end). The module lives in
 * `@deputy/core` since 0.2.0 (the web page shares it); this one re-exports it.
 *
 * @since 0.2.0
 */
import { Text } from "@deputy/core"

/**
 * @since 0.2.0
 * @category models
 */
export type Mark = Text.Mark

/**
 * The visible escape of one code point (`\n`, `\x1b`, `\x9b`, `\u202e`, `\u{e0041}`).
 *
 * @since 0.2.0
 * @category formatting
 */
export const escapeCodePoint: (char: string) => string = Text.escapeCodePoint

/**
 * Whether a text has anything that `visible` would escape.
 *
 * @since 0.2.0
 * @category predicates
 */
export const hasHidden: (text: string) => boolean = Text.hasHidden

/**
 * The text on one line, every control, format and invisible character shown as an escape.
 *
 * @since 0.2.0
 * @category formatting
 */
export const visible: (text: string, mark?: Mark) => string = Text.visible

/**
 * The text's lines, each one as `visible` shows it.
 *
 * @since 0.2.0
 * @category formatting
 */
export const visibleLines: (text: string) => Array<string> = Text.visibleLines

/**
 * The text on one line of at most about `width` columns, its start and end kept.
 *
 * @since 0.2.0
 * @category formatting
 */
export const oneLine: (text: string, width: number, mark?: Mark) => string = Text.oneLine

/**
 * A multi-line field as lines a person can read at once (first and last lines kept).
 *
 * @since 0.2.0
 * @category formatting
 */
export const excerpt: (
  text: string,
  options: { readonly head: number; readonly tail: number; readonly width: number }
) => Array<string> = Text.excerpt
