/**
 * How a delegate's run reads to a person: agent messages, commands with exit code and an output excerpt,
 * patches as file lists with +/- counts, approvals with their outcome, and a final line with the end
 * reason, turn time and token usage. Pure text: `Reporter` writes it, `TerminalApprovals` reuses the
 * request previews.
 *
 * @since 0.1.0
 */
import { ApprovalRequest, DecidedBy, type Delegate, ShellWords } from "@deputy/core"
import { type Event, EventMsg, type FileChange } from "@deputy/protocol"
import * as path from "node:path"
import * as NodeLabel from "./internal/NodeLabel.js"
import type { Style } from "./internal/Style.js"
import * as Text from "./internal/Text.js"
import type * as JsonOutput from "./JsonOutput.js"

/**
 * Text a sub-agent sent, made safe to show: every control, format and invisible character is shown as a
 * visible escape (`\x1b`, `\x9b`, `\u202e`…); newlines stay line breaks (CRLF counts as one).
 *
 * @since 0.1.0
 * @category formatting
 * @deprecated Since 0.2.0 (it escapes instead of dropping); use `Text.visible` for one line or
 * `Text.visibleLines` / `Text.excerpt` for a multi-line field.
 */
export const sanitize = (text: string): string => Text.visibleLines(text).join("\n")

const standardShells = new Set(["sh", "bash", "zsh", "dash"])

/**
 * How a command reads: the script of a `sh -c SCRIPT` (or `-lc`) call when the shell is a standard one
 * (`sh`, `bash`, `zsh`, `dash`, bare or in a standard directory: `ShellWords.standardDirectories`), with the
 * program that runs it; else the
 * argv quoted as a shell would need it, every program with its full path.
 *
 * @since 0.2.0
 * @category models
 */
export interface CommandView {
  /** The script, or the quoted argv; as sent (not yet escaped). */
  readonly text: string
  /** For a shell script: the shell program, as sent. */
  readonly shell: string | undefined
  /** Whether `text` is the script of a standard shell (so the argv can be read as the script alone). */
  readonly standardShell: boolean
}

/**
 * Splits a command's argv into what a person needs to read.
 *
 * @since 0.2.0
 * @category formatting
 */
export const commandView = (argv: ReadonlyArray<string>): CommandView => {
  const [program, flag, script] = argv
  if (argv.length === 3 && program !== undefined && (flag === "-c" || flag === "-lc") && script !== undefined) {
    const { name, standard } = ShellWords.programName(program)
    if (standardShells.has(name)) {
      return { text: standard ? script : ShellWords.join(argv), shell: program, standardShell: standard }
    }
  }
  return { text: argv.length === 0 ? "" : ShellWords.join(argv), shell: undefined, standardShell: false }
}

/** A command is shown whole up to this many columns, else its start and its end with the count between. */
const commandWidth = 2000

/**
 * A command as a person reads it, on one line: the script of a standard `sh -c SCRIPT`, else the quoted
 * argv with the program's full path (`/tmp/evil/bash -c 'ls -la'`); every control or invisible character
 * (a newline too) shown as an escape; past 2,000 columns its start and its end with the count in between.
 *
 * @since 0.1.0
 * @category formatting
 */
export const command = (argv: ReadonlyArray<string>): string => Text.oneLine(commandView(argv).text, commandWidth)

/**
 * A path relative to `cwd` when it is inside it.
 *
 * @since 0.1.0
 * @category formatting
 */
export const displayPath = (file: string, cwd: string | undefined): string => {
  if (cwd === undefined || !path.isAbsolute(file)) return Text.visible(file)
  const relative = path.relative(cwd, file)
  return Text.visible(relative === "" || relative.startsWith("..") || path.isAbsolute(relative) ? file : relative)
}

/** Trailing ASCII blanks and line ends only (an invisible character at the end is shown, not trimmed). */
const trimEnd = (text: string) => text.replace(/[ \t\r\n]+$/, "")

