/**
 * Policy files (`deputy run --policy FILE`): ordered rules that answer the sub-agent's requests before
 * anyone is asked. JSON with `//` and `/* *\/` comments; the first rule that matches a request decides;
 * a request no rule decides goes to the `--approval` mode (a prompt, or deny/approve).
 *
 * ```jsonc
 * {
 *   "rules": [
 *     { "commandPrefix": "git status", "action": "approve" },        // read-only git is fine
 *     { "kind": "patch", "pathGlob": "src/**", "action": "ask" },     // patches under src/: ask me
 *     { "commandPrefix": ["rm"], "action": "deny" },                 // rm anywhere in a script
 *     { "kind": "permissions", "network": true, "action": "deny" }, // no network
 *     { "host": "registry.npmjs.org", "action": "approve" }         // but npm may fetch

 *   ]
 * }
 * ```
 *
 * @since 0.1.0
 */
import { type ApprovalRequest, Approvals, ShellWords } from "@deputy/core"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Jsonc from "./internal/jsonc.js"

/**
 * The kinds of request a rule can be limited to.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Kind = Schema.Literal("command", "patch", "permissions", "user_input", "elicitation").annotations({
  message: (issue) => ({
    message: `expected one of command, patch, permissions, user_input, elicitation; got ${
      JSON.stringify(issue.actual)
    }`,
    override: true
  })
})

/**
 * What a matching rule does. `ask` hands the request to the `--approval` mode (a prompt on a terminal,
 * else deny); `approve_for_session` also tells the sub-agent not to ask again for the same thing.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Action = Schema.Literal("approve", "approve_for_session", "deny", "abort", "ask").annotations({
  message: (issue) => ({
    message: `expected one of approve, approve_for_session, deny, abort, ask; got ${JSON.stringify(issue.actual)}`,
    override: true
  })
})

/**
 * One rule. Every condition given must hold (the core's `Approvals.PolicyRule` says exactly how):
 * - `kind`: one kind or a list;
 * - `commandPrefix`: command requests whose commands start with these words (a string is split like a
 *   shell line). Scripts (`bash -lc "…"`) are parsed: an approving rule needs a plain script whose every
 *   command is approved; a deny, abort or ask rule matches a command found anywhere in it;
 * - `pathGlob`: the paths a patch or permissions request touches, resolved against the working
 *   directory (`..` and symlinks followed): relative globs match inside it only; an approving rule
 *   needs every path to match, other rules one;
 * - `network`: permissions requests that ask for network access (`true`) or not (`false`); only a rule
 *   with `"network": true` approves network access. Since 0.2.0 also command requests that ask to reach
 *   the network (Codex's network approvals);
 * - `host` (since 0.2.0): command requests that ask to reach this host (`example.com`, or
 *   `*.example.com` for its subdomains); an approving `commandPrefix` rule approves a network request
 *   only with `"network": true` or a `host`;
 * - `mcpServer` / `mcpTool` (since 0.2.0): MCP elicitations from this server, MCP tool-call approvals of
 *   this tool (exact names). An approving rule accepts only tool-call approvals and forms without fields:
 *   a form to fill or a URL to open always goes to `--approval`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Rule = Schema.Struct({
  kind: Schema.optional(Schema.Union(Kind, Schema.NonEmptyArray(Kind))),
  commandPrefix: Schema.optional(Schema.Union(Schema.NonEmptyString, Schema.NonEmptyArray(Schema.String))),
  pathGlob: Schema.optional(Schema.NonEmptyString),
  network: Schema.optional(Schema.Boolean),
  /** @since 0.2.0 */
  host: Schema.optional(Schema.NonEmptyString),
  /** @since 0.2.0 */
  mcpServer: Schema.optional(Schema.NonEmptyString),
  /** @since 0.2.0 */
  mcpTool: Schema.optional(Schema.NonEmptyString),
  action: Action
}).annotations({ identifier: "PolicyRule" })

/**
 * The file: `{"rules": [Rule, ...]}`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PolicyFile = Schema.Struct({ rules: Schema.Array(Rule) }).annotations({ identifier: "PolicyFile" })

/**
 * The policy file could not be used: which file, where, and what is wrong.
 *
 * @since 0.1.0
 * @category errors
 */
export class PolicyFileError extends Schema.TaggedError<PolicyFileError>("@deputy/cli/PolicyFileError")(
  "PolicyFileError",
  {
    path: Schema.String,
    line: Schema.optional(Schema.Number),
    problem: Schema.String
  }
) {
  override get message(): string {
    return `policy file ${this.path}${this.line === undefined ? "" : `, line ${this.line}`}: ${this.problem}`
  }
}

