/**
 * A shell-style glob as an anchored regular expression: `**` spans directories, `*` and `?` do not.
 * `**\/` also matches no directory at all, so `**\/*.md` matches `README.md`.
 */
export const globToRegExp = (glob: string): RegExp => {
  let source = ""
  for (let index = 0; index < glob.length; index++) {
    const char = glob[index]!
    if (char === "*" && glob[index + 1] === "*") {
      const slash = glob[index + 2] === "/"
      source += slash ? "(?:.*/)?" : ".*"
      index += slash ? 2 : 1
    } else if (char === "*") {
      source += "[^/]*"
    } else if (char === "?") {
      source += "[^/]"
    } else {
      source += /[\\^$.|+()[\]{}]/.test(char) ? `\\${char}` : char
    }
  }
  return new RegExp(`^${source}$`)
}