const lineCount = (text: string) => text === "" ? 0 : text.replace(/\n$/, "").split("\n").length

/**
 * Lines added and removed by one file's change.
 *
 * @since 0.1.0
 * @category formatting
 */
export const changeCounts = (change: FileChange.FileChange): { readonly added: number; readonly removed: number } => {
  switch (change.type) {
    case "add":
      return { added: lineCount(change.content), removed: 0 }
    case "delete":
      return { added: 0, removed: lineCount(change.content) }
    case "update": {
      let added = 0
      let removed = 0
      for (const line of change.unified_diff.split("\n")) {
        if (line.startsWith("+++") || line.startsWith("---")) continue
        if (line.startsWith("+")) added++
        else if (line.startsWith("-")) removed++
      }
      return { added, removed }
    }
  }
}

/**
 * One line per file of a patch: `A`dded, `D`eleted, `M`odified (or `R` moved), the path, +/- counts.
 *
 * @since 0.1.0
 * @category formatting
 */
export const patchFiles = (
  style: Style,
  changes: Readonly<Record<string, FileChange.FileChange>>,
  cwd: string | undefined
): Array<string> =>
  Object.entries(changes).map(([file, change]) => {
    const { added, removed } = changeCounts(change)
    const letter = change.type === "add"
      ? style.green("A")
      : change.type === "delete"
      ? style.red("D")
      : change.move_path
      ? style.yellow("R")
      : style.yellow("M")
    const target = change.type === "update" && change.move_path
      ? `${displayPath(file, cwd)} → ${displayPath(change.move_path, cwd)}`
      : displayPath(file, cwd)
    const counts = [added > 0 ? style.green(`+${added}`) : "", removed > 0 ? style.red(`-${removed}`) : ""]
      .filter((part) => part !== "").join(" ")
    return `${letter} ${target}${counts === "" ? "" : `  ${counts}`}`
  })

/**
 * The first `limit` lines of a patch as a diff (`+` added, `-` removed), with a note of what was left out.
 *
 * @since 0.1.0
 * @category formatting
 */
export const diffPreview = (
  style: Style,
  changes: Readonly<Record<string, FileChange.FileChange>>,
  cwd: string | undefined,
  limit: number
): Array<string> => {
  const lines: Array<string> = []
  for (const [file, change] of Object.entries(changes)) {
    lines.push(style.bold(`--- ${displayPath(file, cwd)}`))
    const body = change.type === "add"
      ? change.content.replace(/\n$/, "").split("\n").map((line) => `+${line}`)
      : change.type === "delete"
      ? change.content.replace(/\n$/, "").split("\n").map((line) => `-${line}`)
      : change.unified_diff.replace(/\n$/, "").split("\n").filter((line) => !/^(\+\+\+|---) /.test(line))
    for (const line of body) {
      const text = Text.oneLine(line, 160)
      lines.push(text.startsWith("+") ? style.green(text) : text.startsWith("-") ? style.red(text) : style.dim(text))
    }
  }
  if (lines.length <= limit) return lines
  return [...lines.slice(0, limit), style.dim(`… ${lines.length - limit} more lines`)]
}

/**
 * A short excerpt of a command's output: all of it up to 6 lines, else the first 2 and the last 3.
 *
 * @since 0.1.0
 * @category formatting
 */
export const outputExcerpt = (output: string): Array<string> =>
  Text.excerpt(trimEnd(output), { head: 2, tail: 3, width: 160 })

/**
 * What a request asks, in one line: `run \`npm test\` in ~/project`, `apply a patch to a.txt, b.txt`, ...
 *
 * @since 0.1.0
 * @category formatting
 */
