/**
 * The options `deputy run` and `deputy demo` share: how requests are answered, the output format and
 * the time limits.
 *
 * @since 0.1.0
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ApprovalMode } from "../ApprovalSetup.js"

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * Reads a duration: `500ms`, `30s`, `1.5m`, `1h`, a bare number of seconds, or Effect's own form
 * (`5 seconds`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseDuration = (text: string): Option.Option<Duration.Duration> => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text)
  if (match) return Option.some(Duration.millis(Number(match[1]) * units[match[2] ?? "s"]))
  return Duration.decodeUnknown(text.trim())
}

const duration = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("DURATION"),
    Options.withDescription(description),
    Options.mapEffect((text) =>
      Option.match(parseDuration(text), {
        onNone: () =>
          Effect.fail(
            ValidationError.invalidValue(
              HelpDoc.p(`--${name}: "${text}" is not a duration; write e.g. 500ms, 30s, 2m or 1h`)
            )
          ),
        onSome: Effect.succeed
      })
    ),
    Options.optional
  )

/**
 * `--approval ask|approve|deny`.
 *
 * @since 0.1.0
 * @category options
 */
export const approval: Options.Options<Option.Option<ApprovalMode>> = Options.choice("approval", [
  "ask",
  "approve",
  "deny",
  "inbox"
]).pipe(
  Options.withDescription(
    "How to answer what no policy rule decides: ask (a prompt on the terminal), approve, deny, " +
      "inbox (wait in the approval ledger for `deputy approve|deny ID`). " +
      "Default: ask on a terminal, deny without one (fail closed)."
  ),
  Options.optional
)

/**
 * `--remember-to FILE`: where a rule accepted at the prompt ("approve and remember") is also written.
 *
 * @since 0.2.0
 * @category options
 */
export const rememberTo: Options.Options<Option.Option<string>> = Options.text("remember-to").pipe(
  Options.withPseudoName("FILE"),
  Options.withDescription(
    "Also append each rule accepted with \"approve and remember\" (r/h/b at a prompt) to this policy file " +
      "(created if missing; written atomically; a symlink, another user's file or a file with comments is " +
      "refused). Without it, remembered rules last for the run."
  ),
  Options.optional
)

/**
 * `--policy FILE`.
 *
 * @since 0.1.0
 * @category options
 */
export const policy: Options.Options<Option.Option<string>> = Options.text("policy").pipe(
  Options.withPseudoName("FILE"),
  Options.withDescription(
    "Ordered rules (JSON with comments) that approve, deny or ask about commands by prefix and patches by " +
      "path glob, before --approval applies. See examples/policy.json."
  ),
  Options.optional
)

/**
 * `--json`.
 *
 * @since 0.1.0
 * @category options
 */
export const json: Options.Options<boolean> = Options.boolean("json").pipe(
  Options.withDescription(
    "One JSON object per line on stdout: protocol events {\"id\",\"msg\"}, {\"deputy\":\"approval\",...} per " +
      "request, and a last {\"deputy\":\"ended\",...}."
  )
)

/**
 * `--drain-timeout DURATION`.
 *
 * @since 0.1.0
 * @category options
 */
export const drainTimeout: Options.Options<Option.Option<Duration.Duration>> = duration(
  "drain-timeout",
  "How long the sub-agent gets to acknowledge the end (after its turn, an interrupt or Ctrl-C) before it is " +
    "stopped. Default: 500ms."
)

/**
 * `--turn-timeout DURATION` (Codex): how long a turn may wait on the model without progress.
 *
 * @since 0.2.0
 * @category options
 */
export const turnTimeout: Options.Options<Option.Option<Duration.Duration>> = duration(
  "turn-timeout",
  "How long a Codex turn may wait on the model without progress (a stalled stream, no network) before it " +
    "is stopped with an error. Default: 3m."
)

/**
 * `--approval-timeout DURATION`.
 *
 * @since 0.1.0
 * @category options
 */
export const approvalTimeout: Options.Options<Option.Option<Duration.Duration>> = duration(
  "approval-timeout",
  "How long a request may wait for an answer; then it is answered as timed out (denied). Default: no limit."
)

/**
 * `--task [NAME=]PROMPT`, repeatable: one sibling task each.
 *
 * @since 0.2.0
 * @category options
 */
export const task: Options.Options<ReadonlyArray<string>> = Options.text("task").pipe(
  Options.withPseudoName("[NAME=]PROMPT"),
  Options.withDescription(
    "A task to run as a sibling of the others (repeatable): NAME=PROMPT names it (its lines are prefixed " +
      "with NAME), a bare PROMPT is named task-N."
  ),
  Options.repeated
)

/**
 * `--tasks FILE`: a JSON or YAML task list.
 *
 * @since 0.2.0
 * @category options
 */
export const tasks: Options.Options<Option.Option<string>> = Options.text("tasks").pipe(
  Options.withPseudoName("FILE"),
  Options.withDescription(
    "Tasks from a JSON or YAML file: a list of {name, prompt} (or {tasks: [...]}, or a map NAME: PROMPT)."
  ),
  Options.optional
)

/**
 * `--max-concurrent N`: how many tasks run at once.
 *
 * @since 0.2.0
 * @category options
 */
export const maxConcurrent: Options.Options<Option.Option<number>> = Options.integer("max-concurrent").pipe(
  Options.withPseudoName("N"),
  Options.withDescription("How many tasks run at once; the others wait in order. Default: 4."),
  Options.optional
)

/**
 * `--fail-fast`: stop the other tasks when one does not complete.
 *
 * @since 0.2.0
 * @category options
 */
export const failFast: Options.Options<boolean> = Options.boolean("fail-fast").pipe(
  Options.withDescription("Stop the other tasks as soon as one fails (default: the others continue).")
)
