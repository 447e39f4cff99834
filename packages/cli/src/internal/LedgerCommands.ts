/**
 * The approval ledger from the command line: `deputy inbox` (the requests waiting, across every Deputy
 * process sharing the ledger, each with what it accepts), `deputy approve ID`, `deputy deny ID [--reason …]`,
 * `deputy answer ID --field NAME=VALUE … | --data JSON` (an MCP form, a question; the waiting sub-agent
 * receives the answer, checked against the request first; the first answer wins, a later one is told who
 * decided and when), and `deputy log` (every entry, filtered; `--verify` checks the hash chain and its
 * anchor).
 *
 * Everything a sub-agent sent is shown through `Text` (controls and invisible characters as escapes).
 *
 * @since 0.2.0
 */
import { type ApprovalInbox, ApprovalRequest, Approvals, DecidedBy } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import { RunFailed, UsageError } from "../Errors.js"
import * as LedgerSetup from "../LedgerSetup.js"
import * as Render from "../Render.js"
import * as Accepts from "./Accepts.js"
import * as Flags from "./Flags.js"
import * as Text from "./Text.js"

/**
 * The exit code of `deputy log --verify` when the chain is broken.
 *
 * @since 0.2.0
 * @category exit codes
 */
export const brokenChainExitCode = 3

/**
 * The exit code of `deputy log --verify` when the hash chain holds but disagrees with its anchor (the
 * `AnchorMismatch` of `verify`): entries at the end were removed (truncation), the history was rewritten
 * with fresh hashes, or the anchor file is missing or not written with the ledger's key.
 *
 * @since 0.2.0
 * @category exit codes
 */
export const anchorMismatchExitCode = 4

/**
 * The exit code of `deputy approve`, `deny` and `answer` when the answer does not fit the request (a form
 * value of the wrong type, a field or question it does not have, a `persist` choice it does not offer, an
 * answer of the wrong kind): nothing was recorded, the request still waits.
 *
 * @since 0.2.0
 * @category exit codes
 */
export const answerInvalidExitCode = 5

const json = (what: string) => Options.boolean("json").pipe(Options.withDescription(what))

/** Runs `effect` with the ledger `--ledger` names (`off` is a usage error here). */
const withLedger = <A, E, R>(
  spec: Option.Option<string>,
  command: string,
  effect: Effect.Effect<A, E, R | ApprovalLedger.ApprovalLedger>,
  whenMissing?: (filename: string) => Effect.Effect<A>
) =>
  Effect.gen(function*() {
    const choice = yield* LedgerSetup.parse(spec, command)
    if (choice._tag === "Off") {
      return yield* new UsageError({ message: `deputy ${command} needs a ledger; --ledger off has none`, command })
    }
    // Reading commands never create a ledger (nor its directory).
    if (choice._tag === "Sqlite" && !fs.existsSync(choice.filename)) {
      return yield* (whenMissing === undefined
        ? new NoLedger({ filename: choice.filename })
        : whenMissing(choice.filename))
    }
    return yield* Effect.provide(effect, LedgerSetup.layer(choice))
  })

/**
 * There is no ledger file yet (a `deputy run` creates it).
 *
 * @since 0.2.0
 * @category errors
 */
export class NoLedger extends Data.TaggedError("NoLedger")<{ readonly filename: string }> {
  override get message(): string {
    return `there is no approval ledger at ${this.filename} yet (a deputy run creates it; --ledger names another)`
  }
}

const iso = (ms: number) => new Date(ms).toISOString()

/** A one-line, escaped description of a request (what it asks). */
const what = (request: ApprovalRequest.ApprovalRequest | undefined): string =>
  request === undefined ? "(request not recorded)" : Text.oneLine(Render.describeRequest(request, process.cwd()), 160)

/** Where a request comes from, escaped: source, tree path. */
const provenance = (request: ApprovalRequest.ApprovalRequest): string => {
  const source = typeof request.source === "string"
    ? request.source
    : "other" in request.source
    ? String((request.source as { readonly other: unknown }).other)
    : JSON.stringify(request.source)
  return Text.oneLine(`${source}${request.path === undefined ? "" : ` · ${request.path}`}`, 120)
}

/**
 * What a request accepts (see `Accepts.acceptsOf`).
 *
 * @since 0.2.0
 * @category answers
 */
export const acceptsOf = Accepts.acceptsOf

// ---------------------------------------------------------------------------------------------------------
// deputy inbox

/**
 * A pending request as `deputy inbox --json` prints it (one a line).
 *
 * @since 0.2.0
 * @category models
 */
