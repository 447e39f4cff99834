/**
 * What the page shows, as JSON the server sends: requests, settlements, delegates and their events.
 * Every string that comes from a sub-agent is `Shown`: cut to a bounded length by core's `Text.oneLine`
 * (start and end kept) and split into runs, even positions plain text and odd positions visible escapes
 * (`\n`, `\x1b`, `\u202e`). The page puts each run in a text node (`textContent`), never in HTML.
 *
 * @since 0.2.0
 */
import {
  type ApprovalInbox,
  ApprovalRequest as Requests,
  DecidedBy,
  RequestPaths,
  ShellWords,
  Text
} from "@deputy/core"
import type { Event } from "@deputy/protocol"

/**
 * Text from a sub-agent, ready for a page: runs, even positions text, odd positions escapes.
 *
 * @since 0.2.0
 * @category models
 */
export type Shown = ReadonlyArray<string>

/**
 * Splits marked escapes out: NUL never reaches the output (it is itself escaped as `\x00`).
 */
const mark = (escape: string) => `\0${escape}\0`

/**
 * A field on one line of at most about `width` characters, as runs.
 *
 * @since 0.2.0
 * @category formatting
 */
export const shown = (text: string, width = 2000): Shown => Text.oneLine(text, width, mark).split("\0")

/**
 * The runs back as one string, escapes inline (`Text.visible`'s form, cut as `shown` cut it).
 *
 * @since 0.2.0
 * @category formatting
 */
export const plain = (runs: Shown): string => runs.join("")

/**
 * One line of a patch as shown: its sign (`+`, `-`, ` `, `@` for a hunk header, `…` for lines left out)
 * and its text.
 *
 * @since 0.2.0
 * @category models
 */
export interface DiffLine {
  readonly sign: "+" | "-" | " " | "@" | "…"
  readonly text: Shown
}

/**
 * One file of a patch: its path, the change, where it moves, whether it stays in the workspace (and
 * why not), and its diff.
 *
 * @since 0.2.0
 * @category models
 */
export interface FileView {
  readonly path: Shown
  readonly change: "add" | "delete" | "update"
  readonly moveTo?: Shown | undefined
  readonly outside: boolean
  readonly note?: Shown | undefined
  readonly lines: ReadonlyArray<DiffLine>
}

/**
 * One node of the request's provenance chain.
 *
 * @since 0.2.0
 * @category models
 */
export interface LinkView {
  readonly path: Shown
  readonly source: Shown
  readonly turnId?: Shown | undefined
  readonly callId?: Shown | undefined
}

/**
 * The page's answers: approve, approve for the session, deny, abort the turn.
 *
 * @since 0.2.0
 * @category models
 */
export type Action = "approve" | "approve_for_session" | "deny" | "abort"

/**
 * A pending request as the page shows it.
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestView {
  readonly id: string
  readonly kind: Requests.ApprovalKind
  readonly delegateId: Shown
  readonly path?: Shown | undefined
  /**
   * The process that asked (`host pid N`), when the source knows it (attach mode: the ledger).
   *
   * @since 0.2.0
   */
  readonly process?: Shown | undefined
  readonly receivedAt: number
  readonly deadline?: number | undefined
  readonly summary: Shown
  readonly command?: Shown | undefined
  readonly cwd?: Shown | undefined
  readonly cwdOutside?: boolean | undefined
  readonly reason?: Shown | undefined
  readonly files?: ReadonlyArray<FileView> | undefined
  /**
   * Files of the patch not shown (over `maxPatchFiles`), and how many of those are outside the workspace.
   *
   * @since 0.2.0
   */
  readonly filesLeftOut?: { readonly files: number; readonly outside: number } | undefined
  readonly questions?: ReadonlyArray<Shown> | undefined
  readonly chain: ReadonlyArray<LinkView>
  readonly actions: ReadonlyArray<Action>
}

/**
 * The most files of one patch the page shows; a longer patch shows those outside the workspace first,
 * then the others, each in the patch's order, and counts the rest. A child can send 50,000 files; every open tab would receive them on every change.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxPatchFiles = 200

/**
 * A settled request: what it was, how it settled, who decided, when.
 *
 * @since 0.2.0
 * @category models
 */
export interface HistoryView {
  readonly id: string
  readonly summary: Shown
  readonly path?: Shown | undefined
  readonly outcome: Requests.ApprovalOutcome
  readonly decidedBy: Shown
  /** The client name when a client of the inbox decided (`web:<tab id>`). */
  readonly client?: string | undefined
  readonly at: number
}

/**
 * One forwarded event of a delegate, in a line.
 *
 * @since 0.2.0
 * @category models
 */
export interface EventView {
  readonly seq: number
  readonly type: string
  readonly text: Shown
}

