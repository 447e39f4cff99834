/**
 * The receipt of a tree of tasks, for a person: one line per node (its label, how it ended, turns,
 * time, tokens), its last agent message or end message under it, and a head line with why the tree
 * stopped and the tokens of all nodes. Everything a sub-agent sent goes through `Text`.
 *
 * @since 0.2.0
 */
import type * as JsonOutput from "../JsonOutput.js"
import * as Render from "../Render.js"
import * as NodeLabel from "./NodeLabel.js"
import type { Style } from "./Style.js"
import * as Text from "./Text.js"

/**
 * Whether a receipt entry is a task (`root/review`), not a sub-agent a task's agent spawned itself
 * (`root/review/galileo`).
 *
 * @since 0.2.0
 * @category formatting
 */
export const isTask = (path: string): boolean => path.indexOf("/") === path.lastIndexOf("/")

const stoppedText = (style: Style, receipt: JsonOutput.ReceiptRecord): string => {
  if (receipt.stopped === "interrupted") return style.yellow("stopped (interrupted)")
  if (receipt.stopped === "failed_fast") return style.red("stopped after a failure (--fail-fast)")
  const tasks = receipt.nodes.filter((node) => isTask(node.node))
  const failed = tasks.filter((node) => node.reason !== "completed").length
  return failed === 0
    ? style.green("every task completed")
    : style.red(`${failed} of ${tasks.length} did not complete`)
}

/**
 * The lines of a receipt; `root` is the root's name, left out of the labels (default `root`).
 *
 * @since 0.2.0
 * @category formatting
 */
export const lines = (style: Style, receipt: JsonOutput.ReceiptRecord, root = "root"): Array<string> => {
  const names = receipt.nodes.map((node) =>
    node.node.startsWith(`${root}/`) ? node.node.slice(root.length + 1) : node.node
  )
  const width = Math.max(0, ...names.map((name) => name.length))
  const count = receipt.nodes.filter((node) => isTask(node.node)).length
  const nested = receipt.nodes.length - count
  const out = [
    style.bold(
      `── receipt: ${count} task${count === 1 ? "" : "s"}${
        nested === 0 ? "" : ` (+${nested} sub-agent${nested === 1 ? "" : "s"} of their own)`
      } · `
    ) + stoppedText(style, receipt) +
    style.dim(` · ${Render.usage(receipt.usage)}`)
  ]
  receipt.nodes.forEach((node, index) => {
    const label = NodeLabel.make(style, names[index]!, width)
    const facts = node.reason === "not_started"
      ? []
      : [
        `${node.turns} turn${node.turns === 1 ? "" : "s"}`,
        Render.duration(node.elapsed_ms),
        Render.usage(node.usage),
        ...(node.pids_killed !== undefined && node.pids_killed.length > 0
          ? [`stopped pid ${node.pids_killed.join(", ")}`]
          : [])
      ]
    out.push(
      `${label.prefix}${Render.endReason(style, node.reason)}${
        facts.length === 0 ? "" : style.dim(` · ${facts.join(" · ")}`)
      }`
    )
    if (node.pids_surviving !== undefined && node.pids_surviving.length > 0) {
      out.push(`${label.prefix}  ${style.red(`⚠ still running: pid ${node.pids_surviving.join(", ")}`)}`)
    }
    const said = typeof node.last_agent_message === "string" && node.last_agent_message.trim() !== ""
      ? `last: ${node.last_agent_message.trim()}`
      : node.message !== undefined && node.reason !== "completed" && node.reason !== "interrupted"
      ? node.message
      : undefined
    if (said !== undefined) out.push(`${label.prefix}  ${style.dim(Text.oneLine(said, 160))}`)
  })
  return out
}