export const describeRequest = (request: ApprovalRequest.ApprovalRequest, cwd: string | undefined): string => {
  switch (request.kind) {
    case "command": {
      const run = `run \`${command(request.event.command)}\` in ${displayPath(request.event.cwd, cwd) || "."}`
      const network = ApprovalRequest.networkAccess(request)
      if (network === undefined) return run
      const reach = `reach ${Text.visible(network.host)} (${Text.visible(network.protocol)})`
      // Codex asks network approvals with no command of its own
      return request.event.command.length === 0 ? reach : `${reach} to ${run}`
    }
    case "patch": {
      const files = Object.keys(request.event.changes).map((file) => displayPath(file, cwd))
      return `apply a patch to ${files.join(", ") || "no files"}`
    }
    case "permissions":
      return `grant ${Text.visible(ApprovalRequest.describePermissions(request.event.permissions)) || "permissions"}`
    case "user_input":
      return `answer ${request.event.questions.map((question) => `“${Text.visible(question.question)}”`).join(", ")}`
    case "elicitation":
      // the core's words: names and message JSON-quoted (newlines, escapes), then every hidden character visible
      return Text.oneLine(ApprovalRequest.describe(request), 400)
  }
}

/**
 * Who asks, as a prompt's first line says it: `The sub-agent asks` for a lone delegate; in a tree, the
 * chain below the root (`review › tests asks`), every name escaped; a thread the child spawned itself
 * (since 0.2.0) is the last link (`review › Galileo asks`).
 *
 * @since 0.2.0
 * @category formatting
 */
export const whoAsks = (request: ApprovalRequest.Provenance): string => {
  const chain = NodeLabel.asker(request)
  const nested = nestedName(request)
  if (nested === undefined) return chain === undefined ? "The sub-agent asks" : `${chain} asks`
  return chain === undefined ? `The sub-agent › ${nested} asks` : `${chain} › ${nested} asks`
}

/**
 * The name of the nested thread a request comes through (a Codex sub-agent the child spawned): its
 * nickname, else its role, else `sub-agent <id start>`, escaped; undefined for the child's own requests.
 *
 * @since 0.2.0
 * @category formatting
 */
export const nestedName = (request: ApprovalRequest.Provenance): string | undefined => {
  const thread = request.thread
  if (thread === undefined) return undefined
  const name = thread.nickname ?? thread.role ?? `sub-agent ${thread.id.slice(0, 8)}`
  return Text.oneLine(name, 40)
}

/**
 * One line for a settled request: its outcome, who decided (`settled.decidedBy`, as the decider said),
 * and what it was about.
 *
 * The 0.1 form `settlement(style, settled, decidedBy, cwd)` still compiles; its `decidedBy` text is
 * ignored (who decided travels with the settlement now).
 *
 * @since 0.1.0
 * @category formatting
 */
export const settlement: {
  (style: Style, settled: ApprovalRequest.ApprovalSettlement, cwd?: string | undefined): string
  /** @deprecated Since 0.2.0: the `decidedBy` text is ignored; who decided comes from the settlement. */
  (style: Style, settled: ApprovalRequest.ApprovalSettlement, decidedBy: string, cwd: string | undefined): string
} = (style: Style, settled: ApprovalRequest.ApprovalSettlement, ...rest: ReadonlyArray<string | undefined>) => {
  const cwd = rest.length >= 2 ? rest[1] : rest[0]
  const what = describeRequest(settled.request, cwd)
  const by = style.dim(`by ${Text.visible(DecidedBy.describe(settled.decidedBy))}`)
  switch (settled.outcome) {
    case "approved":
      return `${style.green("✔ approved")} ${by}: ${what}`
    case "approved_for_session":
      return `${style.green("✔ approved for the session")} ${by}: ${what}`
    case "denied":
      return `${style.red("✘ denied")} ${by}: ${what}`
    case "timed_out":
      return `${style.yellow("⏱ timed out")} ${style.dim("(no answer in time, denied)")}: ${what}`
    case "aborted":
      return `${style.yellow("■ aborted")}${
        settled.reason ? style.dim(` (${Text.visible(settled.reason)})`) : ""
      }: ${what}`
  }
}

