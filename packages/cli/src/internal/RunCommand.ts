/**
 * `deputy run [options] PROMPT`: one turn of a sub-agent (or, with `--interactive`, a session that reads
 * further prompts from stdin until the end of input), its requests answered by a policy file, a person
 * at the terminal, or a flat approve/deny.
 *
 * @since 0.1.0
 */
import type { CodexAgent } from "@deputy/codex"
import { ShellWords } from "@deputy/core"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Agents from "../Agents.js"
import type { ApprovalMode } from "../ApprovalSetup.js"
import { UsageError } from "../Errors.js"
import * as LedgerSetup from "../LedgerSetup.js"
import * as Flags from "./Flags.js"
import * as Launch from "./Launch.js"
import * as Tasks from "./Tasks.js"

/**
 * The options as parsed, before they are checked together.
 *
 * @since 0.1.0
 * @category models
 */
export interface Parsed {
  readonly agent: Option.Option<"codex" | "process">
  readonly agentCommand: Option.Option<string>
  readonly codexHome: Option.Option<string>
  readonly codexBin: Option.Option<string>
  readonly cwd: Option.Option<string>
  readonly sandbox: Option.Option<CodexAgent.SandboxMode>
  readonly model: Option.Option<string>
  readonly interactive: boolean
  /** `--env NAME`, repeated: the parent's variables to pass on (absent: none). @since 0.2.0 */
  readonly env?: ReadonlyArray<string> | undefined
  /** `--inherit-env`: pass the parent's whole environment. @since 0.2.0 */
  readonly inheritEnv?: boolean | undefined
  readonly approval: Option.Option<ApprovalMode>
  readonly policy: Option.Option<string>
  /** `--remember-to FILE`. @since 0.2.0 */
  readonly rememberTo?: Option.Option<string> | undefined
  readonly json: boolean
  readonly drainTimeout: Option.Option<Duration.Duration>
  readonly approvalTimeout: Option.Option<Duration.Duration>
  /** `--turn-timeout` (Codex). @since 0.2.0 */
  readonly turnTimeout?: Option.Option<Duration.Duration> | undefined
  /** `--ledger`: where requests are recorded. @since 0.2.0 */
  readonly ledger?: Option.Option<string> | undefined
  readonly prompt: ReadonlyArray<string>
  /** `--task [NAME=]PROMPT`, repeated: tasks run as siblings. @since 0.2.0 */
  readonly task?: ReadonlyArray<string> | undefined
  /** `--tasks FILE`: a JSON or YAML task list. @since 0.2.0 */
  readonly tasks?: Option.Option<string> | undefined
  /** `--max-concurrent N`: how many tasks run at once (default 4). @since 0.2.0 */
  readonly maxConcurrent?: Option.Option<number> | undefined
  /** `--fail-fast`: stop the other tasks once one does not complete. @since 0.2.0 */
  readonly failFast?: boolean | undefined
}