export interface InboxRecord {
  readonly id: string
  readonly kind: ApprovalRequest.ApprovalKind
  readonly summary: string
  readonly delegate_id: string
  readonly source: unknown
  readonly path?: string | undefined
  readonly chain?: unknown
  readonly asked_at: string
  readonly waited_ms: number
  readonly deadline_at?: string | undefined
  readonly process: { readonly host: string; readonly pid: number; readonly run_id: string }
  /** Whether the asking `deputy` still runs (`null`: unknown, see `process_state`). */
  readonly process_alive: boolean | null
  /**
   * Whether the asking `deputy` still runs as this machine can tell (`LedgerSetup.writerLiveness`):
   * `unknown` for another machine or container (even with this hostname), or a malformed identity.
   *
   * @since 0.2.0
   */
  readonly process_state: ApprovalLedger.Liveness
  /** What answers it (see `Accepts`). @since 0.2.0 */
  readonly accepts: Accepts.Accepts
  readonly request: ApprovalRequest.ApprovalRequest
}

/**
 * The `--json` record of a pending request.
 *
 * @since 0.2.0
 * @category formatting
 */
export const inboxRecord = (
  pending: ApprovalLedger.PendingEntry,
  now: number,
  host: string = os.hostname()
): InboxRecord => {
  const { entry, request } = pending
  const state = LedgerSetup.writerLiveness(entry.process, { host, pid: -1 }, LedgerSetup.isAlive, entry.at)
  return {
    id: request.id,
    kind: request.kind,
    summary: Render.describeRequest(request, process.cwd()),
    delegate_id: request.delegateId,
    source: request.source,
    ...(request.path === undefined ? {} : { path: request.path }),
    ...(request.chain === undefined ? {} : { chain: request.chain }),
    asked_at: iso(entry.at),
    waited_ms: Math.max(0, now - entry.at),
    ...(pending.deadlineAt === undefined ? {} : { deadline_at: iso(pending.deadlineAt) }),
    process: { host: entry.process.host, pid: entry.process.pid, run_id: entry.process.runId },
    process_alive: state === "unknown" ? null : state === "alive",
    process_state: state,
    accepts: Accepts.acceptsOf(request),
    request
  }
}

/**
 * The lines `deputy inbox` prints for people.
 *
 * @since 0.2.0
 * @category formatting
 */
export const inboxLines = (
  pending: ReadonlyArray<ApprovalLedger.PendingEntry>,
  now: number,
  target: string,
  host: string = os.hostname()
): Array<string> => {
  if (pending.length === 0) return [`No request is waiting (ledger: ${Text.visible(target)}).`]
  const lines = [
    `${pending.length} request${pending.length === 1 ? "" : "s"} waiting (ledger: ${Text.visible(target)}):`
  ]
  for (const item of pending) {
    const record = inboxRecord(item, now, host)
    const gone = record.process_state === "dead"
      ? " — its deputy is gone: an answer now is kept for when the same request is asked again; " +
        "the next run settles it lost if unanswered"
      : record.process_state === "unknown"
      ? " — whether its deputy still runs cannot be told from here (another machine or container): " +
        "an answer reaches it if it does"
      : ""
    const deadline = item.deadlineAt === undefined
      ? ""
      : item.deadlineAt > now
      ? `, deadline in ${Render.duration(item.deadlineAt - now)}`
      : ", deadline passed"
    lines.push(
      "",
      `  ${Text.visible(record.id)}`,
      `    ${what(item.request)}`,
      `    from ${provenance(item.request)}, asked ${
        Render.duration(record.waited_ms)
      } ago by pid ${record.process.pid} on ${Text.visible(record.process.host)}${deadline}${gone}`,
      `    answer: ${Accepts.answerHint(item.request)}`
    )
  }
  lines.push(
    "",
    "Answer with: deputy approve ID | deputy deny ID [--reason TEXT] | deputy answer ID --field NAME=VALUE " +
      "(deputy inbox --json: what each accepts)"
  )
  return lines
}

/**
 * `deputy inbox [--json] [--ledger LEDGER]`.
 *
 * @since 0.2.0
 * @category commands
 */
export const inbox = Command.make("inbox", {
  json: json("One JSON object per pending request, one a line."),
  ledger: LedgerSetup.option
}, (options) =>
  withLedger(
    options.ledger,
    "inbox",
    Effect.gen(function*() {
      const ledger = yield* ApprovalLedger.ApprovalLedger
      const pending = yield* ledger.pending()
      const now = yield* Clock.currentTimeMillis
      if (options.json) {
        for (const item of pending) yield* Console.log(JSON.stringify(inboxRecord(item, now)))
        return
      }
      yield* Console.log(inboxLines(pending, now, ledger.target).join("\n"))
    }),
    (filename) => options.json ? Effect.void : Console.log(inboxLines([], 0, `${filename}, not created yet`).join("\n"))
  )).pipe(Command.withDescription("List the requests waiting for an answer in the approval ledger."))

