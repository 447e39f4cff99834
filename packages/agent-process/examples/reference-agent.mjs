#!/usr/bin/env node
/**
 * Reference agent: a sub-agent in plain Node (no dependencies) that speaks Deputy's process protocol.
 * It shows what a program must do to be run by `@deputy/agent-process`, and the package's tests use it.
 *
 * The protocol, from the child's side
 * ------------------------------------
 * - stdin: one `Submission` per line, UTF-8 JSON: `{"id": string, "op": {"type": ..., ...}, "trace"?: {...}}`.
 * - stdout: one `Event` per line: `{"id": string, "msg": {"type": ..., ...}}`. Nothing else may be written to
 *   stdout (logs go to stderr; the parent keeps the last few KiB of stderr for its error reports).
 *   A line the parent cannot read is reported to it as a `deputy_diagnostic` event and skipped.
 * - `Event.id` is the id of the submission that started the current turn (`""` before any turn).
 * - At start: emit `session_configured` (this agent adds its `pid`: unknown fields are passed through). On `user_input` (id S): `task_started{turn_id: S}`, then work, then
 *   `task_complete{turn_id: S, last_agent_message}`, or `turn_aborted{turn_id: S, reason}` if stopped.
 * - Approvals: emit a request and wait for the matching op:
 *     exec_approval_request{call_id, approval_id?}  → exec_approval{id: approval_id ?? call_id, decision}
 *     apply_patch_approval_request{call_id}         → patch_approval{id: call_id, decision}
 *     request_user_input{call_id, turn_id: S}       → user_input_answer{id: S, response: {answers}}
 *     request_permissions{call_id}                  → request_permissions_response{id: call_id, response}
 *   Decisions: "approved" / "approved_for_session" (run; don't ask again for the same command this session),
 *   "denied" / {"denied": {...}} / "timed_out" (don't run, go on with the turn), "abort" (end the turn as
 *   `turn_aborted{reason: "interrupted"}`).
 * - `interrupt`: abort the active turn (`turn_aborted{turn_id, reason: "interrupted"}`).
 * - `shutdown`: abort the active turn, emit `shutdown_complete`, exit 0. End of stdin: exit 0.
 * - The environment holds only what the parent allows (PATH, HOME, LANG, ...), plus `TRACEPARENT` /
 *   `TRACESTATE` (W3C trace context of the parent's span) when the parent traces.
 * - Deputy stops a child by closing its stdin, then SIGTERM to its process group, then SIGKILL after a grace
 *   period: exit promptly on SIGTERM.
 *
 * What this agent does with a turn's text (one directive per line; other text is echoed back):
 *   run:<shell command>   asks to run it (sh -c) in its cwd, runs it on approval, reports exit code and output
 *   patch:<path> [text]   asks to write <text> (default "patched by the reference agent") to <path>
 *   ask:<question>        asks the user a question and reports the answers
 *   perm:<reason>         asks for network permission and reports what was granted
 *
 * Switches for tests (environment):
 *   REFERENCE_AGENT_GARBAGE=1           print a line that is not JSON right after session_configured
 *   REFERENCE_AGENT_LONG_LINE=<n>       print a line of <n> characters right after session_configured
 *   REFERENCE_AGENT_REPORT_ENV=1        emit {"type": "reference_env", "env": {...}} at start
 *   REFERENCE_AGENT_CRASH_AFTER=<n>     after <n> events, print a message on stderr and exit with code 3
 *   REFERENCE_AGENT_STDERR_BYTES=<n>    print <n> bytes of filler on stderr at start
 *   REFERENCE_AGENT_HANG_ON_SHUTDOWN=1  ignore `shutdown`, end of stdin and SIGTERM (only SIGKILL stops it)
 *   REFERENCE_AGENT_GRANDCHILD=1        start a long-lived `sleep` (sharing stdout/stderr) and emit
 *                                       {"type": "reference_grandchild", "pid": n}
 *   REFERENCE_AGENT_FLOOD=<n>           emit <n> agent_message_delta events at start, in one write
 *   REFERENCE_AGENT_APPROVAL_ID=0       send exec approval requests without `approval_id` (answer by call_id)
 */
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { writeFileSync } from "node:fs"
import * as path from "node:path"
import { createInterface } from "node:readline"

const env = process.env
const flag = (name) => env[`REFERENCE_AGENT_${name}`]
const crashAfter = flag("CRASH_AFTER") === undefined ? Infinity : Number(flag("CRASH_AFTER"))
const hangOnShutdown = flag("HANG_ON_SHUTDOWN") === "1"
const withApprovalId = flag("APPROVAL_ID") !== "0"

let emitted = 0
const emit = (id, msg) => {
  process.stdout.write(JSON.stringify({ id, msg }) + "\n")
  emitted += 1
  if (emitted >= crashAfter) {
    process.stderr.write(`reference-agent: crashing on purpose after ${emitted} events\n`)
    process.exit(3)
  }
}
const log = (text) => process.stderr.write(`reference-agent: ${text}\n`)

