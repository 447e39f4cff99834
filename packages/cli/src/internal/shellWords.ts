/**
 * Splitting a command line into words and quoting words back, the way a POSIX shell reads them (without
 * expansions): single quotes, double quotes with `\` escapes, and `\` outside quotes.
 */

/** Why a command line could not be split. */
export interface SplitError {
  readonly problem: string
}

/** The words of a command line, or what is wrong with it (an unclosed quote, a trailing `\`). */
export const split = (line: string): Array<string> | SplitError => {
  const words: Array<string> = []
  let word = ""
  let inWord = false
  let quote: "'" | "\"" | undefined
  for (let index = 0; index < line.length; index++) {
    const char = line[index]
    if (quote === "'") {
      if (char === "'") quote = undefined
      else word += char
      continue
    }
    if (quote === "\"") {
      if (char === "\"") quote = undefined
      else if (char === "\\" && index + 1 < line.length && "\"\\$`".includes(line[index + 1])) word += line[++index]
      else word += char
      continue
    }
    if (char === "'" || char === "\"") {
      quote = char
      inWord = true
    } else if (char === "\\") {
      if (index + 1 >= line.length) return { problem: "it ends with a lone \\" }
      word += line[++index]
      inWord = true
    } else if (/\s/.test(char)) {
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

/** A word as a shell would need it: unchanged when it is safe, else in single quotes. */
export const quote = (word: string): string =>
  word !== "" && /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`

/** An argv as one line a person could paste into a shell. */
export const join = (argv: ReadonlyArray<string>): string => argv.map(quote).join(" ")

const shells = new Set(["sh", "bash", "zsh", "dash"])

/**
 * How a command reads best: the script of a `sh -c SCRIPT` / `bash -lc SCRIPT` call, or the quoted argv.
 */
export const display = (argv: ReadonlyArray<string>): string => {
  const [program, flag, script] = argv
  const base = program?.split("/").pop() ?? ""
  if (argv.length === 3 && shells.has(base) && (flag === "-c" || flag === "-lc") && script !== undefined) {
    return script
  }
  return join(argv)
}