// ---------------------------------------------------------------------------------------------------------
// deputy approve / deny / answer

/** Who answers from this command line: `--as NAME`, else the login name. */
const person = (as: Option.Option<string>, command: string): DecidedBy.DecidedBy => {
  const name = Option.getOrElse(as, () => {
    try {
      return os.userInfo().username
    } catch {
      return process.env.USER ?? "unknown"
    }
  })
  return { _tag: "Person", channel: `deputy ${command}`, name }
}

/**
 * The answer `deputy approve` or `deputy deny` gives a request of this kind; an error when it cannot (a
 * question or a form with fields needs its answers: `deputy answer`). An MCP tool-call approval is
 * accepted, remembering it when `persist` (or `forSession`: `session`) says so; a URL elicitation or a form
 * without fields is accepted; `deny` declines an elicitation and sends a question no answers.
 *
 * @since 0.2.0
 * @category answers
 */
export const answerFor = (
  request: ApprovalRequest.ApprovalRequest | undefined,
  verb: "approve" | "deny",
  options: {
    readonly forSession: boolean
    readonly reason: Option.Option<string>
    /** `--persist`: remember an MCP tool-call approval. @since 0.2.0 */
    readonly persist?: Option.Option<ApprovalRequest.ElicitationPersist> | undefined
  }
): Either.Either<ApprovalInbox.InboxAnswer, string> => {
  const kind = request?.kind ?? "command"
  const persist = options.persist ?? Option.none()
  if (Option.isSome(persist) && kind !== "elicitation") {
    return Either.left("--persist remembers an MCP tool-call approval; this request is not one")
  }
  if (kind === "command" || kind === "patch") {
    if (verb === "approve") {
      return Either.right({ _tag: "Decision", decision: options.forSession ? "approved_for_session" : "approved" })
    }
    return Either.right({
      _tag: "Decision",
      decision: Option.isSome(options.reason) ? { denied: { rejection: options.reason.value } } : "denied"
    })
  }
  if (kind === "permissions") {
    if (verb === "deny") return Either.right({ _tag: "Permissions", response: Option.none() })
    const grant = Approvals.grantRequested(request as ApprovalRequest.PermissionsRequest)
    return Either.right({
      _tag: "Permissions",
      response: Option.some(options.forSession ? { ...grant, scope: "session" } : grant)
    })
  }
  if (kind === "elicitation") {
    if (verb === "deny") return Either.right({ _tag: "Elicitation", response: { action: "decline" } })
    const view = ApprovalRequest.elicitation(request as ApprovalRequest.ElicitationRequest)
    switch (view._tag) {
      case "ToolCall": {
        const remember = Option.isSome(persist)
          ? persist
          : options.forSession
          ? Option.some<ApprovalRequest.ElicitationPersist>("session")
          : Option.none()
        return Either.right({
          _tag: "Elicitation",
          response: Option.isSome(remember) ? { action: "accept", persist: remember.value } : { action: "accept" }
        })
      }
      case "Url":
      case "Form":
        if (view._tag === "Form" && view.fields.length > 0) {
          return Either.left(
            `it is a form of MCP server ${JSON.stringify(view.serverName)} with ${view.fields.length} field${
              view.fields.length === 1 ? "" : "s"
            } (${view.fields.map((field) => field.name).join(", ")}); fill it with deputy answer ${
              request!.id
            } --field NAME=VALUE, or decline it with deputy deny`
          )
        }
        if (options.forSession || Option.isSome(persist)) {
          return Either.left("it offers nothing to remember: approve it without --for-session or --persist")
        }
        return Either.right({ _tag: "Elicitation", response: { action: "accept" } })
      case "Refused":
        return Either.left(`Deputy does not accept it (${view.problem}); deputy deny declines it`)
    }
  }
  if (verb === "deny") return Either.right({ _tag: "UserInput", response: Option.none() })
  return Either.left(
    `it asks questions; answer them with deputy answer ${request!.id} --field QUESTION_ID=TEXT ` +
      `(deputy deny sends no answers)`
  )
}

