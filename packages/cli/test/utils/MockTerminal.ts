import * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"

/** A key as a terminal in raw mode delivers it. */
export const key = (
  name: string,
  options: { readonly ctrl?: boolean; readonly input?: string } = {}
): Terminal.UserInput => ({
  input: Option.fromNullable(options.input ?? (name.length === 1 ? name : undefined)),
  key: { name, ctrl: options.ctrl ?? false, meta: false, shift: false }
})

/** Keys for typed text, then Return. */
export const line = (text: string): ReadonlyArray<Terminal.UserInput> => [
  ...Array.from(text, (char) => key(char === " " ? "space" : char.toLowerCase(), { input: char })),
  key("return", { input: "\r" })
]

export const ctrlC = key("c", { ctrl: true, input: "\x03" })
export const ctrlD = key("d", { ctrl: true, input: "\x04" })

const isQuit = (input: Terminal.UserInput) => input.key.ctrl && (input.key.name === "c" || input.key.name === "d")

/**
 * A scripted terminal (after the Effect repository's `MockTerminal`): keys sent with `send` are read by the
 * prompts in order (keys a prompt did not use go to the next one); each `readInput` ends after Ctrl-C /
 * Ctrl-D like the real one; `end` ends the input.
 */
export const make = Effect.sync(() => {
  const buffer: Array<Terminal.UserInput> = []
  const lines: Array<string> = []
  let active: Mailbox.Mailbox<Terminal.UserInput> | undefined
  let ended = false
  const deliver = () => {
    while (active !== undefined && buffer.length > 0) {
      const input = buffer.shift()!
      active.unsafeOffer(input)
      if (isQuit(input)) active.unsafeDone(Exit.void)
    }
    if (active !== undefined && ended && buffer.length === 0) active.unsafeDone(Exit.void)
  }
  const terminal = Terminal.Terminal.of({
    columns: Effect.succeed(80),
    rows: Effect.succeed(24),
    isTTY: Effect.succeed(true),
    readInput: Effect.acquireRelease(
      Effect.map(Mailbox.make<Terminal.UserInput>(), (mailbox) => {
        active = mailbox
        deliver()
        return mailbox as Mailbox.ReadonlyMailbox<Terminal.UserInput>
      }),
      (mailbox) =>
        Effect.map((mailbox as Mailbox.Mailbox<Terminal.UserInput>).clear, (rest) => {
          buffer.unshift(...rest)
          active = undefined
        })
    ),
    readLine: Effect.suspend(() => {
      const next = lines.shift()
      return next !== undefined ? Effect.succeed(next) : Effect.fail(new Terminal.QuitException())
    }),
    display: () => Effect.void
  })
  return {
    terminal,
    send: (...inputs: ReadonlyArray<Terminal.UserInput>) =>
      Effect.sync(() => {
        buffer.push(...inputs)
        deliver()
      }),
    end: Effect.sync(() => {
      ended = true
      deliver()
    })
  }
})