/**
 * A delegate (a node of the tree): its path, status, turn, usage and budget when known.
 *
 * @since 0.2.0
 * @category models
 */
export interface NodeView {
  readonly id: string
  readonly path: Shown
  readonly parent?: string | undefined
  readonly status: string
  readonly turn?: Shown | undefined
  readonly usage?:
    | {
      readonly input?: number | undefined
      readonly output?: number | undefined
      readonly total: number
      readonly turns?: number | undefined
    }
    | undefined
  readonly budgetLeft?: Shown | undefined
  readonly ended?: Shown | undefined
}

const maxDiffLines = 400
const keepHead = 300
const keepTail = 60
const lineWidth = 400

const diffLines = (text: string, sign?: "+" | "-"): Array<DiffLine> => {
  const all = text === "" ? [] : text.replace(/\r?\n$/, "").split(/\r?\n/)
  const one = (line: string): DiffLine => {
    if (sign !== undefined) return { sign, text: shown(line, lineWidth) }
    const first = line[0]
    if (line.startsWith("@@")) return { sign: "@", text: shown(line, lineWidth) }
    if (first === "+" || first === "-" || first === " ") return { sign: first, text: shown(line.slice(1), lineWidth) }
    return { sign: " ", text: shown(line, lineWidth) }
  }
  if (all.length <= maxDiffLines) return all.map(one)
  return [
    ...all.slice(0, keepHead).map(one),
    { sign: "…", text: [`… ${all.length - keepHead - keepTail} more lines …`] },
    ...all.slice(all.length - keepTail).map(one)
  ]
}

/** What the page offers for an MCP elicitation: accept only a tool-call approval (a form is not filled here). */
const elicitationActions = (request: Requests.ElicitationRequest): ReadonlyArray<Action> => {
  const view = Requests.elicitation(request)
  if (view._tag !== "ToolCall") return ["deny", "abort"]
  return view.persist.includes("session")
    ? ["approve", "approve_for_session", "deny", "abort"]
    : ["approve", "deny", "abort"]
}

const actionsOf = (request: Requests.ApprovalRequest): ReadonlyArray<Action> =>
  request.kind === "command" || request.kind === "patch"
    ? ["approve", "approve_for_session", "deny", "abort"]
    : request.kind === "permissions"
    ? ["approve", "approve_for_session", "deny"]
    : request.kind === "elicitation"
    ? elicitationActions(request)
    : ["deny"]

/** `Requests.describe` with a command's argv quoted (joined by spaces, `"/tmp/x /"` would read as two words). */
const describe = (request: Requests.ApprovalRequest): string =>
  request.kind === "command"
    ? `run \`${ShellWords.join(request.event.command)}\` in ${request.event.cwd}`
    : Requests.describe(request)

const sourceText = (source: unknown): string => typeof source === "string" ? source : JSON.stringify(source)

/**
 * A pending request as the page shows it; paths are resolved against `workspace` (core
 * `RequestPaths`), and a patched file outside it is flagged. `nodePath` names the asking node when the
 * request carries no tree path (a delegate attached to the server outside a tree).
 *
 * @since 0.2.0
 * @category views
 */