/** What `deputy answer` was given: `--field NAME=VALUE` (in order), `--data JSON`, `--decline`, ... */
export interface AnswerInput {
  readonly fields: ReadonlyArray<string>
  readonly data: Option.Option<string>
  readonly decline: boolean
  readonly cancel: boolean
  readonly persist: Option.Option<ApprovalRequest.ElicitationPersist>
}

/** `NAME=VALUE` split at the first `=`. */
const splitField = (text: string): Either.Either<readonly [string, string], string> => {
  const at = text.indexOf("=")
  return at <= 0
    ? Either.left(`--field ${JSON.stringify(text)}: write NAME=VALUE (e.g. --field path=src/main.ts)`)
    : Either.right([text.slice(0, at), text.slice(at + 1)])
}

/** A typed value for a form field (what the check then refuses if it is not of the field's type). */
const formValue = (field: ApprovalRequest.ElicitationField | undefined, text: string): unknown => {
  const option = (part: string) => {
    const options = field?.options ?? []
    if (options.some((candidate) => candidate.value === part)) return part
    const byLabel = options.find((candidate) => candidate.label === part)
    if (byLabel !== undefined) return byLabel.value
    return /^\d+$/.test(part) ? options[Number(part) - 1]?.value ?? part : part
  }
  switch (field?.type) {
    case "number":
    case "integer":
      return /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text.trim()) ? Number(text) : text
    case "boolean":
      return /^(true|yes|y)$/i.test(text.trim()) ? true : /^(false|no|n)$/i.test(text.trim()) ? false : text
    case "enum":
    case "multi_enum":
      return option(text)
    default:
      return text
  }
}

/** `--data JSON`, or `--data -` for JSON on stdin (answers kept out of the process list). */
const readData = (data: string): Either.Either<unknown, string> => {
  let text = data
  if (data === "-") {
    try {
      text = fs.readFileSync(0, "utf8")
    } catch (error) {
      return Either.left(`--data -: could not read stdin (${error instanceof Error ? error.message : String(error)})`)
    }
  }
  try {
    return Either.right(JSON.parse(text) as unknown)
  } catch {
    return Either.left(`--data: ${data === "-" ? "stdin" : JSON.stringify(text.slice(0, 60))} is not JSON`)
  }
}

const isPlainObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Own properties only: names such as `__proto__` stay data (the check then refuses them). */
const record = (entries: ReadonlyArray<readonly [string, unknown]>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [name, value] of entries) {
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true })
  }
  return out
}

/**
 * The answer `deputy answer` gives: an MCP elicitation's form content (`--field NAME=VALUE`, typed by the
 * field: numbers, `true`/`false`, an option's value, label or number; a multi-select field repeated; or
 * `--data '{...}'` as is), `--persist` for a tool-call approval, `--decline` / `--cancel`; or the answers to
 * a user-input request's questions (`--field QUESTION_ID=TEXT`, an option's label or number, repeated for
 * several answers; or `--data '{"id": "text" | ["a", "b"]}'`). An error for what the command line cannot
 * say; what it says is then checked against the request by the ledger (`ApprovalLedger.checkAnswer`).
 *
 * @since 0.2.0
 * @category answers
 */
