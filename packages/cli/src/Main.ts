/**
 * The `deputy` program: the command tree, the application layer (provided once, here), error reports
 * and exit codes.
 *
 * @since 0.1.0
 */
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as NodeCommandExecutor from "@effect/platform-node/NodeCommandExecutor"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Terminal from "@effect/platform/Terminal"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Errors from "./Errors.js"
import * as CommandLine from "./internal/commandLine.js"
import * as DemoCommand from "./internal/DemoCommand.js"
import * as LedgerCommands from "./internal/LedgerCommands.js"
import * as LineReader from "./internal/LineReader.js"
import * as RunCommand from "./internal/RunCommand.js"
import * as ServeCommand from "./internal/ServeCommand.js"
import * as Signals from "./internal/Signals.js"
import * as Style from "./internal/Style.js"
import * as Output from "./Output.js"
import * as StdioTerminal from "./StdioTerminal.js"
import { version } from "./Version.js"

/**
 * `deputy` with its subcommands.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("deputy").pipe(
  Command.withDescription("Run AI sub-agents and answer their approval requests."),
  Command.withSubcommands([
    RunCommand.command,
    DemoCommand.command,
    ServeCommand.command,
    LedgerCommands.inbox,
    LedgerCommands.approve,
    LedgerCommands.deny,
    LedgerCommands.answer,
    LedgerCommands.log
  ])
)

/**
 * Runs the command line (`process.argv` form: node, script, arguments...).
 *
 * @since 0.1.0
 * @category running
 */
export const cli = Command.run(command, { name: "deputy", version })

/**
 * Everything the program needs from the platform: files, paths, processes, and the terminal
 * (prompts on stderr), with the built-in options kept out of the help and logs on stderr (stdout is
 * the program's output: `--json` lines there must stay alone).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Layer.mergeAll(
  NodePath.layer,
  NodeCommandExecutor.layer,
  // Prompts of `-i` are read with a bound on the line (LineReader); keys as StdioTerminal reads them.
  Layer.effect(
    Terminal.Terminal,
    Effect.zipWith(
      StdioTerminal.make,
      LineReader.stdin,
      (terminal, readLine) => Terminal.Terminal.of({ ...terminal, readLine })
    )
  ),
  CliConfig.layer({ showBuiltIns: false }),
  Logger.replace(
    Logger.defaultLogger,
    Logger.prettyLogger({ stderr: true, colors: Style.colorFor(process.stderr, process.env) })
  )
).pipe(Layer.provideMerge(NodeFileSystem.layer))

/**
 * The program for a command line: checks it first (an unknown flag, a value outside its choices, a
 * prompt that looks like a flag are usage errors; `--help` is Deputy's own text), then parses and runs
 * it; reports errors as advice on stderr (`deputy: ...`), strips styles from output that is not a
 * terminal, and watches Ctrl-C.
 *
 * @since 0.1.0
 * @category running
 */
export const program = (argv: ReadonlyArray<string>, received: Signals.Received) =>
  Effect.gen(function*() {
    const checked = CommandLine.check(argv.slice(2))
    switch (checked._tag) {
      case "Help":
        return yield* Console.log(checked.text)
      case "Version":
        return yield* Console.log(version)
      case "Invalid":
        return yield* new Errors.UsageError({ message: checked.message, command: checked.command })
    }
    yield* Signals.watch(received)
    yield* Output.watchStreams
    // A reader of stdout that goes away stops the run (its finalizers run: the sub-agent is shut down),
    // and the program fails with exit code 141; so does one that does not take the last record.
    const run = yield* Effect.forkScoped(cli([...argv.slice(0, 2), ...CommandLine.splitValues(argv.slice(2))]))
    yield* Effect.forkScoped(Effect.zipRight(Effect.ignore(Output.stdoutFailure), Fiber.interrupt(run)))
    const exit = yield* Fiber.await(run)
    yield* Output.stdoutFlushed
    return yield* exit
  }).pipe(
    Effect.scoped,
    Effect.tapErrorCause((cause) =>
      Effect.sync(() => {
        if (Cause.isInterruptedOnly(cause)) return
        const failure = Cause.failureOption(cause)
        const message = failure._tag === "Some"
          ? Errors.report(failure.value).message
          : `internal error (please report it):\n${Cause.pretty(cause)}`
        if (message !== undefined) process.stderr.write(`deputy: ${message}\n`)
      })
    ),
    (effect) =>
      Effect.consoleWith((console) =>
        Effect.withConsole(
          effect,
          Style.console(console, {
            stdout: Style.colorFor(process.stdout, process.env),
            stderr: Style.colorFor(process.stderr, process.env)
          })
        )
      ),
    Effect.provide(layer)
  )

/**
 * Runs `deputy` and exits with its exit code.
 *
 * @since 0.1.0
 * @category running
 */
export const main = (argv: ReadonlyArray<string>): void => {
  const received: Signals.Received = { signal: undefined }
  NodeRuntime.runMain(program(argv, received), {
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) => onExit(Errors.exitCodeOf(exit, received.signal))
  })
}
