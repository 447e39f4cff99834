/**
 * Text styles for people: ANSI colours on a terminal, plain text anywhere else (`NO_COLOR` honoured).
 *
 * @since 0.1.0
 */
import type * as Console from "effect/Console"

/**
 * Wraps text in a style; the identity when colour is off.
 *
 * @since 0.1.0
 * @category models
 */
export interface Style {
  readonly enabled: boolean
  readonly bold: (text: string) => string
  readonly dim: (text: string) => string
  readonly red: (text: string) => string
  readonly green: (text: string) => string
  readonly yellow: (text: string) => string
  readonly cyan: (text: string) => string
  readonly magenta: (text: string) => string
}

const sgr = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`

/**
 * Styles that colour (`enabled`) or leave text as it is.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (enabled: boolean): Style =>
  enabled
    ? {
      enabled,
      bold: sgr(1, 22),
      dim: sgr(2, 22),
      red: sgr(31, 39),
      green: sgr(32, 39),
      yellow: sgr(33, 39),
      cyan: sgr(36, 39),
      magenta: sgr(35, 39)
    }
    : {
      enabled,
      bold: plainText,
      dim: plainText,
      red: plainText,
      green: plainText,
      yellow: plainText,
      cyan: plainText,
      magenta: plainText
    }

const plainText = (text: string) => text

/**
 * No colour.
 *
 * @since 0.1.0
 * @category constructors
 */
export const plain: Style = make(false)

/**
 * Whether to colour a stream: only a terminal, and only without `NO_COLOR` (https://no-color.org: any
 * non-empty value turns colour off).
 *
 * @since 0.1.0
 * @category predicates
 */
export const colorFor = (stream: { readonly isTTY?: boolean | undefined }, env: NodeJS.ProcessEnv): boolean =>
  stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === "")

const ansiPattern = /\x1b\[[0-9;?]*[A-Za-z]/g

/**
 * Removes ANSI escape sequences.
 *
 * @since 0.1.0
 * @category formatting
 */
export const strip = (text: string): string => text.replace(ansiPattern, "")

/**
 * A `Console` that strips ANSI styles from what it writes to a stream that should not be coloured (the
 * help `@effect/cli` prints is always styled).
 *
 * @since 0.1.0
 * @category constructors
 */
export const console = (
  base: Console.Console,
  color: { readonly stdout: boolean; readonly stderr: boolean }
): Console.Console => {
  const plainArgs = (enabled: boolean) => (args: ReadonlyArray<unknown>) =>
    enabled ? args : args.map((arg) => typeof arg === "string" ? strip(arg) : arg)
  const out = plainArgs(color.stdout)
  const err = plainArgs(color.stderr)
  return {
    ...base,
    log: (...args) => base.log(...out(args)),
    info: (...args) => base.info(...out(args)),
    error: (...args) => base.error(...err(args)),
    warn: (...args) => base.warn(...err(args)),
    unsafe: {
      ...base.unsafe,
      log: (...args) => base.unsafe.log(...out(args)),
      info: (...args) => base.unsafe.info(...out(args)),
      error: (...args) => base.unsafe.error(...err(args)),
      warn: (...args) => base.unsafe.warn(...err(args))
    }
  }
}