// ---- waiting for answers ---------------------------------------------------------------------------------
/** Pending requests by kind and key: resolve(op) with the answer, or reject(aborted) when the turn stops. */
const pending = new Map()
const aborted = Symbol("aborted")
const waitFor = (kind, key, turn) =>
  new Promise((resolve, reject) => {
    const entry = { resolve, reject, turn }
    pending.set(`${kind}:${key}`, entry)
    turn.waits.add(entry)
  })
const answer = (kind, key, op) => {
  const entry = pending.get(`${kind}:${key}`)
  if (entry === undefined) return log(`no pending ${kind} for ${key}; ignored`)
  pending.delete(`${kind}:${key}`)
  entry.turn.waits.delete(entry)
  entry.resolve(op)
}

// ---- turns ---------------------------------------------------------------------------------------------------
let active = undefined
let queue = Promise.resolve()
let callCounter = 0
const approvedForSession = new Set()

const isApproved = (decision) =>
  decision === "approved" || decision === "approved_for_session" ||
  (typeof decision === "object" && decision !== null &&
    ("approved_execpolicy_amendment" in decision ||
      decision.network_policy_amendment?.network_policy_amendment?.action === "allow"))

class TurnAborted extends Error {}

const abortTurn = (turn) => {
  if (turn.aborted) return
  turn.aborted = true
  for (const entry of turn.waits) entry.reject(aborted)
  turn.waits.clear()
  for (const [key, entry] of pending) if (entry.turn === turn) pending.delete(key)
  turn.command?.kill("SIGKILL")
  emit(turn.id, { type: "turn_aborted", turn_id: turn.id, reason: "interrupted" })
}

/** Waits for an answer; a turn stopped meanwhile (interrupt, abort decision) ends here. */
const ask = async (turn, kind, key) => {
  try {
    return await waitFor(kind, key, turn)
  } catch (error) {
    if (error === aborted) throw new TurnAborted()
    throw error
  }
}

const runShell = (turn, command, cwd) =>
  new Promise((resolve) => {
    const child = spawn("sh", ["-c", command], { cwd, stdio: ["ignore", "pipe", "pipe"] })
    turn.command = child
    let stdout = ""
    let stderr = ""
    let aggregated = ""
    child.stdout.on("data", (data) => {
      stdout += data
      aggregated += data
    })
    child.stderr.on("data", (data) => {
      stderr += data
      aggregated += data
    })
    child.on("error", (error) => resolve({ exit_code: 127, stdout, stderr: String(error), aggregated }))
    child.on("close", (code) => {
      turn.command = undefined
      resolve({ exit_code: code ?? 1, stdout, stderr, aggregated })
    })
  })

const execAction = async (turn, command) => {
  const callId = `call-${++callCounter}`
  const argv = ["sh", "-c", command]
  const cwd = process.cwd()
  if (!approvedForSession.has(command)) {
    const approvalId = withApprovalId ? `approval-${callCounter}` : undefined
    emit(turn.id, {
      type: "exec_approval_request",
      call_id: callId,
      ...(approvalId ? { approval_id: approvalId } : {}),
      turn_id: turn.id,
      command: argv,
      cwd,
      reason: "the reference agent was asked to run this"
    })
    const op = await ask(turn, "exec", approvalId ?? callId)
    if (op.decision === "abort") throw new TurnAborted()
    if (!isApproved(op.decision)) return `I did not run \`${command}\`: ${JSON.stringify(op.decision)}`
    if (op.decision === "approved_for_session") approvedForSession.add(command)
  }
  emit(turn.id, { type: "exec_command_begin", call_id: callId, turn_id: turn.id, command: argv, cwd })
  const started = Date.now()
  const result = await runShell(turn, command, cwd)
  if (turn.aborted) throw new TurnAborted()
  emit(turn.id, {
    type: "exec_command_end",
    call_id: callId,
    turn_id: turn.id,
    command: argv,
    cwd,
    exit_code: result.exit_code,
    stdout: result.stdout,
    stderr: result.stderr,
    aggregated_output: result.aggregated,
    duration: { secs: Math.floor((Date.now() - started) / 1000), nanos: 0 },
    status: result.exit_code === 0 ? "completed" : "failed"
  })
  return `I ran \`${command}\`: exit code ${result.exit_code}`
}

const patchAction = async (turn, argument) => {
  const space = argument.indexOf(" ")
  const file = space === -1 ? argument : argument.slice(0, space)
  const content = (space === -1 ? "patched by the reference agent" : argument.slice(space + 1)) + "\n"
  const target = path.resolve(process.cwd(), file)
  const callId = `call-${++callCounter}`
  const changes = { [target]: { type: "add", content } }
  emit(turn.id, {
    type: "apply_patch_approval_request",
    call_id: callId,
    turn_id: turn.id,
    changes,
    reason: "the reference agent was asked to write this file"
  })
  const op = await ask(turn, "patch", callId)
  if (op.decision === "abort") throw new TurnAborted()
  if (!isApproved(op.decision)) return `I did not write ${file}: ${JSON.stringify(op.decision)}`
  emit(turn.id, { type: "patch_apply_begin", call_id: callId, turn_id: turn.id, auto_approved: false, changes })
  let success = true
  let stderr = ""
  try {
    writeFileSync(target, content)
  } catch (error) {
    success = false
    stderr = String(error)
  }
  emit(turn.id, { type: "patch_apply_end", call_id: callId, turn_id: turn.id, stdout: "", stderr, success })
  return success ? `I wrote ${file}` : `I could not write ${file}: ${stderr}`
}