const decodeFile = Schema.decodeUnknownEither(PolicyFile, { onExcessProperty: "error", errors: "first" })

const describePath = (path: ReadonlyArray<PropertyKey>): string => {
  const [top, index, field] = path
  if (top !== "rules") return path.length === 0 ? "the file" : `"${String(top)}"`
  if (index === undefined) return "\"rules\""
  return `rule ${Number(index) + 1}${field === undefined ? "" : ` ("${String(field)}")`}`
}

const ruleProblem = (rule: typeof Rule.Type): { field: string; problem: string } | undefined => {
  const kinds = rule.kind === undefined ? undefined : typeof rule.kind === "string" ? [rule.kind] : rule.kind
  if (rule.commandPrefix !== undefined && kinds !== undefined && !kinds.includes("command")) {
    return { field: "commandPrefix", problem: "commandPrefix only matches command requests; add \"command\" to kind" }
  }
  if (rule.pathGlob !== undefined && kinds !== undefined && !kinds.some((k) => k === "patch" || k === "permissions")) {
    return { field: "pathGlob", problem: "pathGlob only matches patch and permissions requests" }
  }
  if (rule.network !== undefined && kinds !== undefined && !kinds.some((k) => k === "permissions" || k === "command")) {
    return {
      field: "network",
      problem: "network only matches permissions and command requests; add \"permissions\" or \"command\" to kind"
    }
  }
  if (rule.host !== undefined && kinds !== undefined && !kinds.includes("command")) {
    return {
      field: "host",
      problem: "host only matches command requests that reach the network; add \"command\" to kind"
    }
  }
  if (rule.host !== undefined && (rule.pathGlob !== undefined || rule.network === false)) {
    return {
      field: "host",
      problem: "a rule with host cannot have pathGlob or \"network\": false (it would never match)"
    }
  }
  if (
    (rule.mcpServer !== undefined || rule.mcpTool !== undefined) &&
    ((kinds !== undefined && !kinds.includes("elicitation")) || rule.commandPrefix !== undefined ||
      rule.pathGlob !== undefined || rule.network !== undefined || rule.host !== undefined)
  ) {
    return {
      field: rule.mcpServer !== undefined ? "mcpServer" : "mcpTool",
      problem: "mcpServer and mcpTool only match elicitations; they cannot go with commandPrefix, pathGlob, " +
        "network or host (it would never match)"
    }
  }
  if (rule.commandPrefix !== undefined && rule.pathGlob !== undefined) {
    return { field: "pathGlob", problem: "a rule cannot have both commandPrefix and pathGlob (it would never match)" }
  }
  return undefined
}

const toPolicyRule = (
  rule: typeof Rule.Type,
  prefix: ReadonlyArray<string> | undefined,
  source: string
): Approvals.PolicyRule => ({
  ...(rule.kind === undefined ? {} : { kind: rule.kind }),
  ...(prefix === undefined ? {} : { commandPrefix: prefix }),
  ...(rule.pathGlob === undefined ? {} : { pathGlob: rule.pathGlob }),
  ...(rule.network === undefined ? {} : { network: rule.network }),
  ...(rule.host === undefined ? {} : { host: rule.host }),
  ...(rule.mcpServer === undefined ? {} : { mcpServer: rule.mcpServer }),
  ...(rule.mcpTool === undefined ? {} : { mcpTool: rule.mcpTool }),
  action: rule.action === "ask" ? "defer" : rule.action,
  source
})

/**
 * Reads the text of a policy file (`path` names it in errors, and every rule's `source`, so a decision
 * names the file) into the core's ordered rules.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (
  text: string,
  path: string
): Either.Either<ReadonlyArray<Approvals.PolicyRule>, PolicyFileError> => {
  const document = Jsonc.parse(text)
  if (Jsonc.isSyntaxProblem(document)) {
    return Either.left(
      new PolicyFileError({ path, line: document.line, problem: `not valid JSON: ${document.problem}` })
    )
  }
  const at = (issuePath: ReadonlyArray<PropertyKey>, problem: string) =>
    new PolicyFileError({
      path,
      line: document.positionOf(issuePath).line,
      problem: `${describePath(issuePath)}: ${problem}`
    })
  if (typeof document.value !== "object" || document.value === null || Array.isArray(document.value)) {
    return Either.left(at([], "expected an object {\"rules\": [...]}"))
  }
  const decoded = decodeFile(document.value)
  if (Either.isLeft(decoded)) {
    const [issue] = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
    return Either.left(at(issue.path, issue.message))
  }
  const rules: Array<Approvals.PolicyRule> = []
  for (const [index, rule] of decoded.right.rules.entries()) {
    const problem = ruleProblem(rule)
    if (problem !== undefined) return Either.left(at(["rules", index, problem.field], problem.problem))
    let prefix: ReadonlyArray<string> | undefined
    if (typeof rule.commandPrefix === "string") {
      const words = ShellWords.split(rule.commandPrefix)
      if (ShellWords.isSplitError(words)) return Either.left(at(["rules", index, "commandPrefix"], words.problem))
      prefix = words
    } else {
      prefix = rule.commandPrefix
    }
    rules.push(toPolicyRule(rule, prefix, path))
  }
  return Either.right(rules)
}

/**
 * Reads and checks a policy file.
 *
 * @since 0.1.0
 * @category loading
 */
