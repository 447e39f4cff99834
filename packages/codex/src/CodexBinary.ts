/**
 * Finding the Codex executable: an explicit path, else `codex` on `PATH`, else the native binary of the
 * pinned `@openai/codex` dependency.
 *
 * @since 0.1.0
 */
import { Errors } from "@deputy/core"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"

/**
 * Where the binary was found.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly path: string
  readonly source: "explicit" | "path" | "bundled"
}

/**
 * The npm package and Rust target triple holding the native binary for a platform (as `@openai/codex`'s own
 * `bin/codex.js` maps them), or `undefined` for a platform Codex does not ship.
 *
 * @since 0.1.0
 * @category utils
 */
export const nativePackage = (
  platform: string = process.platform,
  arch: string = process.arch
): { readonly name: string; readonly triple: string; readonly executable: string } | undefined => {
  const table: Record<string, readonly [string, string]> = {
    "linux-x64": ["@openai/codex-linux-x64", "x86_64-unknown-linux-musl"],
    "android-x64": ["@openai/codex-linux-x64", "x86_64-unknown-linux-musl"],
    "linux-arm64": ["@openai/codex-linux-arm64", "aarch64-unknown-linux-musl"],
    "android-arm64": ["@openai/codex-linux-arm64", "aarch64-unknown-linux-musl"],
    "darwin-x64": ["@openai/codex-darwin-x64", "x86_64-apple-darwin"],
    "darwin-arm64": ["@openai/codex-darwin-arm64", "aarch64-apple-darwin"],
    "win32-x64": ["@openai/codex-win32-x64", "x86_64-pc-windows-msvc"],
    "win32-arm64": ["@openai/codex-win32-arm64", "aarch64-pc-windows-msvc"]
  }
  const entry = table[`${platform}-${arch}`]
  return entry === undefined
    ? undefined
    : { name: entry[0], triple: entry[1], executable: platform === "win32" ? "codex.exe" : "codex" }
}

const isExecutable = (file: string): boolean => {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/**
 * `@openai/codex`'s own launcher (`bin/codex.js`, what `node_modules/.bin/codex` links to): it only starts
 * the native binary through an extra Node process, so it is skipped in favour of that binary.
 */
const isNpmLauncher = (file: string): boolean => {
  try {
    return fs.realpathSync(file).replace(/\\/g, "/").endsWith("/@openai/codex/bin/codex.js")
  } catch {
    return false
  }
}

const onPath = (pathVariable: string | undefined): string | undefined => {
  const names = process.platform === "win32" ? ["codex.exe", "codex.cmd", "codex"] : ["codex"]
  for (const dir of (pathVariable ?? "").split(path.delimiter)) {
    if (dir === "") continue
    for (const name of names) {
      const candidate = path.join(dir, name)
      if (isExecutable(candidate) && !isNpmLauncher(candidate)) return candidate
    }
  }
  return undefined
}

/**
 * The `@openai/codex` package Deputy pins (`bundledVersion`), and the older one kept installable under an npm
 * alias for the tests of both (`"@openai/codex-0169": "npm:@openai/codex@0.169.0"`).
 *
 * @since 0.2.0
 * @category constants
 */
export const bundledPackages = {
  "0.171.0": "@openai/codex",
  "0.169.0": "@openai/codex-0169"
} as const

/**
 * The version of `@openai/codex` Deputy pins: the bundled binary when none is configured or on `PATH`.
 *
 * @since 0.2.0
 * @category constants
 */
export const bundledVersion = "0.171.0" as const

/**
 * Where the native binary of an installed `@openai/codex` package (or an npm alias of it) is: its
 * per-platform package is resolved from the launcher package's own directory, so an alias finds its own
 * nested copy (`node_modules/@openai/codex-0169/node_modules/@openai/codex-linux-x64`) and not the hoisted one.
 */
const bundledIn = (launcher: string): { readonly found?: string; readonly looked: string } => {
  const target = nativePackage()
  if (target === undefined) return { looked: `no @openai/codex build for ${process.platform}-${process.arch}` }
  let packageJson: string
  try {
    const launcherJson = createRequire(import.meta.url).resolve(`${launcher}/package.json`)
    packageJson = createRequire(launcherJson).resolve(`${target.name}/package.json`)
  } catch {
    return { looked: `the npm package ${target.name} of ${launcher} (not installed)` }
  }
  const binary = path.join(path.dirname(packageJson), "vendor", target.triple, "bin", target.executable)
  return isExecutable(binary) ? { found: binary, looked: binary } : { looked: `${binary} (missing)` }
}

const bundled = () => bundledIn(bundledPackages[bundledVersion])

/**
 * The native binary of one of the bundled Codex versions (`bundledPackages`), ignoring `PATH`: what the tests
 * run each version with.
 *
 * @since 0.2.0
 * @category constructors
 */
export const bundledBinary = (
  version: keyof typeof bundledPackages = bundledVersion
): Effect.Effect<Resolved, Errors.SpawnError> =>
  Effect.suspend(() => {
    const found = bundledIn(bundledPackages[version])
    return found.found !== undefined
      ? Effect.succeed<Resolved>({ path: found.found, source: "bundled" })
      : Effect.fail(
        new Errors.SpawnError({ agent: "codex", reason: `no bundled Codex ${version}: looked for ${found.looked}` })
      )
  })

/**
 * Finds the Codex executable: `explicit` if given (it must exist), else the first `codex` on `PATH`
 * (skipping `@openai/codex`'s Node launcher), else the native binary shipped in the pinned
 * `@openai/codex-<platform>` package. Fails with a `SpawnError` that lists where it looked.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (
  explicit?: string | undefined,
  pathVariable: string | undefined = process.env.PATH
): Effect.Effect<Resolved, Errors.SpawnError> =>
  Effect.suspend(() => {
    if (explicit !== undefined) {
      return isExecutable(explicit)
        ? Effect.succeed<Resolved>({ path: explicit, source: "explicit" })
        : Effect.fail(
          new Errors.SpawnError({
            agent: "codex",
            reason: `the configured Codex binary ${explicit} does not exist or is not executable`
          })
        )
    }
    const fromPath = onPath(pathVariable)
    if (fromPath !== undefined) return Effect.succeed<Resolved>({ path: fromPath, source: "path" })
    const fromPackage = bundled()
    if (fromPackage.found !== undefined) return Effect.succeed<Resolved>({ path: fromPackage.found, source: "bundled" })
    return Effect.fail(
      new Errors.SpawnError({
        agent: "codex",
        reason: `no Codex binary found: looked for \`codex\` on PATH and for ${fromPackage.looked}. ` +
          `Install it with \`npm install @openai/codex@${bundledVersion}\` (or put \`codex\` on PATH, or pass its path)`
      })
    )
  })
