/**
 * An `Approvals` that asks the person at the terminal: who asks (the sub-agent), what (the command and
 * its directory, or the patch's files with a diff preview, the permissions, the questions), why (the
 * sub-agent's reason), and single-key answers: `a` approve, `s` approve for the session, `d` deny, `x`
 * abort (the turn). Ctrl-D or the end of input denies; Ctrl-C interrupts the whole run, as anywhere else.
 * Since 0.2.0: a command that asks to reach the network says the host and protocol; only the decisions
 * the child lists (`available_decisions`) are offered; a rule Codex proposes can be accepted and
 * remembered for the session (`r` a command prefix, `h`/`b` allow/block a host; `makeRemembering`).
 * One prompt at a time; other output waits until it is answered.
 *
 * Everything the sub-agent sent is shown through `Text`: control and invisible characters as escapes,
 * a command on one line (its newlines as `\n`), a program that is not a standard shell with its path, every
 * path that leaves the working directory flagged with why (`RequestPaths`), and next to the keys a
 * one-line summary of the whole request that keeps its start and its end. A wrong key gets a one-line
 * hint. Answers say who gave them: `Person` at the `terminal` with the key, or the `Default` at the end of
 * input.
 *
 * @since 0.1.0
 */
import { ApprovalRequest, Approvals, DecidedBy, RequestPaths, ShellWords } from "@deputy/core"
import type { Permissions, RequestUserInput, ReviewDecision } from "@deputy/protocol"
import * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Text from "./internal/Text.js"
import { Output } from "./Output.js"
import * as PolicyFile from "./PolicyFile.js"
import * as Render from "./Render.js"

/**
 * Options of the terminal approvals.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Paths are shown relative to this directory. */
  readonly cwd?: string | undefined
  /** What Ctrl-C at a prompt does; the prompt then waits to be interrupted. */
  readonly onInterrupt: Effect.Effect<void>
  /** Lines of a patch shown before asking (default 20). */
  readonly diffPreviewLines?: number | undefined
  /**
   * A policy file where an accepted "approve and remember" rule is also appended (`PolicyFile.appendRule`:
   * atomically, exactly the rule proposed; a symlink or another user's file is refused, and the rule is
   * then held for the session only).
   *
   * @since 0.2.0
   */
  readonly rememberTo?: string | undefined
  /** Told of every rule remembered or revoked (`--json` writes it as a `rule` record). @since 0.2.0 */
  readonly onRuleChange?: ((change: RuleChange) => Effect.Effect<void>) | undefined
}

/**
 * A rule remembered ("approve and remember") or revoked at the terminal: `persistedTo` names the policy
 * file it was also written to, `persistError` why it could not be.
 *
 * @since 0.2.0
 * @category models
 */
export interface RuleChange {
  readonly change: "added" | "revoked"
  readonly rule: Approvals.PolicyRule
  readonly persistedTo?: string | undefined
  readonly persistError?: string | undefined
}

interface Choice<A> {
  readonly keys: ReadonlyArray<string>
  readonly label: string
  readonly value: A
}

type Answer<A> =
  | { readonly _tag: "Chosen"; readonly choice: Choice<A>; readonly key: string }
  | { readonly _tag: "EndOfInput" }

const reviewChoices: ReadonlyArray<Choice<ReviewDecision.ReviewDecision>> = [
  { keys: ["a", "y"], label: "approve", value: "approved" },
  { keys: ["s"], label: "approve for session", value: "approved_for_session" },
  { keys: ["d", "n"], label: "deny", value: "denied" },
  { keys: ["x"], label: "abort", value: "abort" }
]

/**
 * The review choices the child accepts: all of them, or (when it lists `available_decisions`) only the
 * plain decisions it lists; deny stays (a child that lists none is still answered, fail closed).
 */
