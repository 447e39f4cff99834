/**
 * What a command really runs: a command request's argv, looked through wrappers (`env`, `command`,
 * `exec`, `nohup`, `timeout`, `nice`, `xargs`, `sudo`, `NAME=value` assignments) and shell scripts
 * (`sh|bash|zsh|dash` with any flags that include `-c`), parsed with tree-sitter's bash grammar (the
 * parser Codex itself uses), into every simple command it contains, and whether the whole is *plain*: a
 * sequence of simple commands joined by `&&`, `||`, `;`, `|` or newlines, with only literal words.
 *
 * Policy rules read this: an approve rule needs a plain script whose every command it (or another
 * approve rule) covers; a deny rule matches any command found, also inside substitutions, subshells,
 * `eval` and the like.
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { createRequire } from "node:module"
import type { Node } from "web-tree-sitter"
import * as ShellWords from "./ShellWords.js"

/**
 * One word of a command. `literal`: its value is known exactly (no `$` expansion, no substitution);
 * `expands`: a glob, `~` or `{a,b}` may turn it into other words.
 *
 * @since 0.2.0
 * @category models
 */
export interface Word {
  readonly text: string
  readonly literal: boolean
  readonly expands: boolean
}

/**
 * One way to read a simple command, program first: as written, then after each wrapper it runs through
 * (`env FOO=1 rm x` reads as `env FOO=1 rm x`, then `rm x`). `approvable`: reached only through wrappers
 * that change nothing about what runs (`command`, `exec`, `nohup`, `nice`, `timeout`, a standard shell's
 * `-c`), so an approve rule may match it; assignments (`LD_PRELOAD=…`), `env NAME=value`, `sudo` and
 * `xargs` readings are for deny rules only.
 *
 * @since 0.2.0
 * @category models
 */
export interface Reading {
  readonly words: ReadonlyArray<Word>
  readonly approvable: boolean
}

/**
 * A command request, analysed. `commands`: every simple command found, each with its readings.
 * `plain`: false when anything cannot be proven to be a plain sequence of simple commands; `why` says
 * what (the first thing found).
 *
 * @since 0.2.0
 * @category models
 */
export interface CommandAnalysis {
  readonly plain: boolean
  readonly why?: string | undefined
  readonly commands: ReadonlyArray<ReadonlyArray<Reading>>
}

/**
 * A loaded bash parser. Loading is asynchronous (WebAssembly); parsing is synchronous.
 *
 * @since 0.2.0
 * @category models
 */
export interface ShellParser {
  readonly parse: (script: string) => ScriptTree
}

/**
 * A parsed script: its simple commands (with words), and why it is not plain, if it is not.
 *
 * @since 0.2.0
 * @category models
 */
export interface ScriptTree {
  readonly commands: ReadonlyArray<ReadonlyArray<Word>>
  readonly notPlain?: string | undefined
  /**
   * The parser misread the script (a word with an unquoted blank in it, words split at a carriage return or
   * a line continuation), or the script holds code as text (`$(` or `` ` `` in a quoted word), so its
   * commands cannot be trusted: deny rules then read every word of the script as a possible program.
   *
   * @since 0.3.0
   */
  readonly misread?: boolean | undefined
  /**
   * The script reads as written only in bash (it has a `$'…'` string, which `dash` reads as `$` and a
   * quoted string): under another shell it is not plain.
   *
   * @since 0.3.0
   */
  readonly bashOnly?: boolean | undefined
}

/**
 * The bash grammar could not be loaded (a broken install).
 *
 * @since 0.2.0
 * @category errors
 */
export class ShellParserUnavailable extends Data.TaggedError("ShellParserUnavailable")<{ readonly cause: unknown }> {
  override get message(): string {
    return `the bash parser could not be loaded: ${String(this.cause)}`
  }
}

const maxScriptLength = 256 * 1024
const maxDepth = 8

// ---------------------------------------------------------------------------------------------------------
// Parsing (tree-sitter): the tree is turned into plain data at once and freed.

const structural = new Set(["program", "list", "pipeline", "command", "redirected_statement", "comment"])
const separators = new Set(["&&", "||", ";", "|", "|&", "\n"])

const literalWord = (text: string): string | undefined => {
  const words = ShellWords.split(text)
  return ShellWords.isSplitError(words) ? undefined : words.join("")
}

/**
 * Whether a word's raw text holds a blank outside quotes and not escaped. A shell never makes such a word:
 * the parser misread the script (tree-sitter-bash 0.25 reads `a\n\\rm` as one command `a rm`).
 */