export const answerOf = (
  request: ApprovalRequest.ApprovalRequest | undefined,
  input: AnswerInput
): Either.Either<ApprovalInbox.InboxAnswer, string> => {
  if (request === undefined) return Either.left("no pending request has this id (deputy inbox lists them)")
  if (request.kind !== "elicitation" && request.kind !== "user_input") {
    return Either.left(
      `it is a ${request.kind} request: answer it with deputy approve ${request.id} or deputy deny ${request.id}`
    )
  }
  const given = input.fields.length > 0 || Option.isSome(input.data)
  if (input.decline && input.cancel) return Either.left("--decline and --cancel: give one")
  if ((input.decline || input.cancel) && (given || Option.isSome(input.persist))) {
    return Either.left(`--${input.decline ? "decline" : "cancel"} sends no answers: drop --field, --data, --persist`)
  }
  if (input.fields.length > 0 && Option.isSome(input.data)) return Either.left("--field and --data: give one")
  const fields: Array<readonly [string, string]> = []
  for (const text of input.fields) {
    const split = splitField(text)
    if (Either.isLeft(split)) return Either.left(split.left)
    fields.push(split.right)
  }
  const data = Option.isSome(input.data) ? readData(input.data.value) : Either.right(undefined)
  if (Either.isLeft(data)) return Either.left(data.left)

  if (request.kind === "user_input") {
    if (input.cancel) return Either.left("a question cannot be cancelled; --decline sends no answers")
    if (Option.isSome(input.persist)) {
      return Either.left("--persist remembers an MCP tool-call approval; this asks questions")
    }
    if (input.decline) return Either.right({ _tag: "UserInput", response: Option.none() })
    if (!given) {
      return Either.left(
        `give its answers: ${
          request.event.questions.map((question) => `--field ${question.id}=TEXT`).join(" ")
        } (or --decline)`
      )
    }
    const answers = new Map<string, Array<string>>()
    if (data.right !== undefined) {
      if (!isPlainObject(data.right)) return Either.left(`--data: write {"QUESTION_ID": "TEXT" | ["TEXT", ...]}`)
      for (const [id, value] of Object.entries(data.right)) {
        const list = typeof value === "string" ? [value] : value
        if (!Array.isArray(list)) {
          return Either.left(`--data: the answer to ${JSON.stringify(id)} is not a text or a list`)
        }
        answers.set(id, list as Array<string>)
      }
    }
    for (const [id, text] of fields) {
      const options = request.event.questions.find((question) => question.id === id)?.options ?? []
      const label = /^\d+$/.test(text) ? options[Number(text) - 1]?.label ?? text : text
      answers.set(id, [...(answers.get(id) ?? []), label])
    }
    return Either.right({
      _tag: "UserInput",
      response: Option.some({
        answers: record([...answers].map(([id, list]) => [id, { answers: list }] as const)) as Record<
          string,
          { readonly answers: ReadonlyArray<string> }
        >
      })
    })
  }

  if (input.decline) return Either.right({ _tag: "Elicitation", response: { action: "decline" } })
  if (input.cancel) return Either.right({ _tag: "Elicitation", response: { action: "cancel" } })
  const view = ApprovalRequest.elicitation(request)
  const persist = Option.isSome(input.persist) ? { persist: input.persist.value } : {}
  if (data.right !== undefined) {
    if (!isPlainObject(data.right)) return Either.left(`--data: write the form's content as {"NAME": VALUE, ...}`)
    return Either.right({
      _tag: "Elicitation",
      response: { action: "accept", content: record(Object.entries(data.right)), ...persist }
    })
  }
  if (view._tag === "Form" && view.fields.length > 0 && fields.length === 0) {
    return Either.left(
      `fill its form: ${
        view.fields.map((field) =>
          `--field ${field.name}=${field.type.toUpperCase()}${field.required ? "" : " (optional)"}`
        )
          .join(" ")
      } (or --decline)`
    )
  }
  const content = new Map<string, unknown>()
  for (const [name, text] of fields) {
    const field = view._tag === "Form" ? view.fields.find((candidate) => candidate.name === name) : undefined
    const value = formValue(field, text)
    if (field?.type === "multi_enum") {
      content.set(name, [...((content.get(name) as Array<unknown> | undefined) ?? []), value])
    } else if (content.has(name)) {
      return Either.left(`--field ${name} is given more than once (it takes one value)`)
    } else {
      content.set(name, value)
    }
  }
  return Either.right({
    _tag: "Elicitation",
    response: { action: "accept", ...(content.size === 0 ? {} : { content: record([...content]) }), ...persist }
  })
}

/** The answers of the secret questions of a request, hidden (for output). */
const shownAnswer = (request: ApprovalRequest.ApprovalRequest | undefined, answer: ApprovalInbox.InboxAnswer) => {
  const json = answerJson(answer) as { readonly response?: { readonly answers?: Record<string, unknown> } | null }
  if (request?.kind !== "user_input" || answer._tag !== "UserInput" || json.response?.answers === undefined) return json
  const secret = new Set(request.event.questions.filter((question) => question.isSecret === true).map((q) => q.id))
  if (secret.size === 0) return json
  return {
    ...json,
    response: {
      answers: record(
        Object.entries(json.response.answers).map(([id, value]) =>
          [id, secret.has(id) ? { answers: ["(secret)"] } : value] as const
        )
      )
    }
  }
}

/** An answer that does not fit the request: said on stderr, exit code `answerInvalidExitCode`. */
const notFitting = (message: string) =>
  Effect.zipRight(
    Console.error(`deputy: ${message}`),
    Effect.fail(new RunFailed({ exitCode: answerInvalidExitCode }))
  )