/**
 * Milliseconds as a person reads them: `850ms`, `4.2s`, `3m 5s`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const duration = (ms: number): string => {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const seconds = Math.round(ms / 1000)
  return `${Math.floor(seconds / 60)}m ${seconds % 60}s`
}

const count = (n: number) => n.toLocaleString("en-US")

/**
 * Token usage: `1,290 tokens (1,234 in, 56 out)`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const usage = (tokens: EventMsg.TokenUsage): string =>
  tokens.total_tokens === 0 && tokens.input_tokens === 0 && tokens.output_tokens === 0
    ? "no token usage reported"
    : `${count(tokens.total_tokens)} tokens (${count(tokens.input_tokens)} in, ${count(tokens.output_tokens)} out)`

/**
 * How a run ended, for the final line.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly ended: Delegate.DelegateEnded
  readonly usage: EventMsg.TokenUsage
  /** From the start of the delegate to its end. */
  readonly elapsedMs: number
  /** Time of the last turn (one-shot: the turn), when a turn started. */
  readonly turnMs: number | undefined
  readonly turns: number
  readonly interactive: boolean
  /** Interactive: the person closed the session (end of input), so `interrupted` is the normal end. */
  readonly closedByUser: boolean
}

/**
 * How a delegate or a tree node ended, in a few words with its mark (`✔ completed`, `✘ timed out`): the
 * final line of a run and each line of a tree's receipt.
 *
 * @since 0.2.0
 * @category formatting
 */
export const endReason = (style: Style, reason: JsonOutput.ReceiptNode["reason"]): string => {
  switch (reason) {
    case "completed":
      return style.green("✔ completed")
    case "interrupted":
      return style.yellow("■ interrupted")
    case "aborted":
      return style.yellow("■ aborted")
    case "errored":
      return style.red("✘ errored")
    case "timed_out":
      return style.red("✘ timed out")
    case "agent_exited":
      return style.red("✘ the sub-agent exited")
    case "drain_timed_out":
      return style.red("✘ interrupted, the sub-agent did not stop in time")
    case "budget_exhausted":
      return style.red("✘ budget exhausted")
    case "spawn_failed":
      return style.red("✘ could not start")
    case "not_started":
      return style.dim("· not started")
  }
}

const reasonText = (style: Style, summary: Summary): string =>
  summary.closedByUser && summary.ended.reason === "interrupted"
    ? style.green("✔ session closed")
    : endReason(style, summary.ended.reason)

/**
 * The final lines: end reason, turn time (or turns and session time) and token usage, then the end's
 * message (indented) when there is one worth showing.
 *
 * @since 0.1.0
 * @category formatting
 */
export const summary = (style: Style, summary: Summary): Array<string> => {
  const timing = summary.interactive
    ? `${summary.turns} turn${summary.turns === 1 ? "" : "s"} in ${duration(summary.elapsedMs)}`
    : summary.turnMs === undefined
    ? duration(summary.elapsedMs)
    : `turn ${duration(summary.turnMs)}`
  const head = `${reasonText(style, summary)} ${style.dim("·")} ${timing} ${style.dim("·")} ${usage(summary.usage)}`
  const showMessage = summary.ended.message !== undefined && summary.ended.reason !== "completed" &&
    summary.ended.reason !== "interrupted"
  return showMessage
    ? [head, ...Text.visibleLines(summary.ended.message ?? "").map((line) => `  ${style.dim(line)}`)]
    : [head]
}

/**
 * Counts turns and times them, from `task_started` to `task_complete` / `turn_aborted` (the event's own
 * `duration_ms` when it has one).
 *
 * @since 0.1.0
 * @category models
 */
