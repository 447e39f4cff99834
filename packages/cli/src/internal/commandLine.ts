/**
 * The command line before `@effect/cli` reads it: every flag `deputy` knows, checked strictly (an unknown
 * flag is an error with a suggestion, never part of the prompt; a value outside its choices names the
 * flag and the choices; a prompt that begins with `-` goes after `--`), and the help for people, written
 * from the same table. It imports nothing, so `deputy --help` does not load the program.
 *
 * @since 0.2.0
 */

/**
 * A flag: its name, its value's placeholder (none: a switch), the values it takes, what it does, its
 * default, and the group it is listed under in the help.
 *
 * @since 0.2.0
 * @category models
 */
export interface Flag {
  readonly name: string
  readonly alias?: string
  readonly value?: string
  readonly choices?: ReadonlyArray<string>
  readonly repeatable?: boolean
  readonly description: string
  readonly group: string
}

/**
 * A command: its usage line, what it does, its flags, what its positional arguments are, and examples.
 *
 * @since 0.2.0
 * @category models
 */
export interface CommandSpec {
  readonly name: string
  readonly usage: string
  readonly summary: string
  readonly flags: ReadonlyArray<Flag>
  /** The positional arguments' name (e.g. `PROMPT`); absent: the command takes none. */
  readonly positional?: string
  readonly sections: ReadonlyArray<readonly [title: string, lines: ReadonlyArray<string>]>
}

const help: Flag = { name: "help", alias: "h", description: "Show this help", group: "OTHER FLAGS" }

const approvalFlags: ReadonlyArray<Flag> = [
  {
    name: "policy",
    value: "FILE",
    description: "Ordered rules (JSON with comments) that decide first; see examples/policy.json",
    group: "APPROVAL FLAGS"
  },
  {
    name: "approval",
    value: "MODE",
    choices: ["ask", "approve", "deny", "inbox"],
    description:
      "What no policy rule decides: ask | approve | deny | inbox (deputy approve/deny) (default: ask on a terminal, else deny)",
    group: "APPROVAL FLAGS"
  },
  {
    name: "approval-timeout",
    value: "DURATION",
    description: "Settle an unanswered request as timed_out (declined), e.g. 30s (default: no limit)",
    group: "APPROVAL FLAGS"
  },
  // ledger-cli: where requests are recorded (see ledgerCommands below)
  {
    name: "ledger",
    value: "LEDGER",
    description: "Record requests in sqlite:PATH | postgres:URL | off (default: $DEPUTY_HOME/ledger.db, ~/.deputy)",
    group: "APPROVAL FLAGS"
  },
  {
    name: "json",
    description: "JSON lines on stdout: events {\"id\",\"msg\"} and {\"deputy\":...} records (default: text)",
    group: "OUTPUT FLAGS"
  },
  {
    name: "drain-timeout",
    value: "DURATION",
    description: "How long the sub-agent gets to stop after its turn or Ctrl-C (default: 500ms)",
    group: "OUTPUT FLAGS"
  }
]

const exitCodes: readonly [string, ReadonlyArray<string>] = [
  "EXIT CODES",
  [
    "0    the run completed",
    "1    the sub-agent failed, aborted, exited, or could not start (Codex without credentials: `codex login`)",
    "2    usage error (an unknown flag, a bad value, a bad policy file)",
    "130  interrupted (Ctrl-C); 143 after SIGTERM, 129 after SIGHUP",
    "141  stdout's reader went away before the run ended (EPIPE); the sub-agent was stopped"
  ]
]

/**
 * `deputy`, `deputy run` and `deputy demo`.
 *
 * @since 0.2.0
 * @category specs
 */
