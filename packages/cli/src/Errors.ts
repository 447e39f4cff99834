/**
 * The CLI's own errors, and the exit code of every way the program can end.
 *
 * @since 0.1.0
 */
import { Errors } from "@deputy/core"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { seeHelp } from "./internal/commandLine.js"
import { OutputClosed } from "./Output.js"
import { PolicyFileError } from "./PolicyFile.js"

/**
 * The command line is wrong in a way the parser cannot see (options that do not go together, a missing
 * prompt). Exit code 2.
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageError extends Data.TaggedError("UsageError")<{
  readonly message: string
  /** The command whose help the advice points to (`run`, `demo`); absent: `deputy --help`. @since 0.2.0 */
  readonly command?: string | undefined
}> {}

/**
 * The run ended without success; everything about it was already reported. Carries the exit code.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunFailed extends Data.TaggedError("RunFailed")<{ readonly exitCode: number }> {}

/**
 * Exit codes: 0 completed, 1 the sub-agent failed or exited (or could not start), 2 usage error, 130
 * interrupted (Ctrl-C; 143 after SIGTERM, 129 after SIGHUP: 128 + the signal's number), 141 stdout's
 * reader went away before the run ended (EPIPE; the sub-agent was stopped).
 *
 * @since 0.1.0
 * @category exit codes
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  interrupted: 130,
  /** stdout's reader went away before the run ended (128 + SIGPIPE). @since 0.2.0 */
  outputClosed: 141,
  signalled: { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }
} as const

/**
 * What to print for an error before exiting (`undefined`: it was already shown), and the exit code.
 *
 * @since 0.1.0
 * @category exit codes
 */
export const report = (error: unknown): { readonly message: string | undefined; readonly exitCode: number } => {
  if (error instanceof RunFailed) return { message: undefined, exitCode: error.exitCode }
  if (error instanceof UsageError) {
    return { message: `${error.message}\n${seeHelp(error.command)}`, exitCode: ExitCode.usage }
  }
  if (error instanceof PolicyFileError) return { message: error.message, exitCode: ExitCode.usage }
  // @effect/cli has printed its validation errors already.
  if (ValidationError.isValidationError(error)) return { message: undefined, exitCode: ExitCode.usage }
  if (error instanceof Errors.SpawnError) return { message: error.message, exitCode: ExitCode.failed }
  if (error instanceof OutputClosed) return { message: error.message, exitCode: ExitCode.outputClosed }
  return { message: error instanceof Error ? error.message : String(error), exitCode: ExitCode.failed }
}

/**
 * The exit code of the program's end: success 0; interrupted 130 (143 after SIGTERM, 129 after SIGHUP); a
 * failure the code `report` gives it; a defect 1.
 *
 * @since 0.1.0
 * @category exit codes
 */
export const exitCodeOf = (
  exit: Exit.Exit<unknown, unknown>,
  signal: keyof typeof ExitCode.signalled | undefined
): number => {
  if (Exit.isSuccess(exit)) return ExitCode.ok
  if (Cause.isInterruptedOnly(exit.cause)) {
    return signal === undefined
      ? ExitCode.interrupted
      : ExitCode.signalled[signal]
  }
  return Option.match(Cause.failureOption(exit.cause), {
    onNone: () => ExitCode.failed,
    onSome: (error) => report(error).exitCode
  })
}
