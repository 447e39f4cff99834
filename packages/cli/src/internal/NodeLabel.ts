/**
 * Which node of a tree a line comes from: its name in front of every line, in a colour that stays the
 * same for the same name (run after run), padded so the lines of siblings line up. Without colour (not a
 * terminal, `NO_COLOR`) the name is still there. Names are shown through `Text.visible`, never raw.
 *
 * @since 0.2.0
 */
import type { ApprovalRequest } from "@deputy/core"
import type { Style } from "./Style.js"
import * as Text from "./Text.js"

/**
 * A node's label: its name as shown (escaped), and how to prefix lines with it.
 *
 * @since 0.2.0
 * @category models
 */
export interface NodeLabel {
  /** The node's name relative to the tree's root (`review`, `review/tests`), escaped. */
  readonly name: string
  /** The name in the node's colour, padded, with the separator: what goes in front of each line. */
  readonly prefix: string
  /** Prefixes every line of `text` (a block of lines joined with `\n`). */
  readonly lines: (text: string) => string
}

/** The colours a name may get (red is for errors, dim for Deputy's own notes). */
const palette = (style: Style): ReadonlyArray<(text: string) => string> => [
  style.cyan,
  style.magenta,
  style.yellow,
  style.green,
  (text) => style.bold(style.cyan(text)),
  (text) => style.bold(style.magenta(text)),
  (text) => style.bold(style.yellow(text)),
  (text) => style.bold(style.green(text))
]

/**
 * A stable number for a name (FNV-1a, 32 bits): the same name always gets the same colour.
 *
 * @since 0.2.0
 * @category formatting
 */
export const hash = (name: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/**
 * The colour of a name, as a style function.
 *
 * @since 0.2.0
 * @category formatting
 */
export const colorOf = (style: Style, name: string): (text: string) => string => {
  const colors = palette(style)
  return colors[hash(name) % colors.length]!
}

/**
 * The label of a node; `width` pads the name so that the labels of siblings line up (default: none).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (style: Style, name: string, width = 0): NodeLabel => {
  const shown = Text.visible(name)
  const prefix = `${colorOf(style, name)(shown.padEnd(width))} ${style.dim("│")} `
  return {
    name: shown,
    prefix,
    lines: (text) => text.split("\n").map((line) => `${prefix}${line}`).join("\n")
  }
}

/**
 * Who asks, through the tree: the names on the request's chain below the root (a link whose path has no
 * `/` is the root), joined with ` › ` (`review › tests`), each escaped; `undefined` outside a tree.
 *
 * @since 0.2.0
 * @category formatting
 */
export const asker = (request: ApprovalRequest.Provenance): string | undefined => {
  const below = (request.chain ?? []).filter((link) => link.path.includes("/"))
  if (below.length > 0) return below.map((link) => Text.visible(link.name)).join(" › ")
  if (request.path !== undefined && request.path.includes("/")) {
    return request.path.split("/").slice(1).map((segment) => Text.visible(segment)).join(" › ")
  }
  return undefined
}