const offered = (
  available: ReadonlyArray<ReviewDecision.ReviewDecision> | null | undefined,
  proposedPrefix?: ReadonlyArray<string> | null | undefined
): ReadonlyArray<Choice<ReviewDecision.ReviewDecision>> => {
  if (available === undefined || available === null) {
    return proposedPrefix === undefined || proposedPrefix === null || proposedPrefix.length === 0
      ? reviewChoices
      : [
        ...reviewChoices,
        ...rememberChoices([{ approved_execpolicy_amendment: { proposed_execpolicy_amendment: proposedPrefix } }])
      ]
  }
  const plain = new Set<ReviewDecision.ReviewDecision>(available.filter((decision) => typeof decision === "string"))
  return [
    ...reviewChoices.filter((choice) => choice.value === "denied" || plain.has(choice.value)),
    ...rememberChoices(available)
  ]
}

/**
 * "Approve and remember" answers for the rules Codex proposes (`acceptWithExecpolicyAmendment`,
 * `applyNetworkPolicyAmendment`): `r` remembers the command prefix, `h` allows the host, `b` blocks it.
 * The rule is remembered by these approvals for the session (see `Remembered`), exactly as proposed
 * (never broader); Codex gets a plain approve (or deny), so nothing is written to the user's Codex rules.
 */
const rememberChoices = (
  available: ReadonlyArray<ReviewDecision.ReviewDecision>
): ReadonlyArray<Choice<ReviewDecision.ReviewDecision>> => {
  const choices: Array<Choice<ReviewDecision.ReviewDecision>> = []
  const taken = new Set<string>()
  const add = (key: string, label: string, value: ReviewDecision.ReviewDecision) => {
    if (taken.has(key)) return
    taken.add(key)
    choices.push({ keys: [key], label, value })
  }
  for (const decision of available) {
    if (typeof decision !== "object") continue
    if ("approved_execpolicy_amendment" in decision) {
      const prefix = decision.approved_execpolicy_amendment.proposed_execpolicy_amendment
      if (prefix.length > 0) add("r", `approve and remember \`${Text.oneLine(prefix.join(" "), 60)}\``, decision)
    } else if ("network_policy_amendment" in decision) {
      const { action, host } = decision.network_policy_amendment.network_policy_amendment
      if (host === "") continue
      if (action === "allow") add("h", `allow ${Text.oneLine(host, 60)} and remember`, decision)
      else add("b", `block ${Text.oneLine(host, 60)} and remember`, decision)
    }
  }
  return choices
}

const permissionChoices: ReadonlyArray<Choice<"turn" | "session" | "deny">> = [
  { keys: ["a", "y"], label: "grant for this turn", value: "turn" },
  { keys: ["s"], label: "grant for the session", value: "session" },
  { keys: ["d", "n"], label: "deny", value: "deny" }
]

const keyHint = (choices: ReadonlyArray<Choice<unknown>>) =>
  `press ${choices.map((choice) => choice.keys[0]).join(", ").replace(/, ([^,]+)$/, " or $1")} · ` +
  "Ctrl-D denies · Ctrl-C stops the run"

/** Who answered at the terminal: the person, with the key. */
const person = (key: string): DecidedBy.DecidedBy => ({ _tag: "Person", channel: "terminal", key })
const endOfInput: DecidedBy.DecidedBy = { _tag: "Default", why: "end of input" }

/**
 * The rules remembered at the terminal ("approve and remember"), for the session: listable and
 * revocable. Each is a core policy rule (`source` is `rememberedSource`) checked before a command prompt.
 *
 * @since 0.2.0
 * @category models
 */
export interface Remembered {
  /** The remembered rules, oldest first. */
  readonly rules: Effect.Effect<ReadonlyArray<Approvals.PolicyRule>>
  /** Forgets the rule at this index of `rules`; false if there is none. */
  readonly forget: (index: number) => Effect.Effect<boolean>
}

/**
 * The `source` of a remembered rule (`DecidedBy.PolicyRule.file` of what it decides).
 *
 * @since 0.2.0
 * @category constants
 */
export const rememberedSource = "remembered at the terminal"