export const request = (
  pending: ApprovalInbox.PendingApproval & { readonly process?: string | undefined },
  workspace: string,
  nodePath?: string | undefined
): RequestView => {
  const req = pending.request
  const touched = RequestPaths.touched(req, workspace)
  const base = {
    id: req.id,
    kind: req.kind,
    delegateId: shown(req.delegateId, 200),
    path: req.path !== undefined ? shown(req.path, 400) : nodePath !== undefined ? shown(nodePath, 400) : undefined,
    ...(pending.process === undefined ? {} : { process: shown(pending.process, 200) }),
    receivedAt: pending.receivedAt,
    deadline: pending.deadline,
    summary: shown(describe(req), 400),
    chain: (req.chain ?? []).map((link) => ({
      path: shown(link.path, 400),
      source: shown(sourceText(link.source), 400),
      turnId: link.turnId === undefined ? undefined : shown(link.turnId, 200),
      callId: link.callId === undefined ? undefined : shown(link.callId, 200)
    })),
    actions: actionsOf(req)
  }
  switch (req.kind) {
    case "command": {
      const cwd = touched.find((path) => path.role === "command_cwd")
      return {
        ...base,
        // quoted: words joined by spaces would hide where one argument ends (`rm -rf "/tmp/x /"`)
        command: shown(ShellWords.join(req.event.command), 4000),
        cwd: shown(req.event.cwd, 1000),
        cwdOutside: cwd !== undefined && !cwd.inside,
        reason: typeof req.event.reason === "string" ? shown(req.event.reason, 2000) : undefined
      }
    }
    case "patch": {
      // Indexed once: a lookup per file over all touched paths is quadratic in a 50,000-file patch.
      const byRole = (role: string) =>
        new Map(touched.filter((path) => path.role === role).map((path) => [path.given, path] as const))
      const patched = byRole("patch_file")
      const movedTo = byRole("move_to")
      const located = Object.entries(req.event.changes).map(([file, change]) => {
        const where = patched.get(file)
        const move = change.type === "update" && typeof change.move_path === "string" ? change.move_path : undefined
        const moved = move === undefined ? undefined : movedTo.get(move)
        const outside = (where !== undefined && !where.inside) || (moved !== undefined && !moved.inside)
        return { file, change, move, outside, note: where?.note ?? moved?.note }
      })
      // A patch that fits is shown in its order; one that does not keeps the files outside the workspace
      // first (they are what a person must see), then the rest, each in the patch's order.
      const outsideCount = located.filter((entry) => entry.outside).length
      const keepOutside = Math.min(outsideCount, maxPatchFiles)
      let insideRoom = maxPatchFiles - keepOutside
      let outsideRoom = keepOutside
      const kept = located.length <= maxPatchFiles ? located : [
        ...located.filter((entry) => entry.outside && outsideRoom-- > 0),
        ...located.filter((entry) => !entry.outside && insideRoom-- > 0)
      ]
      const files = kept.map(({ change, file, move, note, outside }): FileView => {
        return {
          path: shown(file, 1000),
          change: change.type,
          moveTo: move === undefined ? undefined : shown(move, 1000),
          outside,
          note: outside && note !== undefined ? shown(note, 400) : undefined,
          lines: change.type === "update"
            ? diffLines(change.unified_diff)
            : diffLines(change.content, change.type === "add" ? "+" : "-")
        }
      })
      return {
        ...base,
        files,
        filesLeftOut: kept.length < located.length
          ? { files: located.length - kept.length, outside: outsideCount - keepOutside }
          : undefined,
        reason: typeof req.event.reason === "string" ? shown(req.event.reason, 2000) : undefined
      }
    }
    case "permissions":
      return {
        ...base,
        reason: typeof req.event.reason === "string" ? shown(req.event.reason, 2000) : undefined,
        cwd: typeof req.event.cwd === "string" ? shown(req.event.cwd, 1000) : undefined
      }
    case "user_input":
      return { ...base, questions: req.event.questions.map((question) => shown(question.question, 2000)) }
    case "elicitation": {
      // the MCP server's message, as text; a URL is in the summary and is never a link
      const view = Requests.elicitation(req)
      return { ...base, questions: [shown(view._tag === "Refused" ? view.problem : view.message, 2000)] }
    }
  }
}

/**
 * A settlement as the page's history shows it.
 *
 * @since 0.2.0
 * @category views
 */
export const settlement = (settled: ApprovalInbox.InboxSettlement, at: number): HistoryView => ({
  id: settled.request.id,
  summary: shown(describe(settled.request), 400),
  path: settled.request.path === undefined ? undefined : shown(settled.request.path, 400),
  outcome: settled.outcome,
  decidedBy: shown(DecidedBy.describe(settled.decidedBy), 400),
  client: settled.decidedBy._tag === "InboxClient" ? settled.decidedBy.client : undefined,
  at
})

const field = (msg: Record<string, unknown>, name: string): string | undefined => {
  const value = msg[name]
  return typeof value === "string" ? value : undefined
}

const eventText = (msg: Record<string, unknown>): string => {
  switch (msg.type) {
    case "agent_message":
      return field(msg, "message") ?? ""
    case "exec_command_begin":
      return Array.isArray(msg.command) ? msg.command.map(String).join(" ") : JSON.stringify(msg.command)
    case "exec_command_end": {
      const output = field(msg, "aggregated_output") ?? field(msg, "formatted_output") ?? field(msg, "stdout") ?? ""
      return `exit ${String(msg.exit_code)}: ${output}`
    }
    case "patch_apply_begin":
    case "patch_apply_end":
      return typeof msg.changes === "object" && msg.changes !== null
        ? Object.keys(msg.changes).join(", ")
        : field(msg, "stdout") ?? ""
    case "task_complete":
      return field(msg, "last_agent_message") ?? ""
    case "error":
    case "stream_error":
    case "warning":
      return field(msg, "message") ?? ""
    default: {
      const { type: _type, ...rest } = msg
      return JSON.stringify(rest)
    }
  }
}

/**
 * A forwarded event in a line: its type and its main text (the message, the command, its exit code and
 * output, the patched files), cut at `width`.
 *
 * @since 0.2.0
 * @category views
 */
export const event = (seq: number, value: Event.Event, width = 1000): EventView => {
  const msg = value.msg as unknown as Record<string, unknown>
  return { seq, type: shown(String(msg.type), 80).join(""), text: shown(eventText(msg), width) }
}