export const commands = {
  deputy: {
    name: "deputy",
    usage: "deputy <command> [flags]",
    summary: "Run AI sub-agents and answer their approval requests.",
    flags: [help, { name: "version", description: "Show the version", group: "OTHER FLAGS" }],
    sections: [
      ["COMMANDS", [
        "run      Run a sub-agent on a prompt (or several, --task) and answer its requests",
        "demo     Watch a sub-agent ask for approvals, offline (the real Codex, a scripted model)",
        "serve    Answer sub-agents' requests in a browser (127.0.0.1, a token in the URL)",
        "inbox    List the requests waiting in the ledger (--approval inbox)",
        "approve  Approve a waiting request (the waiting sub-agent receives it)",
        "deny     Deny a waiting request",
        "answer   Answer a waiting MCP form or question (--field NAME=VALUE, --data JSON)",
        "log      Every request and who decided it; --verify checks the hash chain"
      ]],
      ["EXAMPLES", [
        "$ deputy demo",
        "$ deputy run \"fix the failing test in src/parse.ts\"",
        "$ deputy run --policy rules.json --json \"update the changelog\" > run.jsonl",
        "$ deputy run --agent-command \"node my-agent.mjs\" --approval deny \"try it\""
      ]],
      ["LEARN MORE", ["Use `deputy <command> --help` for the flags of a command."]]
    ]
  },
  run: {
    name: "run",
    usage: "deputy run [flags] [--] PROMPT...",
    summary: "Run a sub-agent on PROMPT and answer its requests (commands, patches, permissions, questions).",
    positional: "PROMPT",
    flags: [
      {
        name: "agent",
        value: "AGENT",
        choices: ["codex", "process"],
        description: "codex | process (default: codex; process when --agent-command is given)",
        group: "AGENT FLAGS"
      },
      {
        name: "agent-command",
        value: "\"CMD ARGS\"",
        description: "The program for --agent process, as one shell-quoted string",
        group: "AGENT FLAGS"
      },
      {
        name: "cwd",
        value: "DIR",
        description: "The sub-agent's working directory (default: the current directory)",
        group: "AGENT FLAGS"
      },
      {
        name: "env",
        value: "NAME",
        repeatable: true,
        description: "Also pass the parent's NAME to the sub-agent; repeatable (default: an allow-list)",
        group: "AGENT FLAGS"
      },
      {
        name: "inherit-env",
        description: "Pass the parent's whole environment to the sub-agent (secrets included)",
        group: "AGENT FLAGS"
      },
      {
        name: "interactive",
        alias: "i",
        description: "After each turn, read the next prompt from stdin, until its end",
        group: "AGENT FLAGS"
      },
      // tree-cli: several tasks as siblings
      {
        name: "task",
        value: "[NAME=]PROMPT",
        repeatable: true,
        description: "A task run as a sibling of the others; repeatable; lines prefixed with NAME (default: task-N)",
        group: "TASK FLAGS"
      },
      {
        name: "tasks",
        value: "FILE",
        description: "Tasks from a JSON or YAML file: [{name, prompt}...], {tasks: [...]} or {NAME: PROMPT}",
        group: "TASK FLAGS"
      },
      {
        name: "max-concurrent",
        value: "N",
        description: "How many tasks run at once; the others wait in order (default: 4)",
        group: "TASK FLAGS"
      },
      {
        name: "fail-fast",
        description: "Stop the other tasks as soon as one fails (default: the others continue)",
        group: "TASK FLAGS"
      },
      {
        name: "codex-bin",
        value: "FILE",
        description: "The Codex executable (default: codex on PATH, else the bundled one)",
        group: "CODEX FLAGS"
      },
      {
        name: "codex-home",
        value: "DIR",
        description: "CODEX_HOME: Codex's configuration and credentials (default: $CODEX_HOME, ~/.codex)",
        group: "CODEX FLAGS"
      },
      {
        name: "model",
        value: "NAME",
        description: "The model Codex uses (default: Codex's configuration)",
        group: "CODEX FLAGS"
      },
      {
        name: "sandbox",
        value: "MODE",
        choices: ["read-only", "workspace-write", "danger-full-access"],
        description: "read-only | workspace-write | danger-full-access (default: workspace-write)",
        group: "CODEX FLAGS"
      },
      {
        name: "turn-timeout",
        value: "DURATION",
        description: "Stop a turn that waits on the model this long without progress, with an error (default: 3m)",
        group: "CODEX FLAGS"
      },
      ...approvalFlags,
      {
        name: "remember-to",
        value: "FILE",
        description:
          "Also append each rule accepted with \"approve and remember\" to this policy file (default: the run only)",
        group: "APPROVAL FLAGS"
      },
      help
    ],
    sections: [
      ["EXAMPLES", [
        "$ deputy run \"add a --verbose flag to the CLI\"",
        "$ deputy run --policy rules.json --approval deny \"run the tests and fix what fails\"",
        "$ deputy run --json --approval approve --cwd ./scratch \"tidy up\" | jq .deputy",
        "$ deputy run --agent-command \"node my-agent.mjs\" --env GITHUB_TOKEN \"open the PR\"",
        "$ deputy run --task review=\"review src/\" --task tests=\"fix the tests\"  # siblings, one receipt",
        "$ deputy run -i                      # a session: one prompt per line on stdin",
        "$ deputy run -- \"-v is the flag to add\"  # a PROMPT that begins with -"
      ]],
      exitCodes
    ]
  },
  demo: {
    name: "demo",
    usage: "deputy demo [flags]",
    summary:
      "Watch a sub-agent ask for approvals, offline: the real Codex against a scripted model, in a temporary directory (removed afterwards).",
    flags: [...approvalFlags, help],
    sections: [
      ["EXAMPLES", [
        "$ deputy demo",
        "$ deputy demo --approval approve --json",
        "$ deputy demo --policy examples/policy.json"
      ]],
      exitCodes
    ]
  }
} as const satisfies Record<string, CommandSpec>