/** A remembered rule in words: `approve commands starting \`git pull\``, `allow registry.npmjs.org`. */
const describeRule = (rule: Approvals.PolicyRule): string =>
  rule.commandPrefix !== undefined
    ? `${rule.action} commands starting \`${ShellWords.join(rule.commandPrefix)}\``
    : rule.host !== undefined
    ? `${rule.action === "deny" ? "block" : "allow"} ${rule.host}`
    : rule.action

/** The session rule a proposal stands for, and the plain decision Codex gets instead of the amendment. */
const rememberedRule = (
  decision: ReviewDecision.ReviewDecision
): { readonly rule: Approvals.PolicyRule; readonly answer: ReviewDecision.ReviewDecision } | undefined => {
  if (typeof decision !== "object") return undefined
  if ("approved_execpolicy_amendment" in decision) {
    const prefix = decision.approved_execpolicy_amendment.proposed_execpolicy_amendment
    return {
      rule: { kind: "command", commandPrefix: [...prefix], action: "approve", source: rememberedSource },
      answer: "approved"
    }
  }
  if ("network_policy_amendment" in decision) {
    const { action, host } = decision.network_policy_amendment.network_policy_amendment
    return {
      rule: { kind: "command", host, action: action === "allow" ? "approve" : "deny", source: rememberedSource },
      answer: action === "allow" ? "approved" : "denied"
    }
  }
  return undefined
}

/** A command shown in full up to this many characters (the summary next to the keys shows its start and end). */
const commandShownUpTo = 2000