const askAction = async (turn, question) => {
  const callId = `call-${++callCounter}`
  emit(turn.id, {
    type: "request_user_input",
    call_id: callId,
    turn_id: turn.id,
    questions: [{ id: "q1", header: "Question", question }]
  })
  const op = await ask(turn, "input", turn.id)
  return `answers: ${JSON.stringify(op.response?.answers ?? {})}`
}

const permAction = async (turn, reason) => {
  const callId = `call-${++callCounter}`
  emit(turn.id, {
    type: "request_permissions",
    call_id: callId,
    turn_id: turn.id,
    reason,
    permissions: { network: { enabled: true } }
  })
  const op = await ask(turn, "permissions", callId)
  return `permissions granted: ${JSON.stringify(op.response?.permissions ?? {})}`
}

const actions = { run: execAction, patch: patchAction, ask: askAction, perm: permAction }

const runTurn = async (id, items) => {
  const turn = { id, aborted: false, waits: new Set(), command: undefined }
  active = turn
  const text = items.filter((item) => item.type === "text").map((item) => item.text).join("\n")
  emit(id, { type: "task_started", turn_id: id })
  emit(id, { type: "agent_message_delta", delta: "thinking" })
  const usage = { input_tokens: text.length, output_tokens: 1, total_tokens: text.length + 1 }
  emit(id, { type: "token_count", info: { total_token_usage: usage, last_token_usage: usage } })
  const results = []
  try {
    for (const line of text.split("\n")) {
      const match = /^\s*(run|patch|ask|perm):(.*)$/.exec(line)
      results.push(match ? await actions[match[1]](turn, match[2].trim()) : `You said: ${line}`)
      if (turn.aborted) return
    }
  } catch (error) {
    if (error instanceof TurnAborted) return abortTurn(turn)
    throw error
  } finally {
    if (active === turn) active = undefined
  }
  const message = results.join("\n")
  emit(id, { type: "agent_message", message })
  emit(id, { type: "task_complete", turn_id: id, last_agent_message: message })
}

// ---- submissions ---------------------------------------------------------------------------------------------
const shutdown = (id) => {
  if (hangOnShutdown) return log("ignoring shutdown")
  if (active) abortTurn(active)
  emit(id, { type: "shutdown_complete" })
  process.exit(0)
}

const onSubmission = (submission) => {
  const { id, op } = submission
  switch (op.type) {
    case "user_input":
      queue = queue.then(() => runTurn(id, op.items ?? []))
      return
    case "interrupt":
      if (active) abortTurn(active)
      return
    case "shutdown":
      return shutdown(id)
    case "exec_approval":
      return answer("exec", op.id, op)
    case "patch_approval":
      return answer("patch", op.id, op)
    case "user_input_answer":
    case "request_user_input_response":
      return answer("input", op.id, op)
    case "request_permissions_response":
      return answer("permissions", op.id, op)
    default:
      emit(id, { type: "warning", message: `the reference agent does not handle op ${op.type}` })
  }
}

// ---- start ---------------------------------------------------------------------------------------------------
if (hangOnShutdown) process.on("SIGTERM", () => log("ignoring SIGTERM"))
if (flag("STDERR_BYTES")) process.stderr.write("x".repeat(Number(flag("STDERR_BYTES"))) + "\n")

emit("", { type: "session_configured", session_id: randomUUID(), model: "reference", pid: process.pid })
if (flag("REPORT_ENV") === "1") emit("", { type: "reference_env", env })
if (flag("GARBAGE") === "1") process.stdout.write("this is not JSON\n")
if (flag("LONG_LINE")) {
  process.stdout.write(JSON.stringify({ id: "", pad: "y".repeat(Number(flag("LONG_LINE"))) }) + "\n")
}
if (flag("FLOOD")) {
  const lines = []
  for (let i = 0; i < Number(flag("FLOOD")); i++) {
    lines.push(JSON.stringify({ id: "", msg: { type: "agent_message_delta", delta: String(i) } }))
  }
  process.stdout.write(lines.join("\n") + "\n")
}
if (flag("GRANDCHILD") === "1") {
  const grandchild = spawn("sleep", ["1000"], { stdio: ["ignore", "inherit", "inherit"] })
  emit("", { type: "reference_grandchild", pid: grandchild.pid })
}

createInterface({ input: process.stdin, crlfDelay: Infinity })
  .on("line", (line) => {
    if (line.trim() === "") return
    let submission
    try {
      submission = JSON.parse(line)
    } catch {
      return emit("", { type: "warning", message: `not a submission: ${line.slice(0, 120)}` })
    }
    onSubmission(submission)
  })
  .on("close", () => {
    if (hangOnShutdown) return setInterval(() => {}, 1 << 30)
    if (active) abortTurn(active)
    process.exit(0)
  })
