/**
 * An `Approvals` that asks the person at the terminal: who asks (the sub-agent), what (the command and
 * its directory, or the patch's files with a diff preview, the permissions, the questions), why (the
 * sub-agent's reason), and single-key answers: `a` approve, `s` approve for the session, `d` deny, `x`
 * abort (the turn). Ctrl-D or the end of input denies; Ctrl-C interrupts the whole run, as anywhere else.
 * One prompt at a time; other output waits until it is answered.
 *
 * @since 0.1.0
 */
import type { ApprovalRequest } from "@deputy/core"
import { Approvals } from "@deputy/core"
import type { RequestPermissionsResponse, RequestUserInputResponse, ReviewDecision } from "@deputy/protocol"
import * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import { Output } from "./Output.js"
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
}

interface Choice<A> {
  readonly keys: ReadonlyArray<string>
  readonly label: string
  readonly value: A
}

type Answer<A> =
  | { readonly _tag: "Chosen"; readonly choice: Choice<A> }
  | { readonly _tag: "EndOfInput" }

const reviewChoices: ReadonlyArray<Choice<ReviewDecision>> = [
  { keys: ["a", "y"], label: "approve", value: "approved" },
  { keys: ["s"], label: "approve for session", value: "approved_for_session" },
  { keys: ["d", "n"], label: "deny", value: "denied" },
  { keys: ["x"], label: "abort", value: "abort" }
]

const permissionChoices: ReadonlyArray<Choice<"turn" | "session" | "deny">> = [
  { keys: ["a", "y"], label: "grant for this turn", value: "turn" },
  { keys: ["s"], label: "grant for the session", value: "session" },
  { keys: ["d", "n"], label: "deny", value: "deny" }
]

/**
 * Builds the service; it needs the `Terminal` (keys) and the `Output` (display).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Approvals.ApprovalsService, never, Terminal.Terminal | Output> =>
  Effect.gen(function*() {
    const terminal = yield* Terminal.Terminal
    const output = yield* Output
    const style = output.terminalStyle
    const oneAtATime = yield* Effect.makeSemaphore(1)
    const cwd = options.cwd
    const previewLines = options.diffPreviewLines ?? 20

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

    const choose = <A>(choices: ReadonlyArray<Choice<A>>, write: (text: string) => Effect.Effect<void>) =>
      Effect.gen(function*() {
        const menu = choices.map((choice) => `${style.bold(choice.keys[0])} ${choice.label}`).join(style.dim(" · "))
        yield* write(`  ${menu} ${style.cyan("›")} `)
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
            return { _tag: "Chosen", choice } as Answer<A>
          }
        }
      }).pipe(
        Effect.scoped,
        Effect.onInterrupt(() => write(`${style.dim("(no longer asked)")}\n`))
      )

    /** Reads one line with echo (`*` for secrets); none at the end of input. */
    const readAnswer = (write: (text: string) => Effect.Effect<void>, secret: boolean) =>
      Effect.gen(function*() {
        const keys = yield* terminal.readInput
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
      }).pipe(Effect.scoped)

    const header = (title: string, lines: ReadonlyArray<string>, reason: string | null | undefined) =>
      [
        `${style.yellow("?")} ${style.bold(`The sub-agent asks ${title}`)}`,
        ...lines.map((line) => `    ${line}`),
        ...(reason ? [`    ${style.dim("why:")} ${Render.sanitize(reason)}`] : [])
      ].join("\n") + "\n"

    const ask = <A>(
      text: string,
      choices: ReadonlyArray<Choice<A>>,
      onEndOfInput: A
    ): Effect.Effect<A> =>
      oneAtATime.withPermits(1)(
        output.exclusive((write) =>
          Effect.zipRight(
            write(text),
            Effect.map(
              choose(choices, write),
              (answer) => answer._tag === "Chosen" ? answer.choice.value : onEndOfInput
            )
          )
        )
      )

    const command = (request: ApprovalRequest.CommandApproval) => {
      const event = request.event
      const lines = [
        `${style.bold("$")} ${style.bold(Render.command(event.command))}`,
        `${style.dim("in")} ${Render.sanitize(event.cwd)}`,
        ...(event.network_approval_context
          ? [`${style.dim("network:")} ${Render.sanitize(event.network_approval_context.host)}`]
          : [])
      ]
      return ask(header("to run a command", lines, event.reason), reviewChoices, "denied" as ReviewDecision)
    }

    const patch = (request: ApprovalRequest.PatchApproval) => {
      const event = request.event
      const preview = Render.diffPreview(style, event.changes, cwd, previewLines)
      const lines = [
        ...Render.patchFiles(style, event.changes, cwd),
        ...(event.grant_root ? [`${style.dim("and write access to")} ${Render.sanitize(event.grant_root)}`] : []),
        ...preview.map((line) => `${style.dim("│")} ${line}`)
      ]
      return ask(header("to apply a patch", lines, event.reason), reviewChoices, "denied" as ReviewDecision)
    }

    const permissions = (request: ApprovalRequest.PermissionsRequest) => {
      const event = request.event
      const lines = [
        Render.describeRequest(request, cwd).replace(/^grant /, ""),
        ...(event.cwd ? [`${style.dim("in")} ${Render.sanitize(event.cwd)}`] : [])
      ]
      return Effect.map(
        ask(header("for permissions", lines, event.reason), permissionChoices, "deny" as const),
        (choice): Option.Option<RequestPermissionsResponse> =>
          choice === "deny"
            ? Option.none()
            : Option.some(Approvals.grantRequested(request, choice))
      )
    }

    const userInput = (request: ApprovalRequest.UserInputRequest) =>
      oneAtATime.withPermits(1)(
        output.exclusive((write) =>
          Effect.gen(function*() {
            const questions = request.event.questions
            yield* write(
              header(`you ${questions.length === 1 ? "a question" : `${questions.length} questions`}`, [], undefined)
            )
            const answers: Record<string, { answers: Array<string> }> = {}
            for (const question of questions) {
              const options = question.options ?? []
              yield* write(
                [
                  `    ${question.header ? `${style.bold(Render.sanitize(question.header))}: ` : ""}${
                    Render.sanitize(question.question)
                  }`,
                  ...options.map((option, index) =>
                    `      ${index + 1}. ${Render.sanitize(option.label)}${
                      option.description ? style.dim(` — ${Render.sanitize(option.description)}`) : ""
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
              if (Option.isNone(line)) break
              const text = line.value.trim()
              if (text === "") continue
              const picked = /^\d+$/.test(text) ? options[Number(text) - 1] : undefined
              answers[question.id] = { answers: [picked?.label ?? text] }
            }
            return Object.keys(answers).length === 0
              ? Option.none<RequestUserInputResponse>()
              : Option.some<RequestUserInputResponse>({ answers })
          })
        )
      )

    return Approvals.of({ command, patch, permissions, userInput })
  })

/**
 * The terminal approvals as the `Approvals` layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Approvals, never, Terminal.Terminal | Output> =>
  Layer.effect(Approvals, make(options))