// ---- ledger-cli: `deputy inbox`, `approve`, `deny`, `answer`, `log` --------------------------------------
const ledgerFlag: Flag = {
  name: "ledger",
  value: "LEDGER",
  description: "sqlite:PATH | postgres:URL (default: $DEPUTY_HOME/ledger.db, else ~/.deputy/ledger.db)",
  group: "LEDGER FLAGS"
}
const ledgerJson = (what: string): Flag => ({ name: "json", description: what, group: "OUTPUT FLAGS" })
const ledgerExitCodes: readonly [string, ReadonlyArray<string>] = [
  "EXIT CODES",
  [
    "0    done",
    "1    the ledger cannot be used, or (approve/deny/answer) the request is already settled, late or unknown",
    "2    usage error",
    "3    (log --verify) the hash chain is broken",
    "4    (log --verify) the chain holds but disagrees with its anchor: entries were removed from its end",
    "5    (approve/deny/answer) the answer does not fit the request; nothing was recorded, it still waits"
  ]
]
const asFlag: Flag = { name: "as", value: "NAME", description: "Who decides (default: $USER)", group: "ANSWER FLAGS" }
const persistFlag: Flag = {
  name: "persist",
  value: "CHOICE",
  choices: ["session", "always"],
  description: "session | always: remember an MCP tool-call approval (a choice it offers)",
  group: "ANSWER FLAGS"
}

/**
 * `deputy inbox`, `deputy approve`, `deputy deny`, `deputy answer` and `deputy log`: the approval ledger.
 *
 * @since 0.2.0
 * @category specs
 */