/**
 * Builds the service; it needs the `Terminal` (keys) and the `Output` (display). Every answer says who
 * gave it: `Person` at the `terminal` with the `key`, or the `Default` at the end of input.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Approvals.ApprovalsService, never, Terminal.Terminal | Output> =>
  Effect.map(makeRemembering(options), ({ approvals }) => approvals)

/**
 * Builds the service with the rules it remembers ("approve and remember"), to list and revoke them.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeRemembering = (
  options: Options
): Effect.Effect<
  { readonly approvals: Approvals.ApprovalsService; readonly remembered: Remembered },
  never,
  Terminal.Terminal | Output
> =>
  Effect.gen(function*() {
    const rememberedRules = yield* Ref.make<ReadonlyArray<Approvals.PolicyRule>>([])
    const remembered: Remembered = {
      rules: Ref.get(rememberedRules),
      forget: (index) =>
        Ref.modify(rememberedRules, (rules) =>
          index >= 0 && index < rules.length
            ? [true, rules.filter((_, at) => at !== index)]
            : [false, rules])
    }
    const terminal = yield* Terminal.Terminal
    const output = yield* Output
    const style = output.terminalStyle
    const oneAtATime = yield* Effect.makeSemaphore(1)
    const cwd = options.cwd
    const workspace = cwd ?? process.cwd()
    const previewLines = options.diffPreviewLines ?? 20
    const columns = Effect.map(terminal.columns, (n) => n > 0 ? n : 100)
    // Escapes in reverse video on a colour terminal: a newline the sub-agent sent reads apart from a `\n` it typed.
    const mark: Text.Mark = style.enabled ? (escape) => `\x1b[7m${escape}\x1b[27m` : (escape) => escape

    const isInterrupt = (input: Terminal.UserInput) => input.key.ctrl && input.key.name === "c"
    const isEndOfInput = (input: Terminal.UserInput) => input.key.ctrl && input.key.name === "d"

    /** The next key, or none at the end of input (Ctrl-D, stdin closed); Ctrl-C interrupts. */
    const nextKey = (keys: Mailbox.ReadonlyMailbox<Terminal.UserInput>, write: (text: string) => Effect.Effect<void>) =>
      keys.take.pipe(
        Effect.flatMap((input) =>
          isInterrupt(input)
            ? Effect.zipRight(Effect.zipRight(write("^C\n"), options.onInterrupt), Effect.never)
            : isEndOfInput(input)
            ? Effect.succeedNone
            : Effect.succeedSome(input)
        ),
        Effect.catchTag("NoSuchElementException", () => Effect.succeedNone)
      )

    /**
     * The line next to the keys: a one-line summary of the whole request (its start and its end when it is
     * long), then the keys.
     */
    const keyLine = (summary: string, choices: ReadonlyArray<Choice<unknown>>, width: number) => {
      const menu = choices.map((choice) => `${style.bold(choice.keys[0])} ${choice.label}`).join(style.dim(" · "))
      const menuWidth = choices.reduce((total, choice) => total + choice.keys[0].length + choice.label.length + 4, 0)
      return `  ${style.bold(Text.oneLine(summary, Math.max(80, width - menuWidth - 4), mark))}  ${menu} ${
        style.cyan("›")
      } `
    }

    /**
     * `m` at a prompt while rules are remembered: lists them, numbered, and revokes the one whose number
     * is typed (empty: none). Then the prompt is shown again.
     */
    const manageRules = (
      keys: Mailbox.ReadonlyMailbox<Terminal.UserInput>,
      write: (text: string) => Effect.Effect<void>
    ) =>
      Effect.gen(function*() {
        const rules = yield* Ref.get(rememberedRules)
        yield* write(
          `\n  ${style.bold("remembered rules")} ${style.dim("(this session)")}\n` +
            rules.map((rule, index) => `    ${index + 1}. ${Text.oneLine(describeRule(rule), 120, mark)}\n`).join("") +
            `  ${style.dim("number to revoke (empty: none)")} ${style.cyan("›")} `
        )
        const typed = yield* readLine(keys, write, false)
        const index = Option.isSome(typed) && /^\d+$/.test(typed.value.trim()) ? Number(typed.value.trim()) - 1 : -1
        const rule = rules[index]
        if (rule === undefined) return
        if (yield* remembered.forget(index)) {
          yield* write(`  ${style.yellow("revoked")}: ${Text.oneLine(describeRule(rule), 120, mark)}\n`)
          if (options.onRuleChange !== undefined) yield* options.onRuleChange({ change: "revoked", rule })
        }
      })

    const choose = <A>(
      summary: string,
      choices: ReadonlyArray<Choice<A>>,
      write: (text: string) => Effect.Effect<void>
    ) =>
      Effect.gen(function*() {
        const withManage = (yield* Ref.get(rememberedRules)).length === 0
          ? choices
          : [...choices, { keys: ["m"], label: "remembered rules", value: undefined as never }]
        const line = keyLine(summary, withManage, yield* columns)
        yield* write(line)
        const keys = yield* terminal.readInput
        while (true) {
          const input = yield* nextKey(keys, write)
          if (Option.isNone(input)) {
            yield* write(`${style.red("deny")} ${style.dim("(end of input)")}\n`)
            return { _tag: "EndOfInput" } as Answer<A>
          }
          const choice = choices.find((candidate) => candidate.keys.includes(input.value.key.name))
          if (choice !== undefined) {
            yield* write(`${choice.label}\n`)
            return { _tag: "Chosen", choice, key: input.value.key.name } as Answer<A>
          }
          if (input.value.key.name === "m" && withManage !== choices) {
            yield* manageRules(keys, write)
            yield* write(
              keyLine(summary, (yield* Ref.get(rememberedRules)).length === 0 ? choices : withManage, yield* columns)
            )
            continue
          }
          yield* write(`\n  ${style.dim(keyHint(withManage))}\n${line}`)
        }
      }).pipe(
        Effect.scoped,
        Effect.onInterrupt(() => write(`${style.dim("(no longer asked)")}\n`))
      )

    /** Reads one line with echo (`*` for secrets); none at the end of input. */
    const readAnswer = (write: (text: string) => Effect.Effect<void>, secret: boolean) =>
      Effect.flatMap(terminal.readInput, (keys) => readLine(keys, write, secret)).pipe(Effect.scoped)

    /** Reads one line from these keys. */
    const readLine = (
      keys: Mailbox.ReadonlyMailbox<Terminal.UserInput>,
      write: (text: string) => Effect.Effect<void>,
      secret: boolean
    ): Effect.Effect<Option.Option<string>> =>
      Effect.gen(function*() {
        let text = ""
        while (true) {
          const input = yield* nextKey(keys, write)
          if (Option.isNone(input)) {
            yield* write("\n")
            return Option.none<string>()
          }
          const { key } = input.value
          if (key.name === "return" || key.name === "enter") {
            yield* write("\n")
            return Option.some(text)
          }
          if (key.name === "backspace") {
            if (text.length > 0) {
              text = text.slice(0, -1)
              yield* write("\b \b")
            }
            continue
          }
          const typed = Option.getOrUndefined(input.value.input)
          if (typed !== undefined && !key.ctrl && typed.length === 1 && typed >= " ") {
            text += typed
            yield* write(secret ? "*" : typed)
          }
        }
      })

    const header = (
      request: ApprovalRequest.Provenance,
      title: string,
      lines: ReadonlyArray<string>,
      reason: string | null | undefined,
      width: number
    ) => {
      const why = reason ? Text.excerpt(reason, { head: 3, tail: 2, width: Math.max(40, width - 10) }) : []
      return [
        `${style.yellow("?")} ${style.bold(`${Render.whoAsks(request)} ${title}`)}`,
        ...lines.map((line) => `    ${line}`),
        ...why.map((line, index) => `    ${index === 0 ? `${style.dim("why:")} ` : "     "}${line}`)
      ].join("\n") + "\n"
    }

    const ask = <A>(
      request: ApprovalRequest.Provenance,
      title: string,
      lines: (width: number) => ReadonlyArray<string>,
      reason: string | null | undefined,
      summary: string,
      choices: ReadonlyArray<Choice<A>>,
      onEndOfInput: A
    ): Effect.Effect<DecidedBy.Decided<A>> =>
      oneAtATime.withPermits(1)(
        output.exclusive((write) =>
          Effect.gen(function*() {
            const width = yield* columns
            yield* write(header(request, title, lines(width), reason, width))
            const answer = yield* choose(summary, choices, write)
            return answer._tag === "Chosen"
              ? DecidedBy.decided(answer.choice.value, person(answer.key))
              : DecidedBy.decided(onEndOfInput, endOfInput)
          })
        )
      )

    /** A flag for each path of the request that leaves the working directory, with why. */
    const outsideLines = (request: ApprovalRequest.ApprovalRequest) =>
      RequestPaths.outside(request, workspace).map((touched) =>
        `${style.red("⚠ outside the working directory:")} ${Text.visible(touched.given)}${
          touched.resolved === touched.given ? "" : ` ${style.dim("→")} ${Text.visible(touched.resolved)}`
        }${touched.note === undefined ? "" : style.dim(` (${Text.visible(touched.note)})`)}`
      )

    /** Holds a rule for the session, writes it to `rememberTo` if given, and reports it. */
    const addRule = (rule: Approvals.PolicyRule): Effect.Effect<void> =>
      Effect.gen(function*() {
        yield* Ref.update(rememberedRules, (all) => [...all, rule])
        let change: RuleChange = { change: "added", rule }
        if (options.rememberTo !== undefined) {
          const written = yield* Effect.either(PolicyFile.appendRule(options.rememberTo, rule))
          change = written._tag === "Right"
            ? { ...change, persistedTo: options.rememberTo }
            : { ...change, persistError: written.left.message }
          yield* output.note(
            written._tag === "Right"
              ? `${style.green("remembered")} in ${Text.visible(options.rememberTo)}: ${describeRule(rule)}`
              : `${style.red("not written")} (held for this session only): ${Text.visible(written.left.message)}`
          )
        }
        if (options.onRuleChange !== undefined) yield* options.onRuleChange(change)
      })

    /** A command a remembered rule decides is not asked again; a remembered answer adds its rule. */
    const command = (
      request: ApprovalRequest.CommandApproval
    ): Effect.Effect<DecidedBy.Decided<ReviewDecision.ReviewDecision>> =>
      Effect.flatMap(Ref.get(rememberedRules), (rules) => {
        const index = Approvals.firstMatchIndex(rules, request, { workspace })
        const rule = rules[index]
        if (rule !== undefined) {
          const { source: _source, ...written } = rule
          return Effect.succeed(
            DecidedBy.decided<ReviewDecision.ReviewDecision>(rule.action === "deny" ? "denied" : "approved", {
              _tag: "PolicyRule",
              index,
              rule: written,
              file: rememberedSource
            })
          )
        }
        return Effect.flatMap(askCommand(request), (decided) => {
          const remember = rememberedRule(decided.value)
          if (remember === undefined) return Effect.succeed(decided)
          return Effect.as(addRule(remember.rule), DecidedBy.decided(remember.answer, decided.decidedBy))
        })
      })

    const askCommand = (request: ApprovalRequest.CommandApproval) => {
      const event = request.event
      const network = ApprovalRequest.networkAccess(request)
      const view = Render.commandView(event.command)
      // Codex asks network approvals with no command (and no directory) of their own
      const bare = event.command.length === 0 && network !== undefined
      const lines = () => [
        ...(bare ? [] : [
          `${style.bold("$")} ${
            event.command.length === 0
              ? style.dim("(no command)")
              : style.bold(Text.oneLine(view.text, commandShownUpTo, mark))
          }`
        ]),
        ...(view.shell !== undefined && !view.standardShell
          ? [`${style.red("⚠ runs through")} ${Text.visible(view.shell)} ${style.dim("(not a standard shell)")}`]
          : []),
        ...(Text.hasHidden(view.text)
          ? [style.yellow("⚠ the command has control or invisible characters, shown as \\x.. / \\u.... escapes")]
          : []),
        ...(bare && event.cwd === "" ? [] : [`${style.dim("in")} ${Text.visible(event.cwd)}`]),
        ...outsideLines(request),
        ...(network === undefined ? [] : [
          `${style.yellow("⚠ network:")} ${style.bold(Text.visible(network.host))} ${
            style.dim(`over ${Text.visible(network.protocol)}`)
          }`
        ])
      ]
      return ask(
        request,
        network === undefined ? "to run a command" : "to reach the network",
        lines,
        event.reason,
        network === undefined
          ? `run: ${view.text}`
          : bare
          ? `reach ${network.host} (${network.protocol})`
          : `reach ${network.host}: ${view.text}`,
        offered(event.available_decisions, event.proposed_execpolicy_amendment),
        "denied" as ReviewDecision.ReviewDecision
      )
    }

    const patch = (request: ApprovalRequest.PatchApproval) => {
      const event = request.event
      const outside = outsideLines(request)
      const lines = () => [
        ...Render.patchFiles(style, event.changes, cwd),
        ...(event.grant_root ? [`${style.dim("and write access to")} ${Text.visible(event.grant_root)}`] : []),
        ...outside,
        ...Render.diffPreview(style, event.changes, cwd, previewLines).map((line) => `${style.dim("│")} ${line}`)
      ]
      const files = Object.keys(event.changes)
      const summary = `patch ${files.length} file${files.length === 1 ? "" : "s"}${
        outside.length > 0 ? `, ${outside.length} outside!` : ""
      }: ${files.map((file) => Render.displayPath(file, cwd)).join(", ")}`
      return ask(
        request,
        "to apply a patch",
        lines,
        event.reason,
        summary,
        reviewChoices,
        "denied" as ReviewDecision.ReviewDecision
      )
    }

    const permissions = (request: ApprovalRequest.PermissionsRequest) => {
      const event = request.event
      const what = Render.describeRequest(request, cwd).replace(/^grant /, "")
      const lines = () => [
        what,
        ...(event.cwd ? [`${style.dim("in")} ${Text.visible(event.cwd)}`] : []),
        ...outsideLines(request)
      ]
      return Effect.map(
        ask(request, "for permissions", lines, event.reason, `grant: ${what}`, permissionChoices, "deny" as const),
        (decided): DecidedBy.Decided<Option.Option<Permissions.RequestPermissionsResponse>> =>
          DecidedBy.decided(
            decided.value === "deny" ? Option.none() : Option.some(Approvals.grantRequested(request, decided.value)),
            decided.decidedBy
          )
      )
    }

    const userInput = (request: ApprovalRequest.UserInputRequest) =>
      oneAtATime.withPermits(1)(
        output.exclusive((write) =>
          Effect.gen(function*() {
            const questions = request.event.questions
            const width = yield* columns
            yield* write(
              header(
                request,
                `you ${questions.length === 1 ? "a question" : `${questions.length} questions`}`,
                ApprovalRequest.isBlocking(request)
                  ? []
                  : [style.dim("(the sub-agent does not wait for this answer)")],
                undefined,
                width
              )
            )
            const answers: Record<string, { answers: Array<string> }> = {}
            let decidedBy = person("return")
            for (const question of questions) {
              const options = question.options ?? []
              yield* write(
                [
                  `    ${question.header ? `${style.bold(Text.visible(question.header))}: ` : ""}${
                    Text.visible(question.question)
                  }`,
                  ...options.map((option, index) =>
                    `      ${index + 1}. ${Text.visible(option.label)}${
                      option.description ? style.dim(` — ${Text.visible(option.description)}`) : ""
                    }`
                  )
                ].join("\n") + "\n"
              )
              yield* write(
                `  ${
                  style.dim(options.length > 0 ? "answer (number or text, empty to skip)" : "answer (empty to skip)")
                } ${style.cyan("›")} `
              )
              const line = yield* readAnswer(write, question.isSecret === true)
              if (Option.isNone(line)) {
                decidedBy = endOfInput
                break
              }
              const text = line.value.trim()
              if (text === "") continue
              const picked = /^\d+$/.test(text) ? options[Number(text) - 1] : undefined
              answers[question.id] = { answers: [picked?.label ?? text] }
            }
            return DecidedBy.decided(
              Object.keys(answers).length === 0
                ? Option.none<RequestUserInput.RequestUserInputResponse>()
                : Option.some<RequestUserInput.RequestUserInputResponse>({ answers }),
              decidedBy
            )
          })
        )
      )

    /** The value typed for a form field, as its type wants it; a string the check then refuses if it is not. */
    const fieldValue = (field: ApprovalRequest.ElicitationField, text: string): unknown => {
      switch (field.type) {
        case "number":
        case "integer":
          return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text
        case "boolean":
          return /^(y|yes|true)$/i.test(text) ? true : /^(n|no|false)$/i.test(text) ? false : text
        case "enum": {
          const options = field.options ?? []
          return /^\d+$/.test(text) ? options[Number(text) - 1]?.value ?? text : text
        }
        case "multi_enum": {
          const options = field.options ?? []
          return text.split(",").map((part) => part.trim()).filter((part) => part !== "").map((part) =>
            /^\d+$/.test(part) ? options[Number(part) - 1]?.value ?? part : part
          )
        }
        case "string":
          return text
      }
    }

    const fieldLines = (field: ApprovalRequest.ElicitationField) => [
      `    ${style.bold(Text.visible(field.title ?? field.name))}${field.required ? style.red(" *") : ""} ${
        style.dim(`(${field.type}${field.title === undefined ? "" : `, ${Text.visible(field.name)}`})`)
      }${field.description === undefined ? "" : style.dim(` — ${Text.oneLine(field.description, 200, mark)}`)}`,
      ...(field.options ?? []).map((option, index) => `      ${index + 1}. ${Text.oneLine(option.label, 120, mark)}`)
    ]

    /**
     * An MCP server's question: a form is filled field by field (typed by the person, nothing filled
     * without them), a URL is shown and never opened, a tool-call approval offers its `persist` choices.
     */
    const elicitation = (
      request: ApprovalRequest.ElicitationRequest
    ): Effect.Effect<DecidedBy.Decided<ApprovalRequest.ElicitationResponse>> =>
      oneAtATime.withPermits(1)(
        output.exclusive((write) =>
          Effect.gen(function*() {
            const view = ApprovalRequest.elicitation(request)
            const width = yield* columns
            const declined = DecidedBy.decided<ApprovalRequest.ElicitationResponse>({ action: "decline" }, endOfInput)
            const server = `MCP server “${Text.oneLine(view.serverName, 80, mark)}”`
            const message = view._tag === "Refused"
              ? []
              : Text.excerpt(view.message, { head: 6, tail: 2, width: Math.max(40, width - 8) })
            const lines = [
              ...message,
              ...(view._tag === "Url"
                ? [`${style.yellow("⚠ a URL (Deputy does not open it):")} ${Text.oneLine(view.url, 400, mark)}`]
                : []),
              ...(view._tag === "ToolCall" && view.toolName !== undefined
                ? [`${style.dim("tool:")} ${Text.visible(view.toolName)}`]
                : []),
              ...(view._tag === "Form" ? view.fields.flatMap(fieldLines) : []),
              ...(view._tag === "Refused" ? [style.red(`declined: ${Text.visible(view.problem)}`)] : [])
            ]
            const title = view._tag === "ToolCall" ? `(${server}) to run a tool` : `to answer ${server}`
            yield* write(header(request, title, lines, undefined, width))
            type Pick = "accept" | "session" | "always" | "fill" | "decline" | "cancel"
            const choices: Array<Choice<Pick>> = view._tag === "ToolCall"
              ? [
                { keys: ["a", "y"], label: "approve once", value: "accept" },
                ...(view.persist.includes("session")
                  ? [{ keys: ["s"], label: "approve and remember for the session", value: "session" as const }]
                  : []),
                ...(view.persist.includes("always")
                  ? [{ keys: ["r"], label: "approve and remember always", value: "always" as const }]
                  : [])
              ]
              : view._tag === "Form"
              ? [{ keys: ["f"], label: view.fields.length === 0 ? "accept" : "fill in", value: "fill" }]
              : view._tag === "Url"
              ? [{ keys: ["o"], label: "done (I opened it myself)", value: "accept" }]
              : []
            choices.push({ keys: ["d", "n"], label: "decline", value: "decline" }, {
              keys: ["x"],
              label: "cancel",
              value: "cancel"
            })
            const summary = ApprovalRequest.describe(request)
            while (true) {
              const answer = yield* choose(summary, choices, write)
              if (answer._tag === "EndOfInput") return declined
              const by = person(answer.key)
              const pick = answer.choice.value
              if (pick === "decline" || pick === "cancel") return DecidedBy.decided({ action: pick }, by)
              if (pick !== "fill") {
                return DecidedBy.decided<ApprovalRequest.ElicitationResponse>(
                  pick === "accept" ? { action: "accept" } : { action: "accept", persist: pick },
                  by
                )
              }
              if (view._tag !== "Form") return declined
              const content: Record<string, unknown> = {}
              let ended = false
              for (const field of view.fields) {
                yield* write(`  ${Text.visible(field.title ?? field.name)} ${style.cyan("›")} `)
                const line = yield* readAnswer(write, false)
                if (Option.isNone(line)) {
                  ended = true
                  break
                }
                const text = line.value.trim()
                if (text === "") continue
                Object.defineProperty(content, field.name, {
                  value: fieldValue(field, text),
                  enumerable: true,
                  writable: true,
                  configurable: true
                })
              }
              if (ended) return declined
              const checked = ApprovalRequest.checkElicitationResponse(view, { action: "accept", content })
              if (checked._tag === "Valid") return DecidedBy.decided(checked.response, by)
              yield* write(`  ${style.red("not sent:")} ${Text.visible(checked.problem)}\n`)
            }
          })
        )
      )

    return { approvals: Approvals.Approvals.of({ command, patch, permissions, userInput, elicitation }), remembered }
  })

/**
 * The terminal approvals as the `Approvals` layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Approvals.Approvals, never, Terminal.Terminal | Output> =>
  Layer.effect(Approvals.Approvals, make(options))