/**
 * A checked `deputy run`: the agent and the run.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunSettings extends Launch.LaunchOptions {
  readonly agent: Agents.AgentChoice
}

const options = {
  agent: Options.choice("agent", ["codex", "process"]).pipe(
    Options.withDescription(
      "The sub-agent: codex (the Codex CLI through `codex app-server`) or process (a program speaking " +
        "Deputy's JSON-lines protocol, see --agent-command). Default: codex, or process when --agent-command is given."
    ),
    Options.optional
  ),
  agentCommand: Options.text("agent-command").pipe(
    Options.withPseudoName("\"CMD ARGS\""),
    Options.withDescription("The program to run for --agent process, as one shell-quoted string."),
    Options.optional
  ),
  codexHome: Options.text("codex-home").pipe(
    Options.withPseudoName("DIR"),
    Options.withDescription(
      "CODEX_HOME for Codex (its configuration and credentials). Default: $CODEX_HOME, else ~/.codex."
    ),
    Options.optional
  ),
  codexBin: Options.text("codex-bin").pipe(
    Options.withPseudoName("FILE"),
    Options.withDescription(
      "The Codex executable. Default: `codex` on PATH, else the one in the @openai/codex package Deputy depends on."
    ),
    Options.optional
  ),
  // Checked by `settings`, so that its errors name the flag.
  cwd: Options.text("cwd").pipe(
    Options.withPseudoName("DIR"),
    Options.withDescription("The sub-agent's working directory. Default: the current directory."),
    Options.optional
  ),
  env: Options.text("env").pipe(
    Options.withPseudoName("NAME"),
    Options.withDescription("Also pass the parent's variable NAME to the sub-agent (repeatable)."),
    Options.repeated
  ),
  inheritEnv: Options.boolean("inherit-env").pipe(
    Options.withDescription("Pass the parent's whole environment to the sub-agent (secrets included).")
  ),
  sandbox: Options.choice("sandbox", ["read-only", "workspace-write", "danger-full-access"]).pipe(
    Options.withDescription("Codex's sandbox for the commands it runs. Default: workspace-write."),
    Options.optional
  ),
  model: Options.text("model").pipe(
    Options.withPseudoName("NAME"),
    Options.withDescription("The model Codex uses. Default: Codex's configuration."),
    Options.optional
  ),
  interactive: Options.boolean("interactive").pipe(
    Options.withAlias("i"),
    Options.withDescription(
      "Keep the sub-agent open: after each turn, read the next prompt from stdin, until the end of input."
    )
  ),
  approval: Flags.approval,
  policy: Flags.policy,
  rememberTo: Flags.rememberTo,
  json: Flags.json,
  drainTimeout: Flags.drainTimeout,
  approvalTimeout: Flags.approvalTimeout,
  turnTimeout: Flags.turnTimeout,
  task: Flags.task,
  tasks: Flags.tasks,
  maxConcurrent: Flags.maxConcurrent,
  failFast: Flags.failFast,
  ledger: LedgerSetup.option,
  prompt: Args.text({ name: "PROMPT" }).pipe(
    Args.withDescription("What the sub-agent should do (several words are joined with spaces)."),
    Args.repeated
  )
}

const usage = (message: string) => Either.left(new UsageError({ message, command: "run" }))

const variableName = /^[A-Za-z_][A-Za-z0-9_]*$/

/** `--env NAME...` and `--inherit-env`: what the agent's environment gets from the parent's. */
const environment = (
  parsed: Parsed,
  parent: NodeJS.ProcessEnv
): Either.Either<Agents.Environment, UsageError> => {
  const names = parsed.env ?? []
  const bad = names.find((name) => !variableName.test(name))
  if (bad !== undefined) {
    return usage(
      `--env: ${JSON.stringify(bad)} is not a variable name (letters, digits and _, e.g. --env GITHUB_TOKEN)`
    )
  }
  const env: Record<string, string> = {}
  for (const name of names) {
    const value = parent[name]
    if (value !== undefined) env[name] = value
  }
  return Either.right({ env, inheritEnv: parsed.inheritEnv === true })
}

const agentChoice = (parsed: Parsed): Either.Either<Agents.AgentChoice, UsageError> =>
  Either.flatMap(environment(parsed, process.env), (environment) => agentOf(parsed, environment))

const agentOf = (
  parsed: Parsed,
  environment: Agents.Environment
): Either.Either<Agents.AgentChoice, UsageError> => {
  const agent = Option.getOrElse(parsed.agent, () => Option.isSome(parsed.agentCommand) ? "process" : "codex")
  if (agent === "process") {
    const codexOnly = [
      Option.isSome(parsed.codexHome) ? "--codex-home" : undefined,
      Option.isSome(parsed.codexBin) ? "--codex-bin" : undefined,
      Option.isSome(parsed.sandbox) ? "--sandbox" : undefined,
      Option.isSome(parsed.model) ? "--model" : undefined,
      parsed.turnTimeout !== undefined && Option.isSome(parsed.turnTimeout) ? "--turn-timeout" : undefined
    ].filter((flag) => flag !== undefined)
    if (codexOnly.length > 0) return usage(`${codexOnly.join(", ")} only apply to --agent codex`)
    if (Option.isNone(parsed.agentCommand)) {
      return usage("--agent process needs the program to run: --agent-command \"node my-agent.mjs\"")
    }
    const words = ShellWords.split(parsed.agentCommand.value)
    if (!Array.isArray(words)) return usage(`--agent-command cannot be read: ${words.problem}`)
    if (words.length === 0) return usage("--agent-command is empty")
    const [command, ...args] = words
    return Either.right({ _tag: "Process", command, args, ...environment })
  }
  if (Option.isSome(parsed.agentCommand)) {
    return usage("--agent-command is for --agent process (Codex is found on PATH or in the @openai/codex package)")
  }
  return Either.right({
    _tag: "Codex",
    codexHome: Option.getOrUndefined(parsed.codexHome),
    binary: Option.getOrUndefined(parsed.codexBin),
    sandbox: Option.getOrUndefined(parsed.sandbox),
    model: Option.getOrUndefined(parsed.model),
    ...(parsed.turnTimeout !== undefined && Option.isSome(parsed.turnTimeout)
      ? { turnTimeout: parsed.turnTimeout.value }
      : {}),
    ...environment
  })
}