export interface Turns {
  /** Takes an event into account; `now` is the current time in milliseconds. */
  readonly observe: (event: Event.Event, now: number) => void
  /** Turns started so far. */
  readonly count: () => number
  /** Duration of the turn in progress so far, else of the last turn that ended. */
  readonly lastMs: (now: number) => number | undefined
}

/**
 * A turn counter.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTurns = (): Turns => {
  let count = 0
  let started: number | undefined
  let last: number | undefined
  return {
    observe: (event, now) => {
      const msg = event.msg
      if (EventMsg.isEventMsg(msg, "task_started")) {
        count++
        started = now
      } else if (EventMsg.isEventMsg(msg, "task_complete") || EventMsg.isEventMsg(msg, "turn_aborted")) {
        last = typeof msg.duration_ms === "number" ? msg.duration_ms : started === undefined ? last : now - started
        started = undefined
      }
    },
    count: () => count,
    lastMs: (now) => started === undefined ? last : now - started
  }
}

/**
 * Renders events one at a time and keeps what it needs across them (commands and patches in flight,
 * turn times) and the status to show while the sub-agent works.
 *
 * @since 0.1.0
 * @category models
 */
export interface Renderer {
  /** The lines for an event (often none); `now` is the current time in milliseconds. */
  readonly event: (event: Event.Event, now: number) => ReadonlyArray<string>
  /** What the sub-agent is doing, for a status line; `undefined` when it is idle. */
  readonly status: () => string | undefined
  /**
   * A request about the tool call `callId` was answered: a command's time counts from here (Codex announces a
   * command before asking for it).
   */
  readonly answered: (callId: string, now: number) => void
}

/**
 * Options of a renderer: styles, the directory paths are shown relative to, and whether each turn's end
 * gets a line of its own (interactive sessions).
 *
 * @since 0.1.0
 * @category models
 */
export interface RendererOptions {
  readonly style: Style
  readonly cwd?: string | undefined
  readonly perTurnSummary?: boolean | undefined
}

