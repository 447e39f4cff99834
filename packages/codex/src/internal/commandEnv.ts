/**
 * What the commands Codex runs inherit from Codex's own environment. Codex (0.169, 0.171) gives its commands
 * its whole environment unless `shell_environment_policy` says otherwise, and Codex itself needs the
 * parent's `OPENAI_*` / `CODEX_*` variables (its model key among them): so every such variable that came
 * from the parent by those prefixes (not one the caller passed on purpose) is excluded from the commands,
 * by name, added to the `shell_environment_policy.exclude` of the user's `config.toml` (which `-c` would
 * otherwise replace).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parse } from "smol-toml"

/** A name Codex's exclude patterns match as itself (no wildcard characters). */
const plainName = /^[A-Za-z_][A-Za-z0-9_]*$/

/** The `shell_environment_policy.exclude` patterns of a `config.toml`, or none (missing, unreadable, invalid). */
export const configuredExcludes = (configFile: string): ReadonlyArray<string> => {
  let text: string
  try {
    text = fs.readFileSync(configFile, "utf8")
  } catch {
    return []
  }
  try {
    const policy = (parse(text) as { shell_environment_policy?: { exclude?: unknown } }).shell_environment_policy
    const exclude = policy?.exclude
    return Array.isArray(exclude) ? exclude.filter((item): item is string => typeof item === "string") : []
  } catch {
    // Codex refuses such a file itself, and says why.
    return []
  }
}

/** The `config.toml` a Codex with this environment reads (`CODEX_HOME`, else `~/.codex`). */
export const configFileOf = (env: Readonly<Record<string, string>>): string =>
  path.join(env.CODEX_HOME ?? path.join(env.HOME ?? os.homedir(), ".codex"), "config.toml")

/**
 * Codex's environment without the prefixed variables no exclude pattern could name (dropped: fail
 * closed), and the `-c` arguments that keep the rest of the prefixed ones from its commands.
 * `explicit`: the names the caller passed on purpose (kept, for Codex and its commands alike).
 */
export const commandEnvPolicy = (options: {
  readonly env: Readonly<Record<string, string>>
  readonly prefixes: ReadonlyArray<string>
  readonly explicit: ReadonlySet<string>
  readonly configFile: string
}): { readonly env: Record<string, string>; readonly args: ReadonlyArray<string> } => {
  const env: Record<string, string> = {}
  const excluded: Array<string> = []
  for (const [name, value] of Object.entries(options.env)) {
    const prefixed = !options.explicit.has(name) && options.prefixes.some((prefix) => name.startsWith(prefix))
    if (!prefixed) env[name] = value
    else if (plainName.test(name)) {
      env[name] = value
      excluded.push(name)
    }
  }
  if (excluded.length === 0) return { env, args: [] }
  const patterns = [...new Set([...configuredExcludes(options.configFile), ...excluded.sort()])]
  return { env, args: ["-c", `shell_environment_policy.exclude=${JSON.stringify(patterns)}`] }
}
