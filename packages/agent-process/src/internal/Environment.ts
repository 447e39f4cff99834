/**
 * The environment a child process gets.
 */

/** Names passed from the parent's environment by default; `LC_*` are passed too. */
export const defaultAllowList: ReadonlyArray<string> = ["PATH", "HOME", "LANG", "TERM", "TMPDIR", "USER", "SHELL", "TZ"]

const allowed = new Set(defaultAllowList)

/**
 * The parent's variables (all of them with `inherit`, else the allow-list), then the trace context, then
 * the caller's own variables: later ones win.
 */
export const childEnvironment = (options: {
  readonly parent: NodeJS.ProcessEnv
  readonly inherit: boolean
  readonly trace: Readonly<Record<string, string>>
  readonly extra: ReadonlyArray<Readonly<Record<string, string>> | undefined>
}): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(options.parent)) {
    if (value !== undefined && (options.inherit || allowed.has(name) || name.startsWith("LC_"))) env[name] = value
  }
  Object.assign(env, options.trace)
  for (const extra of options.extra) if (extra) Object.assign(env, extra)
  return env
}