export const ledgerCommands = {
  inbox: {
    name: "inbox",
    usage: "deputy inbox [flags]",
    summary: "List the requests waiting for an answer, from every Deputy process sharing the ledger.",
    flags: [ledgerJson("One JSON object per pending request, one a line"), ledgerFlag, help],
    sections: [
      ["EXAMPLES", [
        "$ deputy run --approval inbox \"run the tests\" &   # requests wait in the ledger",
        "$ deputy inbox",
        "$ deputy inbox --json | jq -r .id"
      ]],
      ledgerExitCodes
    ]
  },
  approve: {
    name: "approve",
    usage: "deputy approve [flags] ID",
    summary: "Approve a pending request (its ID from deputy inbox); the waiting sub-agent receives it.",
    positional: "ID",
    flags: [
      { name: "for-session", description: "Approve this command for the rest of the session", group: "ANSWER FLAGS" },
      persistFlag,
      asFlag,
      ledgerJson("The settlement as one JSON object"),
      ledgerFlag,
      help
    ],
    sections: [["EXAMPLES", [
      "$ deputy approve 01J...Z/command/call-1",
      "$ deputy approve --persist session '01J...Z/elicitation/files#7'   # an MCP tool call, for the session"
    ]], ledgerExitCodes]
  },
  deny: {
    name: "deny",
    usage: "deputy deny [flags] ID",
    summary: "Deny a pending request (its ID from deputy inbox); the waiting sub-agent receives it.",
    positional: "ID",
    flags: [
      { name: "reason", value: "TEXT", description: "Why (recorded in the ledger)", group: "ANSWER FLAGS" },
      { name: "as", value: "NAME", description: "Who decides (default: $USER)", group: "ANSWER FLAGS" },
      ledgerJson("The settlement as one JSON object"),
      ledgerFlag,
      help
    ],
    sections: [["EXAMPLES", ["$ deputy deny 01J...Z/command/call-1 --reason \"not on main\""]], ledgerExitCodes]
  },
  answer: {
    name: "answer",
    usage: "deputy answer [flags] ID",
    summary: "Answer a pending MCP elicitation (a form, a tool call, a URL) or a sub-agent's questions; " +
      "the answer is checked against the request, and the waiting sub-agent receives exactly it.",
    positional: "ID",
    flags: [
      {
        name: "field",
        value: "NAME=VALUE",
        repeatable: true,
        description: "A form field, or a question's answer by its id (an option's label or number); repeatable. " +
          "Other users see it in the process list: give secrets with --data -",
        group: "ANSWER FLAGS"
      },
      {
        name: "data",
        value: "JSON",
        description: "The form's content ({\"name\": value}) or the answers ({\"id\": \"text\"}); - reads stdin " +
          "(kept out of the process list)",
        group: "ANSWER FLAGS"
      },
      { name: "decline", description: "Decline it (a question: send no answers)", group: "ANSWER FLAGS" },
      { name: "cancel", description: "Cancel an MCP elicitation", group: "ANSWER FLAGS" },
      persistFlag,
      asFlag,
      ledgerJson("The settlement as one JSON object"),
      ledgerFlag,
      help
    ],
    sections: [["EXAMPLES", [
      "$ deputy inbox --json | jq .accepts        # what each request takes",
      "$ deputy answer '01J...Z/elicitation/files#7' --field path=src/main.ts --field overwrite=true",
      "$ deputy answer '01J...Z/elicitation/files#7' --data '{\"path\": \"src/main.ts\"}'",
      "$ deputy answer 01J...Z/user_input/call-2 --field q1=\"yes, go on\"",
      "$ deputy answer '01J...Z/elicitation/files#7' --decline"
    ]], ledgerExitCodes]
  },
  log: {
    name: "log",
    usage: "deputy log [flags]",
    summary: "Show the ledger: every request and how it settled, who decided, when; --verify checks the chain.",
    flags: [
      { name: "delegate", value: "ID", description: "Only this delegate's requests", group: "FILTER FLAGS" },
      {
        name: "kind",
        value: "KIND",
        choices: ["command", "patch", "permissions", "user_input", "elicitation"],
        description: "command | patch | permissions | user_input | elicitation",
        group: "FILTER FLAGS"
      },
      {
        name: "outcome",
        value: "OUTCOME",
        description: "approved | approved_for_session | denied | aborted | timed_out | lost | pending",
        group: "FILTER FLAGS"
      },
      {
        name: "decided-by",
        value: "WHO",
        description: "Person | PolicyRule | Fixed | Default | Deadline | Cancelled | InboxClient | ...",
        group: "FILTER FLAGS"
      },
      {
        name: "since",
        value: "TIME",
        description: "From this time: ISO 8601, or a duration ago (2h)",
        group: "FILTER FLAGS"
      },
      {
        name: "until",
        value: "TIME",
        description: "Up to this time: ISO 8601, or a duration ago",
        group: "FILTER FLAGS"
      },
      { name: "limit", value: "N", description: "At most the last N entries (default: all)", group: "FILTER FLAGS" },
      {
        name: "verify",
        description: "Check the hash chain (exit 3 if broken) and its anchor (exit 4 if truncated)",
        group: "OUTPUT FLAGS"
      },
      ledgerJson("One JSON object per entry, one a line"),
      ledgerFlag,
      help
    ],
    sections: [
      ["EXAMPLES", [
        "$ deputy log",
        "$ deputy log --outcome denied --since 1h",
        "$ deputy log --decided-by Person --json | jq .",
        "$ deputy log --verify"
      ]],
      ledgerExitCodes
    ]
  }
} as const satisfies Record<string, CommandSpec>
// ---- end ledger-cli -------------------------------------------------------------------------------------

/**
 * `deputy serve` (`@deputy/web`): its own flags and `deputy run`'s agent flags.
 *
 * @since 0.2.0
 * @category specs
 */