/**
 * A renderer for one run.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: RendererOptions): Renderer => {
  const { cwd, style } = options
  const commandsStarted = new Map<string, { at: number; readonly argv: ReadonlyArray<string> }>()
  const patches = new Map<string, Readonly<Record<string, FileChange.FileChange>>>()
  const turns = makeTurns()
  let status: string | undefined

  const indent = (lines: ReadonlyArray<string>, prefix = "  ") => lines.map((line) => `${prefix}${line}`)
  /** A multi-line message: its first line after `mark`, the others indented (so none passes for Deputy's). */
  const block = (mark: string, text: string): Array<string> => {
    const [first = "", ...rest] = Text.visibleLines(trimEnd(text))
    return [`${mark} ${first}`, ...indent(rest)]
  }

  const event = (event: Event.Event, now: number): ReadonlyArray<string> => {
    turns.observe(event, now)
    const msg = event.msg
    if (EventMsg.isEventMsg(msg, "task_started")) {
      status = "working"
      return []
    }
    if (EventMsg.isEventMsg(msg, "agent_message")) {
      return block(style.cyan("●"), msg.message)
    }
    if (EventMsg.isEventMsg(msg, "exec_command_begin")) {
      commandsStarted.set(msg.call_id, { at: now, argv: msg.command })
      status = `running ${Text.oneLine(commandView(msg.command).text, 60)}`
      return []
    }
    if (EventMsg.isEventMsg(msg, "exec_command_end")) {
      const started = commandsStarted.get(msg.call_id)
      commandsStarted.delete(msg.call_id)
      status = "working"
      // The command's own duration (Codex's begin event comes before the approval, so the measured time would
      // include the wait); measured when it reports none (or a rounded-down zero).
      const duration_ = msg.duration as { secs?: unknown; nanos?: unknown } | undefined
      const reported = typeof duration_?.secs === "number"
        ? duration_.secs * 1000 + (typeof duration_.nanos === "number" ? duration_.nanos / 1e6 : 0)
        : 0
      const ms = reported > 0 ? reported : started === undefined ? undefined : now - started.at
      if (msg.status === "declined") {
        return [
          `${style.dim("$")} ${style.dim(command(msg.command ?? started?.argv ?? []))}  ${style.yellow("not run")}`
        ]
      }
      const exit = msg.exit_code === 0 ? style.green("exit 0") : style.red(`exit ${msg.exit_code}`)
      const head = `${style.bold("$")} ${style.bold(command(msg.command ?? started?.argv ?? []))}  ${exit}${
        ms === undefined ? "" : style.dim(` · ${duration(ms)}`)
      }`
      const output = msg.aggregated_output ?? `${msg.stdout ?? ""}${msg.stderr ?? ""}`
      return [head, ...indent(outputExcerpt(output).map(style.dim), `  ${style.dim("│")} `)]
    }
    if (EventMsg.isEventMsg(msg, "patch_apply_begin")) {
      if (msg.changes !== undefined) patches.set(msg.call_id, msg.changes)
      status = "applying a patch"
      return []
    }
    if (EventMsg.isEventMsg(msg, "patch_apply_end")) {
      const changes = patches.get(msg.call_id)
      patches.delete(msg.call_id)
      status = "working"
      if ((msg as { readonly status?: unknown }).status === "declined") {
        return [`${style.magenta("✎")} patch ${style.yellow("not applied")}`]
      }
      if (!msg.success) {
        const first = Text.visibleLines((msg.stderr ?? "").trim())[0]
        const why = first === undefined ? "" : Text.oneLine(first, 160)
        return [`${style.red("✘ patch failed")}${why ? `: ${why}` : ""}`]
      }
      if (changes === undefined) return [`${style.magenta("✎")} patch applied`]
      const files = Object.keys(changes).length
      return [
        `${style.magenta("✎")} patch applied to ${files} file${files === 1 ? "" : "s"}`,
        ...indent(patchFiles(style, changes, cwd))
      ]
    }
    if (EventMsg.isEventMsg(msg, "task_complete")) {
      status = undefined
      const ms = turns.lastMs(now)
      return options.perTurnSummary ? [style.dim(`── turn done${ms === undefined ? "" : ` · ${duration(ms)}`}`)] : []
    }
    if (EventMsg.isEventMsg(msg, "turn_aborted")) {
      status = undefined
      return [style.yellow(`■ turn aborted (${msg.reason})`)]
    }
    if (EventMsg.isEventMsg(msg, "error")) {
      return block(style.red("✘ error:"), msg.message)
    }
    const fields = msg as { readonly type: string; readonly [key: string]: unknown }
    switch (fields.type) {
      case "warning":
      case "stream_error":
        return typeof fields.message === "string" ? block(style.yellow("⚠"), fields.message) : []
      case "deputy_diagnostic":
        return [
          style.yellow(
            `⚠ unreadable output from the sub-agent${
              typeof fields.line === "number" ? ` (line ${fields.line})` : ""
            }: ${Text.visible(String(fields.message))}`
          )
        ]
      case "codex_notification": {
        // Codex's own notices (e.g. a missing sandbox tool) are worth a line; its other notifications are not.
        const params = fields.params as { readonly summary?: unknown } | undefined
        return fields.method === "configWarning" && typeof params?.summary === "string"
          ? [style.yellow(`⚠ codex: ${Text.visible(params.summary)}`)]
          : []
      }
      case "agent_reasoning":
        return typeof fields.text === "string" && fields.text.trim() !== ""
          ? [style.dim(`thinking: ${Text.oneLine(fields.text.trim().split(/\r?\n/)[0], 120)}`)]
          : []
      default:
        return []
    }
  }

  return {
    event,
    status: () => status,
    answered: (callId, now) => {
      const started = commandsStarted.get(callId)
      if (started !== undefined) started.at = now
    }
  }
}
