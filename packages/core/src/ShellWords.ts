/**
 * Shell words: splitting one command line into words the way a POSIX shell reads its quotes (without
 * expansions), quoting words back, and showing an argv. One home for the CLI (`--agent-command`, policy
 * prefixes, display) and the Codex translation (the app-server's command string back into an argv).
 *
 * This is a word splitter, not a shell parser: it knows no operators (`;`, `&&`, `|` are plain words).
 * What a script really runs is `ShellCommand`'s job.
 *
 * @since 0.2.0
 */

/**
 * Why a line could not be split.
 *
 * @since 0.2.0
 * @category models
 */
export interface SplitError {
  readonly problem: string
}

const blank = (char: string) => char === " " || char === "\t" || char === "\n"

/**
 * The words of a line, or what is wrong with it (an unclosed quote, a trailing lone `\`). Single quotes
 * are literal; double quotes keep `\` only before `"`, `\`, `$`, `` ` ``; `\` outside quotes escapes the
 * next character; `\` + newline is a line continuation (removed, in and out of double quotes). Blanks
 * are space, tab and newline (a no-break space is part of a word, as in a shell).
 *
 * @since 0.2.0
 * @category splitting
 */
export const split = (line: string): Array<string> | SplitError => {
  const words: Array<string> = []
  let word = ""
  let inWord = false
  let quote: "'" | "\"" | undefined
  for (let index = 0; index < line.length; index++) {
    const char = line[index]!
    if (quote === "'") {
      if (char === "'") quote = undefined
      else word += char
      continue
    }
    if (quote === "\"") {
      if (char === "\"") quote = undefined
      else if (char === "\\" && line[index + 1] === "\n") index++
      else if (char === "\\" && index + 1 < line.length && "\"\\$`".includes(line[index + 1]!)) word += line[++index]
      else word += char
      continue
    }
    if (char === "'" || char === "\"") {
      quote = char
      inWord = true
    } else if (char === "\\") {
      if (index + 1 >= line.length) return { problem: "it ends with a lone \\" }
      if (line[index + 1] === "\n") {
        index++
        continue
      }
      word += line[++index]
      inWord = true
    } else if (blank(char)) {
      if (inWord) words.push(word)
      word = ""
      inWord = false
    } else {
      word += char
      inWord = true
    }
  }
  if (quote !== undefined) return { problem: `a ${quote === "'" ? "single" : "double"} quote is not closed` }
  if (inWord) words.push(word)
  return words
}

/**
 * Whether `split` failed.
 *
 * @since 0.2.0
 * @category splitting
 */
export const isSplitError = (result: Array<string> | SplitError): result is SplitError => !Array.isArray(result)

/**
 * A word as a shell needs it: unchanged when it is safe, else in single quotes.
 *
 * @since 0.2.0
 * @category quoting
 */
export const quote = (word: string): string =>
  word !== "" && /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`

/**
 * An argv as one line a person could paste into a shell.
 *
 * @since 0.2.0
 * @category quoting
 */
export const join = (argv: ReadonlyArray<string>): string => argv.map(quote).join(" ")

/**
 * The directories whose programs are the standard ones: a path-qualified program elsewhere
 * (`/tmp/evil/bash`) is not taken for the program of the same name.
 *
 * @since 0.2.0
 * @category programs
 */
export const standardDirectories: ReadonlySet<string> = new Set([
  "/bin",
  "/usr/bin",
  "/usr/local/bin",
  "/sbin",
  "/usr/sbin",
  "/usr/local/sbin"
])

/**
 * The name of a program word and whether it is the standard program of that name: a bare name (found on
 * `PATH`) or one in a standard directory (`/bin/rm`, `/usr/bin//rm`, `/usr/bin/../bin/rm`).
 *
 * @since 0.2.0
 * @category programs
 */
export const programName = (word: string): { readonly name: string; readonly standard: boolean } => {
  if (!word.includes("/")) return { name: word, standard: true }
  const parts: Array<string> = []
  for (const part of word.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") parts.pop()
    else parts.push(part)
  }
  const name = parts.pop() ?? ""
  const directory = `/${parts.join("/")}`
  return { name, standard: word.startsWith("/") && standardDirectories.has(directory) }
}

const displayShells = new Set(["sh", "bash", "zsh", "dash"])

/**
 * How a command reads best: the script of a standard shell's `sh -c SCRIPT` / `bash -lc SCRIPT` call, else
 * the quoted argv (so `/tmp/evil/bash -c 'ls'` is shown with its path).
 *
 * @since 0.2.0
 * @category display
 */
export const display = (argv: ReadonlyArray<string>): string => {
  const [program, flag, script] = argv
  if (program !== undefined && argv.length === 3 && (flag === "-c" || flag === "-lc") && script !== undefined) {
    const { name, standard } = programName(program)
    if (standard && displayShells.has(name)) return script
  }
  return join(argv)
}

/**
 * The argv of a command string (the Codex app-server's display of the real argv): its words, or
 * `["bash", "-lc", command]` when it cannot be split (an open quote) or is empty.
 *
 * @since 0.2.0
 * @category splitting
 */
export const toArgv = (command: string): Array<string> => {
  const words = split(command)
  return isSplitError(words) || words.length === 0 ? ["bash", "-lc", command] : words
}