const hasUnquotedBlank = (raw: string): boolean => {
  let quote: "'" | "\"" | undefined
  for (let index = 0; index < raw.length; index++) {
    const char = raw[index]!
    if (quote === "'") {
      if (char === "'") quote = undefined
    } else if (quote === "\"") {
      if (char === "\\") index++
      else if (char === "\"") quote = undefined
    } else if (char === "\\") index++
    else if (char === "'" || char === "\"") quote = char
    else if (char === " " || char === "\t" || char === "\n" || char === "\r") return true
  }
  return false
}

const simpleEscapes: Record<string, string> = {
  a: "\x07",
  b: "\b",
  e: "\x1b",
  E: "\x1b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  "'": "'",
  "\"": "\"",
  "?": "?"
}

/**
 * The value of a `$'…'` string's body, as bash decodes it, or undefined for what this does not decode
 * (`\c`, a NUL): `$'\x72m'` is `rm`, a program a deny rule must see.
 */
const ansiC = (body: string): string | undefined => {
  let out = ""
  for (let index = 0; index < body.length; index++) {
    const char = body[index]!
    if (char !== "\\") {
      out += char
      continue
    }
    const next = body[++index]
    if (next === undefined) return undefined
    if (Object.hasOwn(simpleEscapes, next)) {
      out += simpleEscapes[next]
      continue
    }
    const digits = (pattern: RegExp, max: number) => {
      let taken = ""
      while (taken.length < max && index + 1 < body.length && pattern.test(body[index + 1]!)) taken += body[++index]
      return taken
    }
    if (next === "c") return undefined
    let code: number
    if (/[0-7]/.test(next)) code = parseInt(next + digits(/[0-7]/, 2), 8) & 0xff
    else if (next === "x") code = parseInt(digits(/[0-9a-fA-F]/, 2) || "x", 16)
    else if (next === "u") code = parseInt(digits(/[0-9a-fA-F]/, 4) || "x", 16)
    else if (next === "U") code = parseInt(digits(/[0-9a-fA-F]/, 8) || "x", 16)
    else {
      out += `\\${next}`
      continue
    }
    if (Number.isNaN(code) || code === 0 || code > 0x10ffff) return undefined
    out += String.fromCodePoint(code)
  }
  return out
}