export const load = (
  path: string
): Effect.Effect<ReadonlyArray<Approvals.PolicyRule>, PolicyFileError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError((error) =>
      new PolicyFileError({
        path,
        problem: error._tag === "SystemError" && error.reason === "NotFound"
          ? "no such file"
          : `cannot be read (${error.message})`
      })
    ),
    Effect.flatMap((text) => parse(text, path))
  )

/**
 * The index (0-based) of the rule that decides a request, if a rule decides it (an `ask` rule does not).
 *
 * @since 0.1.0
 * @category matching
 * @deprecated since 0.2.0: who decided travels with the answer (`ApprovalSettlement.decidedBy`); to
 * evaluate rules, use `Approvals.firstMatchIndex`.
 */
export const decidingRule = (
  rules: ReadonlyArray<Approvals.PolicyRule>,
  request: ApprovalRequest.ApprovalRequest,
  options?: Approvals.PolicyOptions
): number | undefined => {
  const index = Approvals.firstMatchIndex(rules, request, options)
  return index === -1 || rules[index]!.action === "defer" ? undefined : index
}

/**
 * A remembered rule as a policy file writes it: only the conditions it has (`kind`, `commandPrefix`,
 * `host`, `network`, `pathGlob`, `mcpServer`, `mcpTool`) and its action (`defer` is written `ask`).
 *
 * @since 0.2.0
 * @category writing
 */
export const ruleJson = (rule: Approvals.PolicyRule): typeof Rule.Encoded => {
  const { action, source: _source, ...conditions } = rule
  const written: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(conditions)) {
    if (value !== undefined) written[key] = Array.isArray(value) ? [...value] : value
  }
  return { ...written, action: action === "defer" ? "ask" : action } as typeof Rule.Encoded
}

/**
 * Appends a rule to the policy file at `file` (creating `{"rules": [...]}` if it does not exist), atomically:
 * the new text goes to a temporary file next to it, then replaces it by a rename. Refused, with the file
 * untouched: a symlink, anything but a regular file, a file of another user, a file that is not a valid
 * policy file, or one with comments (Deputy does not rewrite what a person annotated: name another file).
 *
 * @since 0.2.0
 * @category writing
 */
export const appendRule = (file: string, rule: Approvals.PolicyRule): Effect.Effect<void, PolicyFileError> =>
  Effect.try({
    try: () => {
      const refuse = (problem: string) => {
        throw new PolicyFileError({ path: file, problem })
      }
      let stat: fs.Stats | undefined
      try {
        stat = fs.lstatSync(file)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
      }
      let rules: Array<unknown> = []
      let mode = 0o600
      if (stat !== undefined) {
        if (stat.isSymbolicLink()) refuse("is a symlink; Deputy writes remembered rules only to a regular file")
        if (!stat.isFile()) refuse("is not a regular file")
        const uid = process.getuid?.()
        if (uid !== undefined && stat.uid !== uid) refuse(`belongs to another user (uid ${stat.uid})`)
        const text = fs.readFileSync(file, "utf8")
        const checked = parse(text, file)
        if (Either.isLeft(checked)) throw checked.left
        let plain: unknown
        try {
          plain = JSON.parse(text)
        } catch {
          refuse("has comments; Deputy does not rewrite an annotated policy file (name another file)")
        }
        rules = [...(plain as { rules: Array<unknown> }).rules]
        mode = stat.mode & 0o777
      }
      rules.push(ruleJson(rule))
      const temporary = path.join(path.dirname(file), `.${path.basename(file)}.deputy-${process.pid}-${Date.now()}`)
      fs.writeFileSync(temporary, `${JSON.stringify({ rules }, null, 2)}\n`, { mode, flag: "wx" })
      try {
        fs.renameSync(temporary, file)
      } catch (error) {
        fs.rmSync(temporary, { force: true })
        throw error
      }
    },
    catch: (error) =>
      error instanceof PolicyFileError
        ? error
        : new PolicyFileError({ path: file, problem: `cannot be written (${(error as Error).message})` })
  })