/** `--cwd DIR`: an existing directory, resolved; errors name the flag. */
const workingDirectory = (cwd: Option.Option<string>): Either.Either<string, UsageError> => {
  if (Option.isNone(cwd)) return Either.right(process.cwd())
  const resolved = path.resolve(cwd.value)
  try {
    if (!fs.statSync(resolved).isDirectory()) return usage(`--cwd: ${resolved} is not a directory`)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return usage(
      code === "ENOENT"
        ? `--cwd: ${resolved} does not exist`
        : `--cwd: ${resolved} cannot be used (${code ?? String(error)})`
    )
  }
  return Either.right(resolved)
}

/**
 * Checks the options together.
 *
 * @since 0.1.0
 * @category parsing
 */
export const settings = (parsed: Parsed): Either.Either<RunSettings, UsageError> =>
  Either.flatMap(Either.all([agentChoice(parsed), workingDirectory(parsed.cwd)]), ([agent, cwd]) => {
    const prompt = parsed.prompt.join(" ").trim()
    const common = {
      agent,
      interactive: parsed.interactive,
      cwd,
      source: { other: "deputy run" },
      json: parsed.json,
      approval: parsed.approval,
      policy: parsed.policy,
      rememberTo: parsed.rememberTo ?? Option.none(),
      drainTimeout: parsed.drainTimeout,
      approvalTimeout: parsed.approvalTimeout,
      ledger: parsed.ledger
    }
    const taskFlags = parsed.task ?? []
    const taskFile = parsed.tasks ?? Option.none()
    const maxConcurrent = parsed.maxConcurrent ?? Option.none()
    if (taskFlags.length > 0 || Option.isSome(taskFile)) {
      if (prompt !== "") {
        return usage("give the prompt as a task (--task NAME=PROMPT) or as PROMPT, not both")
      }
      if (parsed.interactive) return usage("--interactive runs one sub-agent; it does not take --task or --tasks")
      return Either.flatMap(taskList(taskFlags, taskFile), (tasks) => {
        if (Option.isSome(maxConcurrent) && !(Number.isInteger(maxConcurrent.value) && maxConcurrent.value >= 1)) {
          return usage(`--max-concurrent: ${maxConcurrent.value} is not a whole number of at least 1`)
        }
        return Either.right({
          ...common,
          input: undefined,
          tree: {
            tasks,
            maxConcurrent: Option.getOrElse(maxConcurrent, () => 4),
            failFast: parsed.failFast === true
          }
        })
      })
    }
    if (Option.isSome(maxConcurrent) || parsed.failFast === true) {
      return usage(
        `${Option.isSome(maxConcurrent) ? "--max-concurrent" : "--fail-fast"} is for several tasks (--task, --tasks)`
      )
    }
    if (prompt === "" && !parsed.interactive) {
      return usage(
        "missing PROMPT: deputy run \"what the sub-agent should do\" (or --interactive to read prompts from stdin)"
      )
    }
    return Either.right({ ...common, input: prompt === "" ? undefined : prompt })
  })

/** `--task` values then the `--tasks` file's (relative to the current directory), named and checked. */
const taskList = (
  flags: ReadonlyArray<string>,
  file: Option.Option<string>
): Either.Either<ReadonlyArray<Tasks.Task>, UsageError> => {
  const fromFile = Option.isSome(file) ? Tasks.readFile(file.value, process.cwd()) : Either.right([])
  return Either.flatMap(fromFile, (listed) => Tasks.resolve([...flags.map(Tasks.parseTaskFlag), ...listed])).pipe(
    Either.mapLeft((problem) => new UsageError({ message: problem.message, command: "run" }))
  )
}

/**
 * The command with a handler for its checked settings (tests give one that records them).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E, R>(handler: (settings: RunSettings) => Effect.Effect<void, E, R>) =>
  Command.make("run", options, (parsed) => Effect.flatMap(settings(parsed), handler)).pipe(
    Command.withDescription(
      "Run a sub-agent on PROMPT and answer its requests (commands, patches, permissions, questions)."
    )
  )

/**
 * Runs `deputy run` for real.
 *
 * @since 0.1.0
 * @category running
 */
export const execute = (settings: RunSettings) => Launch.launch(settings, Agents.layer(durableFor(settings)))

/**
 * With `--approval inbox` (requests wait in the ledger, for answers from anywhere), Codex runs durable: a
 * `deputy` that crashes leaves it waiting, in a 0700 directory under `$DEPUTY_HOME/codex`, for the next
 * `deputy` to reattach.
 */
const durableFor = (settings: RunSettings): Agents.AgentChoice =>
  settings.agent._tag === "Codex" && Option.contains(settings.approval, "inbox") && settings.tree === undefined
    ? { ...settings.agent, durable: { socketDir: path.join(LedgerSetup.home(), "codex") } }
    : settings.agent

/**
 * `deputy run`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = make(execute)
