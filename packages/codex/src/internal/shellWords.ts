/**
 * Splits a command line into words the way a POSIX shell reads quotes, so the app-server's display string
 * (Codex joins the real argv with shell quoting: `/bin/bash -lc 'echo hi > a.txt'`) becomes that argv again.
 */

/**
 * The words of `text` (single quotes literal, double quotes with `\` escapes, `\` outside quotes), or
 * `undefined` when a quote is left open.
 */
export const split = (text: string): Array<string> | undefined => {
  const words: Array<string> = []
  let word = ""
  let inWord = false
  let i = 0
  while (i < text.length) {
    const char = text[i]!
    if (char === "'") {
      const end = text.indexOf("'", i + 1)
      if (end === -1) return undefined
      word += text.slice(i + 1, end)
      inWord = true
      i = end + 1
    } else if (char === "\"") {
      i += 1
      let closed = false
      while (i < text.length) {
        const inner = text[i]!
        if (inner === "\"") {
          closed = true
          i += 1
          break
        }
        if (inner === "\\" && i + 1 < text.length && "\"\\$`\n".includes(text[i + 1]!)) {
          word += text[i + 1]
          i += 2
        } else {
          word += inner
          i += 1
        }
      }
      if (!closed) return undefined
      inWord = true
    } else if (char === "\\" && i + 1 < text.length) {
      word += text[i + 1]
      inWord = true
      i += 2
    } else if (char === " " || char === "\t" || char === "\n") {
      if (inWord) words.push(word)
      word = ""
      inWord = false
      i += 1
    } else {
      word += char
      inWord = true
      i += 1
    }
  }
  if (inWord) words.push(word)
  return words
}

/**
 * The argv of an app-server command string: its shell words, or `["bash", "-lc", command]` when it cannot be
 * split (an open quote) or is empty.
 */
export const toArgv = (command: string): Array<string> => {
  const words = split(command)
  return words === undefined || words.length === 0 ? ["bash", "-lc", command] : words
}