export const serve: CommandSpec = {
  name: "serve",
  usage: "deputy serve [--task PROMPT]... [--ledger LEDGER] [--port N] [flags]",
  summary:
    "The approval inbox in a browser: prints one URL (127.0.0.1, a fresh token); runs each --task as a sub-agent and answers its requests on the page, until Ctrl-C. Without --task: every Deputy process's pending requests in the ledger.",
  flags: [
    {
      name: "task",
      value: "PROMPT",
      repeatable: true,
      description: "Run a sub-agent on PROMPT; repeatable, one node each (default: none, just serve)",
      group: "SERVE FLAGS"
    },
    { name: "port", value: "N", description: "The port on 127.0.0.1 (default: a free one)", group: "SERVE FLAGS" },
    {
      name: "ledger",
      value: "LEDGER",
      description:
        "Without --task: serve the pending requests of every Deputy process sharing this ledger, sqlite:PATH or postgres:URL (default: $DEPUTY_HOME/ledger.db, else ~/.deputy/ledger.db)",
      group: "SERVE FLAGS"
    },
    {
      name: "max-concurrent",
      value: "N",
      description: "How many tasks run at once; the others wait in order, shown queued (default: 4)",
      group: "SERVE FLAGS"
    },
    ...commands.run.flags.filter((flag) =>
      flag.group === "AGENT FLAGS" && flag.name !== "interactive" || flag.group === "CODEX FLAGS"
    ),
    help
  ],
  sections: [
    ["EXAMPLES", [
      "$ deputy serve --task \"fix the failing test\" --task \"update the changelog\"",
      "$ deputy serve --port 8765 --agent-command \"node my-agent.mjs\" --task \"try it\"",
      "$ deputy serve --ledger postgres://deputy@db.internal/deputy"
    ]]
  ]
}

/**
 * The arguments with each `--flag=value` of a flag that takes a value written as two words, `--flag value`,
 * up to `--`. `@effect/cli` 0.77 reads `--flag=value` for a single option but not for a repeated one
 * (`--task=...`, `--env=...`), which would silently become words of the prompt.
 *
 * @since 0.2.0
 * @category parsing
 */
export const splitValues = (args: ReadonlyArray<string>): Array<string> => {
  const spec: CommandSpec | undefined = args[0] === "run"
    ? commands.run
    : args[0] === "demo"
    ? commands.demo
    : args[0] === "serve"
    ? serve
    : undefined
  if (spec === undefined) return [...args]
  const takesValue = new Set(spec.flags.filter((flag) => flag.value !== undefined).map((flag) => flag.name))
  const out: Array<string> = []
  for (let index = 0; index < args.length; index++) {
    const token = args[index]
    if (token === "--") return [...out, ...args.slice(index)]
    const equals = token.indexOf("=")
    if (index > 0 && token.startsWith("--") && equals > 2 && takesValue.has(token.slice(2, equals))) {
      out.push(token.slice(0, equals), token.slice(equals + 1))
    } else {
      out.push(token)
    }
  }
  return out
}

/**
 * The help of a command, for people: usage, flags by group (one line each: what it does and its default),
 * examples.
 *
 * @since 0.2.0
 * @category help
 */
export const helpText = (spec: CommandSpec): string => {
  const label = (flag: Flag) =>
    `${flag.alias === undefined ? "    " : `-${flag.alias}, `}--${flag.name}${
      flag.value === undefined ? "" : ` ${flag.value}`
    }`
  const width = Math.max(...spec.flags.map((flag) => label(flag).length))
  const groups = new Map<string, Array<string>>()
  for (const flag of spec.flags) {
    const lines = groups.get(flag.group) ?? []
    lines.push(`${label(flag).padEnd(width)}  ${flag.description}`)
    groups.set(flag.group, lines)
  }
  const sections: Array<readonly [string, ReadonlyArray<string>]> = [["USAGE", [spec.usage]]]
  const [first, ...rest] = spec.sections
  if (spec.name === "deputy" && first !== undefined) sections.push(first)
  sections.push(...groups.entries())
  sections.push(...(spec.name === "deputy" ? rest : spec.sections))
  return [
    spec.summary,
    "",
    ...sections.flatMap(([title, lines]) => [title, ...lines.map((line) => `  ${line}`), ""])
  ].join("\n")
}

/**
 * What the command line asks for: help (its text), the version, an error (its message, for exit code 2),
 * or a run for `@effect/cli` to parse (the flags are all known and their choices valid).
 *
 * @since 0.2.0
 * @category models
 */
export type Checked =
  | { readonly _tag: "Help"; readonly text: string }
  | { readonly _tag: "Version" }
  | { readonly _tag: "Invalid"; readonly message: string; readonly command?: string | undefined }
  | { readonly _tag: "Valid" }

/** Edits between two words (insert, delete, replace, swap two neighbours). */
const distance = (a: string, b: string): number => {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i + j))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
      }
    }
  }
  return d[a.length][b.length]
}

/** The closest of `names` to `name`, if one is close enough to be a typo. */
const closest = (name: string, names: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of names) {
    const d = distance(name, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  const prefix = names.find((candidate) => candidate.startsWith(name) && name.length >= 2)
  if (bestDistance <= Math.max(1, Math.floor(name.length / 3))) return best
  return prefix
}

/** A token as the person typed it, quoted for an error message (controls shown as escapes). */
const shown = (text: string) => JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)