/** Gives `answer` to the request `id` in the ledger, as `verb`, and says what happened. */
const give = (
  verb: "approve" | "deny" | "answer",
  options: { readonly id: string; readonly as: Option.Option<string>; readonly json: boolean },
  build: (request: ApprovalRequest.ApprovalRequest | undefined) => Either.Either<ApprovalInbox.InboxAnswer, string>
) =>
  Effect.gen(function*() {
    const ledger = yield* ApprovalLedger.ApprovalLedger
    // the request as recorded, decided or not (a decided one is then told who decided, and when)
    const [recorded] = yield* ledger.list({ requestId: options.id, type: "pending" })
    if (recorded?.data.request === undefined) return yield* new ApprovalLedger.UnknownRequest({ id: options.id })
    const pending = { entry: recorded, request: recorded.data.request }
    const answer = build(pending?.request)
    if (Either.isLeft(answer)) {
      return yield* new UsageError({ message: `request ${options.id}: ${answer.left}`, command: verb })
    }
    const decision = yield* ledger.answer(options.id, answer.right, person(options.as, verb)).pipe(
      Effect.catchTags({
        AnswerInvalid: (error) => notFitting(error.message),
        AnswerMismatch: (error) => notFitting(`${error.message}; nothing was recorded, the request still waits`)
      })
    )
    const asker = LedgerSetup.writerLiveness(
      pending.entry.process,
      ledger.process,
      LedgerSetup.isAlive,
      pending.entry.at
    )
    if (options.json) {
      return yield* Console.log(JSON.stringify({
        id: decision.requestId,
        decided_by: decision.decidedBy,
        at: iso(decision.at),
        answer: shownAnswer(pending?.request, decision.answer),
        asker_alive: asker === "unknown" ? null : asker === "alive"
      }))
    }
    const done = verb === "approve" ? "Approved" : verb === "deny" ? "Denied" : "Answered"
    yield* Console.log(`${done} ${Text.visible(options.id)}: ${what(pending?.request)}`)
    if (asker === "dead") {
      yield* Console.error(
        `Its deputy (pid ${pending.entry.process.pid}) is gone: the answer is kept in the ledger and sent ` +
          `when the same request is asked again.`
      )
    } else if (asker === "unknown" && pending.entry.process.host === ledger.process.host) {
      yield* Console.error(
        `Its deputy (pid ${pending.entry.process.pid} on ${Text.visible(pending.entry.process.host)}) runs in ` +
          `another container or machine of this name, or cannot be checked from here: if it still runs it ` +
          `receives the answer; if not, the answer is kept and sent when the same request is asked again.`
      )
    }
  })

const answerBase = {
  id: Args.text({ name: "ID" }).pipe(Args.withDescription("The request's id, as `deputy inbox` shows it.")),
  as: Options.text("as").pipe(
    Options.withPseudoName("NAME"),
    Options.withDescription("Who decides (recorded in the ledger). Default: your login name."),
    Options.optional
  ),
  json: json("The decision as one JSON object."),
  ledger: LedgerSetup.option
}

const persistOption = Options.choice("persist", ["session", "always"] as const).pipe(
  Options.withDescription("Remember an MCP tool-call approval (a choice it offers: deputy inbox --json)."),
  Options.optional
)

const answerCommand = (verb: "approve" | "deny") =>
  verb === "approve"
    ? Command.make("approve", {
      ...answerBase,
      forSession: Options.boolean("for-session").pipe(
        Options.withDescription("Approve it for the rest of the sub-agent's session.")
      ),
      persist: persistOption
    }, (options) =>
      withLedger(
        options.ledger,
        verb,
        give(verb, options, (request) =>
          answerFor(request, verb, {
            forSession: options.forSession,
            reason: Option.none(),
            persist: options.persist
          }))
      )).pipe(
        Command.withDescription("Approve a pending request; the waiting sub-agent receives it.")
      )
    : Command.make("deny", {
      ...answerBase,
      reason: Options.text("reason").pipe(
        Options.withPseudoName("TEXT"),
        Options.withDescription("Why (the sub-agent receives it with the denial)."),
        Options.optional
      )
    }, (options) =>
      withLedger(
        options.ledger,
        verb,
        give(verb, options, (request) => answerFor(request, verb, { forSession: false, reason: options.reason }))
      )).pipe(
        Command.withDescription("Deny a pending request; the waiting sub-agent receives it.")
      )

const answerJson = (answer: ApprovalInbox.InboxAnswer): unknown =>
  answer._tag === "Decision"
    ? { _tag: "Decision", decision: answer.decision }
    : answer._tag === "Elicitation"
    ? { _tag: "Elicitation", response: answer.response }
    : { _tag: answer._tag, response: Option.getOrNull(answer.response as Option.Option<unknown>) }

/**
 * `deputy approve [--for-session] [--persist session|always] [--as NAME] ID`.
 *
 * @since 0.2.0
 * @category commands
 */