const wordOf = (node: Node): Word => {
  switch (node.type) {
    case "word":
    case "number": {
      const text = literalWord(node.text)
      return text === undefined
        ? { text: node.text, literal: false, expands: false }
        : { text, literal: true, expands: /[*?[{]/.test(node.text) || node.text.startsWith("~") }
    }
    case "raw_string":
      return { text: node.text.slice(1, -1), literal: true, expands: false }
    case "ansi_c_string": {
      const text = ansiC(node.text.slice(2, -1))
      return text === undefined
        ? { text: node.text, literal: false, expands: false }
        : { text, literal: true, expands: false }
    }
    case "string": {
      const plain = node.namedChildren.every((child) => child?.type === "string_content")
      const text = plain ? literalWord(node.text) : undefined
      return text === undefined
        ? { text: node.text, literal: false, expands: false }
        : { text, literal: true, expands: false }
    }
    case "concatenation": {
      const parts = node.namedChildren.filter((child): child is Node => child !== null).map(wordOf)
      const literal = parts.every((part) => part.literal)
      return {
        text: literal ? parts.map((part) => part.text).join("") : node.text,
        literal,
        expands: parts.some((part) => part.expands)
      }
    }
    default:
      return { text: node.text, literal: false, expands: false }
  }
}

/** Why a redirection keeps a script from being plain (writes, here-docs), or undefined when it is harmless. */
const redirectProblem = (node: Node): string | undefined => {
  if (node.type !== "file_redirect") return `a ${node.type.replace(/_/g, " ")}`
  const operator = node.children.find((child) => child !== null && !child.isNamed)?.type ?? ""
  const destination = node.childForFieldName("destination") ?? node.namedChildren.at(-1) ?? null
  if (destination === null) return "a redirection without a target"
  const target = wordOf(destination)
  if (!target.literal || target.expands) return "a redirection to a computed target"
  if (/^\/dev\/(tcp|udp)\//.test(target.text)) return `a network connection (${operator} ${target.text})`
  if (operator === "<") return undefined
  if ((operator === ">&" || operator === "<&") && /^(\d+|-)$/.test(target.text)) return undefined
  if (target.text === "/dev/null" && [">", ">>", "&>", "&>>", ">|", ">&"].includes(operator)) return undefined
  return `a redirection that writes (${operator} ${target.text})`
}

/**
 * Whether the gaps between a node's children show that tree-sitter-bash split the words otherwise than bash:
 * a newline that is not a line continuation (`a⏎\\rm` read as one command), a carriage return (a word
 * character to bash, a blank to the parser), or a gap that is only a line continuation (`t\\⏎ouch` is
 * one word, `touch`, to bash). A here-document's body is not looked at.
 */
const hasMisreadGap = (source: string, node: Node): boolean => {
  let end = -1
  for (const child of node.children) {
    if (child === null) continue
    if (child.type === "heredoc_body" || child.type === "heredoc_end") break
    if (end !== -1) {
      const gap = source.slice(end, child.startIndex)
      if (/\r/.test(gap)) return true
      const joined = gap.replace(/\\\r?\n/g, "")
      if (/\n/.test(joined) || (gap !== "" && joined === "")) return true
    }
    if (child.type.endsWith("redirect") && hasMisreadGap(source, child)) return true
    end = child.endIndex
  }
  return false
}

const opaque = new Set(["heredoc_body", "string", "raw_string", "ansi_c_string", "translated_string", "comment"])

/**
 * Whether a carriage return lies between the tokens of a script: a word character to bash (`ls⏎` after
 * `x\r`, `>/dev/null\r` writes a file of that name), a blank to tree-sitter-bash.
 */
const hasCarriageReturnGap = (source: string, node: Node): boolean => {
  if (opaque.has(node.type) || node.childCount === 0) return false
  let end = node.startIndex
  for (const child of node.children) {
    if (child === null) continue
    if (source.slice(end, child.startIndex).includes("\r") || hasCarriageReturnGap(source, child)) return true
    end = child.endIndex
  }
  return source.slice(end, node.endIndex).includes("\r")
}

const wordTypes = new Set([
  "word",
  "number",
  "string",
  "raw_string",
  "ansi_c_string",
  "translated_string",
  "concatenation",
  "simple_expansion",
  "expansion",
  "command_substitution",
  "process_substitution",
  "arithmetic_expansion"
])

/**
 * The words tree-sitter-bash files under a redirection that are the command's arguments to bash:
 * `git >/dev/null push` reads as `git` with a redirection to `/dev/null push`, and `touch >x⏎\\rm y` hides
 * `rm y` there entirely.
 */
const redirectArguments = (redirect: Node): ReadonlyArray<Node> => {
  const named = redirect.namedChildren.filter((child): child is Node => child !== null)
  if (redirect.type === "file_redirect") {
    return named.filter((child) => child.type !== "file_descriptor").slice(1).filter((child) =>
      wordTypes.has(child.type)
    )
  }
  if (redirect.type === "heredoc_redirect") {
    const body = named.findIndex((child) => child.type === "heredoc_body" || child.type === "heredoc_end")
    return named.slice(0, body === -1 ? undefined : body).filter((child) => wordTypes.has(child.type))
  }
  return []
}

/** Text that bash could run later as code (`trap`, `alias`, `PS4`, an arithmetic subscript): `$(` or `` ` ``. */
const looksLikeCode = (text: string): boolean => /\$\\?\(|`/.test(text)

const textTypes = ["raw_string", "string_content", "heredoc_content", "heredoc_body", "ansi_c_string", "word"]

const collect = (root: Node, source: string): ScriptTree => {
  const commands: Array<ReadonlyArray<Word>> = []
  let notPlain: string | undefined
  let misread = false
  const problem = (why: string) => {
    notPlain ??= why
  }
  /** A simple command; `extra`: words tree-sitter-bash filed under the redirections of its statement. */
  const visitCommand = (node: Node, extra: ReadonlyArray<Node>): void => {
    if (
      node.descendantsOfType(["word", "number"]).some((word) => word !== null && hasUnquotedBlank(word.text)) ||
      extra.some((word) => hasUnquotedBlank(word.text)) ||
      hasMisreadGap(source, node)
    ) {
      problem("the bash parser misread it (a word with a blank in it)")
      misread = true
    }
    const words: Array<Word> = []
    const push = (word: Word) => {
      words.push(word)
      if (!word.literal) problem("a word that is computed when it runs ($…, `…`)")
    }
    for (const child of node.namedChildren) {
      if (child === null) continue
      if (child.type === "variable_assignment") {
        const value = child.childForFieldName("value")
        const word = value === null ? { text: "", literal: true, expands: false } : wordOf(value)
        const name = child.childForFieldName("name")?.text ?? ""
        words.push({ text: `${name}=${word.text}`, literal: word.literal, expands: word.expands })
        if (!word.literal) problem("an assignment of a computed value")
      } else if (child.type === "command_name") {
        const inner = child.namedChildren[0]
        push(inner === null || inner === undefined ? wordOf(child) : wordOf(inner))
      } else if (child.type.endsWith("redirect")) {
        const why = redirectProblem(child)
        if (why !== undefined) problem(why)
        for (const word of redirectArguments(child)) push(wordOf(word))
      } else {
        push(wordOf(child))
      }
    }
    for (const word of extra) push(wordOf(word))
    commands.push(words)
    // substitutions inside the words are commands too (never plain)
    for (const child of node.namedChildren) if (child !== null) visitInner(child)
  }
  const visit = (node: Node, inPlainContext: boolean): void => {
    if (node.isError || node.isMissing) {
      // what bash runs of a script tree-sitter cannot parse is not known (`cat << EOF; true` hides `true`)
      problem("it does not parse")
      misread = true
    }
    if (!node.isNamed) {
      if (inPlainContext && !separators.has(node.type) && node.type !== "") problem(`the operator ${node.type}`)
      return
    }
    const plainHere = inPlainContext && structural.has(node.type)
    if (inPlainContext && !plainHere) problem(`a ${node.type.replace(/_/g, " ")}`)
    if (node.type === "command") return visitCommand(node, [])
    if (node.type === "redirected_statement") {
      const body = node.childForFieldName("body")
      // (web-tree-sitter makes a new object for each node it hands out: compare ids)
      const isBody = (child: Node) => body !== null && child.id === body.id
      const redirects = node.namedChildren.filter((child): child is Node =>
        child !== null && !isBody(child) && child.type.endsWith("redirect")
      )
      if (hasMisreadGap(source, node)) {
        problem("the bash parser misread it (a word with a blank in it)")
        misread = true
      }
      const extra = redirects.flatMap(redirectArguments)
      for (const child of node.namedChildren) {
        if (child === null) continue
        if (isBody(child) && child.type === "command") visitCommand(child, extra)
        else if (isBody(child)) {
          visit(child, plainHere)
          if (extra.length > 0) {
            // `A= 2>/dev/null grep` after a `|` reads as an assignment, then a pipeline redirected to
            // `/dev/null grep`: the words are a command bash runs
            problem("the bash parser misread it (words after a redirection)")
            misread = true
            commands.push(extra.map(wordOf))
          }
        } else if (child.type.endsWith("redirect")) {
          const why = redirectProblem(child)
          if (why !== undefined) problem(why)
          visitInner(child)
        } else visit(child, plainHere)
      }
      if (body === null && extra.length > 0) commands.push(extra.map(wordOf))
      return
    }
    for (const child of node.children) if (child !== null) visit(child, plainHere)
  }
  /** Looks for commands below a node that is not itself a statement (a word, a substitution). */
  const visitInner = (node: Node): void => {
    if (node.type === "command") return visit(node, false)
    if (node.type === "redirected_statement") return visit(node, false)
    for (const child of node.children) if (child !== null && child.isNamed) visitInner(child)
  }
  visit(root, true)
  if (root.hasError) {
    // an error below a substitution too (`cat <(cat <<EOF; true …)` hides `true`)
    problem("it does not parse")
    misread = true
  }
  if (hasCarriageReturnGap(source, root) || /\r/.test(source.slice(0, root.startIndex) + source.slice(root.endIndex))) {
    problem("the bash parser misread it (a carriage return between words)")
    misread = true
  }
  const hidesCode = root.descendantsOfType(textTypes).some((node) =>
    node !== null &&
    (looksLikeCode(node.text) ||
      (node.type === "ansi_c_string" && looksLikeCode(ansiC(node.text.slice(2, -1)) ?? "$(")))
  )
  if (hidesCode) problem("it holds shell code as text ($( or ` in a quoted word), which bash may run later")
  const bashOnly = root.descendantsOfType("ansi_c_string").length > 0
  return {
    commands,
    notPlain,
    ...(misread || hidesCode ? { misread: true } : {}),
    ...(bashOnly ? { bashOnly: true } : {})
  }
}

let loading: Promise<ShellParser> | undefined
let loaded: ShellParser | undefined

const loadOnce = (): Promise<ShellParser> => {
  loading ??= (async () => {
    const require = createRequire(import.meta.url)
    // loaded on first use, so that importing the package (and `deputy --help`) does not pay for it
    const WebTreeSitter = await import("web-tree-sitter")
    await WebTreeSitter.Parser.init()
    const bash = await WebTreeSitter.Language.load(require.resolve("tree-sitter-bash/tree-sitter-bash.wasm"))
    const parser = new WebTreeSitter.Parser()
    parser.setLanguage(bash)
    const shellParser: ShellParser = {
      parse: (script) => {
        if (script.length > maxScriptLength) return { commands: [], notPlain: "the script is too long to check" }
        const tree = parser.parse(script)
        if (tree === null) return { commands: [], notPlain: "it does not parse" }
        try {
          return collect(tree.rootNode, script)
        } finally {
          tree.delete()
        }
      }
    }
    loaded = shellParser
    return shellParser
  })()
  loading.catch(() => {
    loading = undefined
  })
  return loading
}

/**
 * The bash parser, loaded once per process (the first call loads the WebAssembly grammar, ≈ 20 ms).
 *
 * @since 0.2.0
 * @category parsing
 */
export const parser: Effect.Effect<ShellParser, ShellParserUnavailable> = Effect.suspend(() =>
  loaded !== undefined
    ? Effect.succeed(loaded)
    : Effect.tryPromise({ try: loadOnce, catch: (cause) => new ShellParserUnavailable({ cause }) })
)

/**
 * The bash parser if it has been loaded in this process (by `parser` or a policy layer), else undefined.
 *
 * @since 0.2.0
 * @category parsing
 */
export const loadedParser = (): ShellParser | undefined => loaded

// ---------------------------------------------------------------------------------------------------------
// Looking through wrappers and shells.

interface FlagSpec {
  /** Short flags that take an argument (attached, `-uNAME`, or the next word). */
  readonly short: string
  /** Long flags that take an argument when not given as `--flag=value`. */
  readonly long: ReadonlyArray<string>
}

/** The words after a wrapper's flags, or undefined when they end before a program. */
const skipFlags = (words: ReadonlyArray<Word>, spec: FlagSpec): ReadonlyArray<Word> => {
  let index = 0
  while (index < words.length) {
    const word = words[index]!
    if (!word.literal) return words.slice(index)
    const text = word.text
    if (text === "--") return words.slice(index + 1)
    if (!text.startsWith("-") || text === "-") return words.slice(index)
    index++
    if (text.startsWith("--")) {
      if (!text.includes("=") && spec.long.includes(text.slice(2))) index++
      continue
    }
    for (let at = 1; at < text.length; at++) {
      if (spec.short.includes(text[at]!)) {
        if (at === text.length - 1) index++
        break
      }
    }
  }
  return []
}

const isAssignment = (word: Word) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(word.text)

interface Unwrapped {
  readonly words: ReadonlyArray<Word>
  /** Whether the wrapper leaves what runs unchanged (an approve rule may see through it). */
  readonly benign: boolean
}

const literal = (text: string): Word => ({ text, literal: true, expands: false })

const wrappers: Record<string, (args: ReadonlyArray<Word>) => Unwrapped> = {
  command: (args) => ({ words: skipFlags(args, { short: "", long: [] }), benign: true }),
  builtin: (args) => ({ words: args, benign: true }),
  coproc: (args) => ({ words: args, benign: false }),
  exec: (args) => ({ words: skipFlags(args, { short: "a", long: [] }), benign: true }),
  time: (args) => ({ words: skipFlags(args, { short: "", long: [] }), benign: true }),
  nohup: (args) => ({ words: skipFlags(args, { short: "", long: [] }), benign: true }),
  nice: (args) => ({ words: skipFlags(args, { short: "n", long: ["adjustment"] }), benign: true }),
  timeout: (args) => ({
    words: skipFlags(args, { short: "ks", long: ["kill-after", "signal"] }).slice(1),
    benign: true
  }),
  xargs: (args) => ({
    words: skipFlags(args, {
      short: "adEILnPs",
      long: ["arg-file", "delimiter", "eof", "replace", "max-lines", "max-args", "max-procs", "max-chars"]
    }),
    benign: false
  }),
  sudo: (args) => ({
    words: skipFlags(args, {
      short: "ugCDhprtTU",
      long: ["user", "group", "close-from", "chdir", "host", "prompt", "role", "type", "command-timeout", "other-user"]
    }),
    benign: false
  }),
  env: (args) => {
    let index = 0
    let benign = true
    const out: Array<Word> = []
    while (index < args.length) {
      const word = args[index]!
      const text = word.text
      if (!word.literal) break
      if (text === "--") {
        index++
        break
      }
      if (text === "-S" || text === "--split-string" || text.startsWith("--split-string=") || text.startsWith("-S")) {
        const value = text === "-S" || text === "--split-string"
          ? args[++index]?.text
          : text.replace(/^(-S|--split-string=)/, "")
        const split = value === undefined ? [] : ShellWords.split(value)
        if (!ShellWords.isSplitError(split)) out.push(...split.map(literal))
        benign = false
        index++
        continue
      }
      if (!text.startsWith("-") || text === "-") break
      benign = false
      index++
      if (["-u", "-C", "--unset", "--chdir"].includes(text)) index++
    }
    const rest = [...out, ...args.slice(index)]
    let start = 0
    while (start < rest.length && isAssignment(rest[start]!)) start++
    return { words: rest.slice(start), benign: benign && start === 0 }
  }
}

const shells = new Set(["sh", "bash", "zsh", "dash", "ksh"])

/**
 * What a shell's arguments make it run: its `-c` script (with or without other flags: `-lc`, `-e -c`,
 * `-xc`, `--norc -c`), a script file it is given, or the script on its standard input (no operand, or `-s`).
 */
const shellScript = (
  args: ReadonlyArray<Word>
): { readonly _tag: "Script"; readonly script: Word } | { readonly _tag: "File" | "Input" } => {
  let commandMode = false
  let fromInput = false
  let index = 0
  while (index < args.length) {
    const word = args[index]!
    const text = word.text
    if (!word.literal) break
    if (text === "--" || text === "-") {
      index++
      break
    }
    if (!text.startsWith("-") && !text.startsWith("+")) break
    index++
    if (text.startsWith("--")) {
      if (text === "--rcfile" || text === "--init-file") index++
      continue
    }
    for (const flag of text.slice(1)) {
      if (flag === "c") commandMode = true
      else if (flag === "s") fromInput = true
      else if (flag === "o" || flag === "O") index++
    }
  }
  if (commandMode) return { _tag: "Script", script: args[index] ?? literal("") }
  return fromInput || index >= args.length ? { _tag: "Input" } : { _tag: "File" }
}

const findExec = new Set(["-exec", "-execdir", "-ok", "-okdir"])

/**
 * Builtins that run text they are given as code, later or elsewhere: `trap 'rm x' EXIT`, `alias ll='rm x'`
 * (with `expand_aliases`), `mapfile -C 'rm x'`, `complete -C`, `bind -x`, `fc`, `enable -f` (a shared
 * object), `hash -p` (another program under a name).
 */
const codeBuiltins = new Set([
  "trap",
  "alias",
  "mapfile",
  "readarray",
  "complete",
  "compgen",
  "bind",
  "fc",
  "enable",
  "hash"
])

const reservedWords = new Set([
  "function",
  "{",
  "}",
  "if",
  "then",
  "elif",
  "else",
  "fi",
  "case",
  "esac",
  "for",
  "select",
  "while",
  "until",
  "do",
  "done",
  "in",
  "[[",
  "]]",
  "!"
])

/** Variables whose value bash runs or sources: `PS4` under `set -x`, `BASH_ENV` in every new bash. */
const codeVariables = /^(PS[0-4]|PROMPT_COMMAND|BASH_ENV|ENV|SHELLOPTS|BASHOPTS|BASH_LOADABLES_PATH)=/

interface Analysing {
  readonly parser: ShellParser | undefined
  readonly commands: Array<ReadonlyArray<Reading>>
  why: string | undefined
  /** Set when a command runs code this analysis cannot see as commands (its script then reads as words). */
  hidden: boolean
}

const notPlain = (state: Analysing, why: string) => {
  state.why ??= why
}

const hide = (state: Analysing, why: string) => {
  notPlain(state, why)
  state.hidden = true
}

const wordSeparators = /[\s;&|()<>`$"'\\{}=,]+/
/** As bash splits: a carriage return is part of a word. */
const bashSeparators = /[ \t\n;&|()<>`$"'\\{}=,]+/

/**
 * Without a parser a script is never plain, and for deny rules every word of it could be a program:
 * one reading per word position (`echo rm` then counts as `rm`: fail closed). Words are read twice: split
 * at quotes and backslashes, and with quotes, backslashes and line continuations taken out (`r''m`, `r\\m`)
 * and split at blanks as bash sees them (a carriage return is part of a word).
 */
const unparsed = (state: Analysing, text: string, why = "the shell parser is not loaded"): void => {
  notPlain(state, why)
  // a parameter in the text may be any program (`c=r; ${c}m`): one computed reading
  if (/\$[{A-Za-z_@*0-9(]/.test(text)) {
    state.commands.push([{ words: [{ text: "$", literal: false, expands: false }], approvable: false }])
  }
  const joined = text.replace(/\\\r?\n/g, "").replace(/['"\\]/g, "")
  for (const [source, separators] of [[text, wordSeparators], [joined, bashSeparators]] as const) {
    const words = source.split(separators).filter((word) => word !== "").map(literal)
    state.commands.push(words.map((_, index) => ({ words: words.slice(index), approvable: false })))
  }
}

/** Arguments that hold code bash may run later (an arithmetic subscript `a[$(rm x)]`, `PS4=…`). */
const hidesCode = (state: Analysing, words: ReadonlyArray<Word>): void => {
  if (words.some((word) => word.literal && (looksLikeCode(word.text) || codeVariables.test(word.text)))) {
    hide(state, "a word that holds shell code as text")
  }
}

const script = (state: Analysing, text: string, approvable: boolean, depth: number, shell = "bash"): void => {
  if (state.parser === undefined) return unparsed(state, text)
  if (depth >= maxDepth) return unparsed(state, text, "shells nested too deep")
  const tree = state.parser.parse(text)
  if (tree.notPlain !== undefined) notPlain(state, tree.notPlain)
  if (tree.bashOnly === true && shell !== "bash") notPlain(state, `a $'…' string, which ${shell} reads otherwise`)
  const hidden = state.hidden
  state.hidden = false
  for (const words of tree.commands) simple(state, words, approvable, depth + 1)
  if (tree.misread === true || state.hidden) unparsed(state, text, "the bash parser misread it")
  state.hidden = hidden || state.hidden
}

const simple = (
  state: Analysing,
  words: ReadonlyArray<Word>,
  approvable: boolean,
  depth: number,
  appended = false
): void => {
  const readings: Array<Reading> = []
  let current = words
  let ok = approvable
  let keep = true
  let argumentsAppended = appended
  while (current.length > 0) {
    readings.push({ words: current, approvable: ok })
    if (isAssignment(current[0]!)) {
      let start = 0
      while (start < current.length && isAssignment(current[start]!)) {
        if (codeVariables.test(current[start]!.text)) {
          hide(state, `an assignment to ${current[start]!.text.split("=")[0]}`)
        }
        start++
      }
      current = current.slice(start)
      ok = false
      continue
    }
    const program = current[0]!
    if (!program.literal) break
    const { name, standard } = ShellWords.programName(program.text)
    if (program.expands) notPlain(state, `a program name that expands (${program.text})`)
    const wrapper = Object.hasOwn(wrappers, name) ? wrappers[name] : undefined
    if (wrapper !== undefined) {
      const next = wrapper(current.slice(1))
      hidesCode(state, current.slice(1, current.length - next.words.length))
      current = next.words
      ok = ok && standard && next.benign
      if (name === "xargs") argumentsAppended = true
      continue
    }
    if (shells.has(name)) {
      const body = shellScript(current.slice(1))
      if (body._tag === "Script") {
        if (argumentsAppended) hide(state, `a shell script that ${name} is given by another program`)
        if (!body.script.literal) notPlain(state, "a shell script that is computed when it runs")
        else {
          const from = state.commands.length
          script(state, body.script.text, ok && standard, depth, name)
          // the wrappers in front of the shell (`timeout 5 bash -c …`) are for deny rules: each command of
          // the script carries them as readings no approve rule may match
          const outer = readings.slice(0, -1).map((reading) => ({ words: reading.words, approvable: false }))
          if (standard && outer.length > 0) {
            if (state.commands.length === from) state.commands.push(outer)
            for (let index = from; index < state.commands.length; index++) {
              state.commands[index] = [...state.commands[index]!, ...outer]
            }
          }
        }
        // a standard shell running a script is that script; another program of that name stays a command
        keep = !standard || !body.script.literal
      } else if (body._tag === "Input") hide(state, `${name} runs the script on its input`)
      else notPlain(state, `${name} runs a script file`)
      break
    }
    if (name === "eval" || name === "source" || name === ".") {
      notPlain(state, `${name} runs code it is given`)
      if (name === "eval") script(state, current.slice(1).map((word) => word.text).join(" "), false, depth)
      else hide(state, `${name} runs code it is given`)
      break
    }
    if (reservedWords.has(program.text)) {
      // tree-sitter-bash parses compound commands as nodes; a reserved word read as a program means it
      // misread them (`time function f { rm; }` reads as the command `time function f { rm`)
      hide(state, `the bash parser misread it (${program.text} as a command)`)
      break
    }
    if (codeBuiltins.has(name)) {
      hide(state, `${name} runs code it is given as text`)
      for (const word of current.slice(1)) {
        if (word.literal) script(state, word.text.replace(/^[^=\s]*=/, ""), false, depth)
      }
      break
    }
    hidesCode(state, current.slice(1))
    if (name === "find") {
      const at = current.findIndex((word) => findExec.has(word.text))
      if (at !== -1) {
        notPlain(state, `find ${current[at]!.text} runs a command`)
        const end = current.findIndex((word, index) => index > at && (word.text === ";" || word.text === "+"))
        simple(state, current.slice(at + 1, end === -1 ? undefined : end), false, depth + 1, true)
      }
    }
    break
  }
  if (keep && readings.length > 0) state.commands.push(readings)
}

/**
 * Analyses a command request's argv: every simple command it runs, read through wrappers and shells.
 * Without a parser, a shell script is not looked into (and so never plain).
 *
 * @since 0.2.0
 * @category analysing
 */
export const analyze = (argv: ReadonlyArray<string>, shellParser: ShellParser | undefined): CommandAnalysis => {
  const state: Analysing = { parser: shellParser, commands: [], why: undefined, hidden: false }
  if (argv.length === 0) return { plain: false, why: "an empty command", commands: [] }
  simple(state, argv.map(literal), true, 0)
  if (state.commands.length === 0) notPlain(state, "no command")
  return state.why === undefined ? { plain: true, commands: state.commands } : {
    plain: false,
    why: state.why,
    commands: state.commands
  }
}

// ---------------------------------------------------------------------------------------------------------
// Matching a command prefix.

const globMatches = (pattern: string, text: string): boolean => {
  let source = ""
  for (const char of pattern) {
    source += char === "*"
      ? ".*"
      : char === "?" || char === "[" || char === "]"
      ? "."
      : /[\\^$.|+()[\]{}]/.test(char)
      ? `\\${char}`
      : char
  }
  return new RegExp(`^${source}$`, "s").test(text) || /[{~]/.test(pattern)
}

/**
 * Whether a reading starts with a prefix. For an approve rule (`"approve"`): words compare exactly, and
 * the program matches a bare rule word only if it is the standard program (`rm`, `/bin/rm`; not
 * `/tmp/evil/rm`), a rule word with `/` only that path. For a deny rule (`"deny"`): the program matches by
 * name wherever it lives, a word that expands matches what its glob could become, and a computed word
 * (the program too: `$X`, `"${a[@]}"`) matches any number of words (fail closed).
 *
 * @since 0.2.0
 * @category matching
 */
export const readingHasPrefix = (
  reading: Reading,
  prefix: ReadonlyArray<string>,
  mode: "approve" | "deny"
): boolean => {
  const { words } = reading
  if (prefix.length === 0) return false
  if (mode === "deny") return denyMatches(words, prefix, 0, 0)
  if (prefix.length > words.length) return false
  const program = words[0]!
  const wanted = prefix[0]!
  if (!program.literal || program.expands) return false
  const actual = ShellWords.programName(program.text)
  if (wanted.includes("/")) {
    const rule = ShellWords.programName(wanted)
    if (!program.text.includes("/") || actual.name !== rule.name) return false
    if (normalPath(program.text) !== normalPath(wanted)) return false
  } else if (actual.name !== wanted || !actual.standard) return false
  for (let index = 1; index < prefix.length; index++) {
    const word = words[index]!
    if (!word.literal || word.expands || word.text !== prefix[index]) return false
  }
  return true
}

/** Whether a literal word may be the prefix's word at `at` (the program by name, wherever it lives). */
const denyWordMatches = (word: Word, prefix: ReadonlyArray<string>, at: number): boolean => {
  if (at === 0) {
    const name = ShellWords.programName(prefix[0]!).name
    const actual = ShellWords.programName(word.text).name
    return word.expands ? globMatches(actual, name) : actual === name
  }
  return word.expands ? globMatches(word.text, prefix[at]!) : word.text === prefix[at]
}

/**
 * For a deny rule: whether the words from `word` on may be the prefix from `at` on. A computed word
 * (`$X`, `"$@"`, `$(…)`) or one that expands (`{a,b}`, `*`) may become any number of words, none too, so
 * `set -- rm x; "$@"` may be `rm x` and `git $E push origin` may be `git push origin`.
 */
const denyMatches = (words: ReadonlyArray<Word>, prefix: ReadonlyArray<string>, word: number, at: number): boolean => {
  if (at === prefix.length) return true
  if (word === words.length) return false
  const current = words[word]!
  if (!current.literal) {
    for (let taken = 0; at + taken <= prefix.length; taken++) {
      if (denyMatches(words, prefix, word + 1, at + taken)) return true
    }
    return false
  }
  if (current.expands) {
    if (denyMatches(words, prefix, word + 1, at)) return true
    if (!denyWordMatches(current, prefix, at)) return false
    for (let taken = 1; at + taken <= prefix.length; taken++) {
      if (denyMatches(words, prefix, word + 1, at + taken)) return true
    }
    return false
  }
  return denyWordMatches(current, prefix, at) && denyMatches(words, prefix, word + 1, at + 1)
}

const normalPath = (text: string): string => {
  const parts: Array<string> = []
  for (const part of text.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") parts.pop()
    else parts.push(part)
  }
  return `${text.startsWith("/") ? "/" : ""}${parts.join("/")}`
}