const invalid = (message: string, command?: string): Checked => ({ _tag: "Invalid", message, command })

const checkCommand = (spec: CommandSpec, args: ReadonlyArray<string>): Checked => {
  const byName = new Map(spec.flags.map((flag) => [flag.name, flag]))
  const byAlias = new Map(spec.flags.flatMap((flag) => flag.alias === undefined ? [] : [[flag.alias, flag]]))
  const seen = new Set<string>()
  const where = `deputy ${spec.name}`
  const fail = (message: string) => invalid(message, spec.name)
  for (let index = 0; index < args.length; index++) {
    const token = args[index]
    if (token === "--") {
      if (spec.positional === undefined && index + 1 < args.length) {
        return fail(`${where} takes no arguments (got ${shown(args[index + 1])})`)
      }
      break
    }
    if (!token.startsWith("-") || token === "-") {
      if (spec.positional === undefined) return fail(`${where} takes no arguments (got ${shown(token)})`)
      continue
    }
    const long = token.startsWith("--")
    const equals = token.indexOf("=")
    const name = long ? token.slice(2, equals === -1 ? undefined : equals) : token.slice(1)
    const flag = long ? byName.get(name) : byAlias.get(name)
    if (flag === undefined) {
      const names = spec.flags.map((known) => known.name)
      const suggestion = closest(long ? name : name.replace(/^-+/, ""), names)
      const hint = suggestion !== undefined
        ? `; did you mean --${suggestion}?`
        : spec.positional !== undefined
        ? `; a ${spec.positional} that begins with "-" goes after "--": deputy ${spec.name} -- ${shown(token)}`
        : ""
      return fail(`unknown flag ${shown(token).slice(1, -1)} for ${where}${hint}`)
    }
    if (flag.name === "help") return { _tag: "Help", text: helpText(spec) }
    if (seen.has(flag.name) && flag.repeatable !== true) return fail(`--${flag.name} is given more than once`)
    seen.add(flag.name)
    if (flag.value === undefined) {
      if (long && equals !== -1) return fail(`--${flag.name} is a switch; it takes no value`)
      continue
    }
    let value: string | undefined
    if (long && equals !== -1) value = token.slice(equals + 1)
    else {
      value = args[index + 1]
      index++
    }
    if (value === undefined) return fail(`--${flag.name} needs a value: --${flag.name} ${flag.value}`)
    if (flag.choices !== undefined && !flag.choices.includes(value)) {
      return fail(`--${flag.name}: ${shown(value)} is not one of ${flag.choices.join(", ")}`)
    }
  }
  return { _tag: "Valid" }
}

/**
 * The advice after a usage error: where the help is.
 *
 * @since 0.2.0
 * @category help
 */
export const seeHelp = (command?: string | undefined): string =>
  `See \`deputy${command === undefined ? "" : ` ${command}`} --help\`.`

/**
 * Checks a command line (the arguments after the program's name) against the flags of its command.
 *
 * @since 0.2.0
 * @category checking
 */
export const check = (args: ReadonlyArray<string>): Checked => {
  const [first, ...rest] = args
  if (first === undefined || first === "--help" || first === "-h") {
    return { _tag: "Help", text: helpText(commands.deputy) }
  }
  if (first === "--version") return { _tag: "Version" }
  if (first === "run") return checkCommand(commands.run, rest)
  if (first === "demo") return checkCommand(commands.demo, rest)
  if (first === "serve") return checkCommand(serve, rest)
  if (Object.hasOwn(ledgerCommands, first)) {
    return checkCommand(ledgerCommands[first as keyof typeof ledgerCommands], rest)
  }
  if (first.startsWith("-")) {
    const suggestion = closest(first.replace(/^-+/, ""), ["help", "version"])
    return invalid(
      `unknown flag ${shown(first).slice(1, -1)} for deputy${
        suggestion === undefined ? "; flags go after the command: deputy run --help" : `; did you mean --${suggestion}?`
      }`
    )
  }
  const suggestion = closest(first, ["run", "demo", "serve", ...Object.keys(ledgerCommands)])
  return invalid(
    `unknown command ${shown(first)}${
      suggestion === undefined
        ? `; the commands are run, demo, serve, ${Object.keys(ledgerCommands).join(", ")}`
        : `; did you mean ${suggestion}?`
    }`
  )
}