export const approve = answerCommand("approve")

/**
 * `deputy deny [--reason TEXT] [--as NAME] ID`.
 *
 * @since 0.2.0
 * @category commands
 */
export const deny = answerCommand("deny")

/**
 * `deputy answer ID (--field NAME=VALUE … | --data JSON | --decline | --cancel) [--persist CHOICE] [--as NAME]`:
 * answers an MCP elicitation (a form, a tool-call approval, a URL) or a user-input request's questions from
 * another process (see `answerOf`). The answer is checked against the request: one that does not fit is
 * refused (exit code `answerInvalidExitCode`) and nothing is recorded.
 *
 * @since 0.2.0
 * @category commands
 */
export const answer = Command.make("answer", {
  ...answerBase,
  field: Options.text("field").pipe(
    Options.withPseudoName("NAME=VALUE"),
    Options.withDescription(
      "A form field or a question's answer (by its id); repeat it for several. Other users see it in the " +
        "process list: give secrets with --data -."
    ),
    Options.repeated
  ),
  data: Options.text("data").pipe(
    Options.withPseudoName("JSON"),
    Options.withDescription("The form's content or the answers as one JSON object; - reads it from stdin."),
    Options.optional
  ),
  decline: Options.boolean("decline").pipe(Options.withDescription("Decline it (no answers).")),
  cancel: Options.boolean("cancel").pipe(Options.withDescription("Cancel an MCP elicitation.")),
  persist: persistOption
}, (options) =>
  withLedger(
    options.ledger,
    "answer",
    give("answer", options, (request) =>
      answerOf(request, {
        fields: options.field,
        data: options.data,
        decline: options.decline,
        cancel: options.cancel,
        persist: options.persist
      }))
  )).pipe(
    Command.withDescription(
      "Answer a pending MCP elicitation or question (its form fields or answers); the waiting sub-agent receives it."
    )
  )

// ---------------------------------------------------------------------------------------------------------
// deputy log

/**
 * Reads a time: ISO 8601 (`2026-12-02T10:00Z`) or a duration ago (`90s`, `2h`). Epoch ms.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseTime = (text: string, now: number): Option.Option<number> => {
  const ago = Flags.parseDuration(text)
  if (Option.isSome(ago)) return Option.some(now - Duration.toMillis(ago.value))
  const at = Date.parse(text)
  return Number.isNaN(at) ? Option.none() : Option.some(at)
}

const outcomes: ReadonlyArray<string> = [
  "approved",
  "approved_for_session",
  "denied",
  "aborted",
  "timed_out",
  "lost",
  "pending"
]

const kinds = ["command", "patch", "permissions", "user_input", "elicitation"] as const

/**
 * One line of `deputy log` for people: sequence, time, entry type, outcome, who decided, the request,
 * and a reason.
 *
 * @since 0.2.0
 * @category formatting
 */
export const logLine = (entry: ApprovalLedger.LedgerEntry): string => {
  const by = entry.decidedBy === undefined ? "" : ` by ${Text.visible(DecidedBy.describe(entry.decidedBy))}`
  const outcome = entry.outcome === undefined ? "" : ` ${entry.outcome}`
  const request = entry.type === "pending" ? `  ${what(entry.data.request)}` : ""
  const rejection =
    (entry.data.answer as { readonly decision?: { readonly denied?: { readonly rejection?: unknown } } })
      ?.decision?.denied?.rejection
  const why = entry.data.reason ?? (typeof rejection === "string" ? rejection : undefined)
  const reason = why === undefined ? "" : `  (${Text.oneLine(why, 200)})`
  const waited = entry.data.waitedMs === undefined ? "" : ` after ${Render.duration(entry.data.waitedMs)}`
  return `#${entry.seq}  ${iso(entry.at)}  ${entry.type.padEnd(8)}${outcome}${by}${waited}  ${
    Text.visible(entry.requestId)
  }${request}${reason}  [pid ${entry.process.pid}@${Text.visible(entry.process.host)}]`
}

/**
 * `deputy log [filters] [--json] [--verify]`. `--verify` exits with `brokenChainExitCode` when the hash
 * chain is broken and `anchorMismatchExitCode` when it holds but disagrees with its anchor (truncated);
 * its `--json` record says which in `problem` (`broken_chain`, `anchor_mismatch`; `intact: true` otherwise).
 *
 * @since 0.2.0
 * @category commands
 */
export const log = Command.make("log", {
  delegate: Options.text("delegate").pipe(Options.withPseudoName("ID"), Options.optional),
  kind: Options.choice("kind", kinds).pipe(Options.optional),
  outcome: Options.choice("outcome", outcomes).pipe(Options.optional),
  decidedBy: Options.text("decided-by").pipe(Options.withPseudoName("WHO"), Options.optional),
  since: Options.text("since").pipe(Options.withPseudoName("TIME"), Options.optional),
  until: Options.text("until").pipe(Options.withPseudoName("TIME"), Options.optional),
  limit: Options.integer("limit").pipe(Options.withPseudoName("N"), Options.optional),
  verify: Options.boolean("verify").pipe(
    Options.withDescription("Check the hash chain (exit code 3 if broken) and its anchor (exit code 4 if truncated).")
  ),
  json: json("One JSON object per entry, one a line."),
  ledger: LedgerSetup.option
}, (options) =>
  withLedger(
    options.ledger,
    "log",
    Effect.gen(function*() {
      const ledger = yield* ApprovalLedger.ApprovalLedger
      if (options.verify) {
        const result = yield* ledger.verify
        if (result._tag === "Intact") {
          yield* Console.log(
            options.json
              ? JSON.stringify({ intact: true, entries: result.entries, last_hash: result.lastHash })
              : `The ledger ${Text.visible(ledger.target)} is intact: ${result.entries} entries, the hash chain ` +
                `holds (last hash ${result.lastHash.slice(0, 16)}…).`
          )
          return
        }
        if (result._tag === "AnchorMismatch") {
          yield* Console.log(
            options.json
              ? JSON.stringify({
                intact: false,
                problem: "anchor_mismatch",
                entries: result.entries,
                broken_seq: result.seq,
                anchor: result.anchor,
                anchor_seq: result.anchorSeq ?? null,
                reason: result.reason
              })
              : `The ledger ${Text.visible(ledger.target)} DISAGREES WITH ITS ANCHOR at entry #${result.seq}: ${
                Text.visible(result.reason)
              }. Its hash chain holds (${result.entries} entries), but entries were removed from its end or its ` +
                `history was rewritten (anchor: ${Text.visible(result.anchor)}).`
          )
          return yield* new RunFailed({ exitCode: anchorMismatchExitCode })
        }
        yield* Console.log(
          options.json
            ? JSON.stringify({
              intact: false,
              problem: "broken_chain",
              entries: result.entries,
              broken_seq: result.seq,
              reason: result.reason
            })
            : `The ledger ${Text.visible(ledger.target)} is BROKEN at entry #${result.seq}: ${
              Text.visible(result.reason)
            } (${result.entries} entries checked). Entries from #${result.seq} on cannot be trusted.`
        )
        return yield* new RunFailed({ exitCode: brokenChainExitCode })
      }
      const now = yield* Clock.currentTimeMillis
      const time = (name: string, value: Option.Option<string>) =>
        Option.match(value, {
          onNone: () => Either.right(undefined),
          onSome: (text) =>
            Option.match(parseTime(text, now), {
              onNone: () =>
                Either.left(
                  new UsageError({
                    message: `--${name}: ${
                      JSON.stringify(text)
                    } is not a time; write 2026-12-02T10:00Z or a duration ago (2h)`,
                    command: "log"
                  })
                ),
              onSome: (at) => Either.right(at)
            })
        })
      const since = yield* time("since", options.since)
      const until = yield* time("until", options.until)
      const outcome = Option.getOrUndefined(options.outcome)
      const filter: ApprovalLedger.EntryFilter = {
        delegateId: Option.getOrUndefined(options.delegate),
        kind: Option.getOrUndefined(options.kind),
        ...(outcome === undefined
          ? {}
          : outcome === "pending"
          ? { type: "pending" }
          : { outcome: outcome as ApprovalLedger.LedgerOutcome, type: "settled" }),
        decidedBy: Option.getOrUndefined(options.decidedBy) as DecidedBy.DecidedBy["_tag"] | undefined,
        since,
        until
      }
      let entries = yield* ledger.list(filter)
      if (outcome === "pending") {
        const open = new Set((yield* ledger.pending()).map((item) => item.entry.requestId))
        entries = entries.filter((entry) => open.has(entry.requestId))
      }
      if (Option.isSome(options.limit)) entries = entries.slice(-Math.max(0, options.limit.value))
      for (const entry of entries) {
        yield* Console.log(options.json ? JSON.stringify(entry) : logLine(entry))
      }
      if (!options.json && entries.length === 0) yield* Console.log("No entries.")
    })
  )).pipe(Command.withDescription("Show the approval ledger; --verify checks its hash chain."))
