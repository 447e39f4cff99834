/**
 * A scratch overlay of a Codex home, so that Codex changes nothing in the user's `config.toml` unasked
 * (the app-server appends `[projects."<cwd>"] trust_level = "trusted"` for a git cwd when a thread starts
 * with a writable sandbox, and no `-c` override stops it: measured on 0.169.0 and 0.171.0).
 *
 * The overlay is a scratch directory holding a byte copy of `config.toml` and a symbolic link to every
 * other entry of the real home (`auth.json`, `sessions`, `rules`, `skills`…), so logins, stored threads and
 * rules are the user's own. Codex's state databases (`*.sqlite`) are not shared: they record rollout paths
 * as Codex saw them, under an overlay that is gone after the run (Codex then finds a thread to resume by
 * scanning `sessions`). Whatever Codex writes into the copy of `config.toml` is dropped with the overlay.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { remove, track } from "./scratchDirs.js"

/** What the child runs with, and how paths Codex reports through the overlay map back to the real home. */
export interface Overlay {
  /** Variables to add to the child's environment (`CODEX_HOME`, and `CODEX_SQLITE_HOME` with it). */
  readonly env: Readonly<Record<string, string>>
  /** A path under the overlay as the same path under the real home (others unchanged). */
  readonly toReal: (file: string) => string
  /**
   * For a stored thread: links `sessions` to the real home's, creating it there when missing. Called once
   * the thread is about to start (so a spawn that fails before changes nothing).
   */
  readonly ensureSessions: () => void
}

/** No overlay: the home as it is. */
export const none: Overlay = { env: {}, toReal: (file) => file, ensureSessions: () => undefined }

/** Codex's state databases: they record the paths of rollouts as Codex saw them (under the overlay). */
const privateEntry = /\.sqlite(-wal|-shm)?$/

/**
 * Directories Codex made in the overlay because the real home had none, that hold what the parent asked
 * Codex to keep: `rules` (Codex's `default.rules`, where an "approve and remember" answered with Codex's own
 * amendment, `acceptWithExecpolicyAmendment` or `applyNetworkPolicyAmendment`, is written). Copied to the real
 * home, as Codex would have made them there: the rule is kept whether or not the home had `rules` before
 * (a home that has it is linked, and the rule is written through the link).
 */
const keptDirectories = ["rules"]

/**
 * Files Codex replaced instead of writing through the link (a write to a temporary file renamed over it,
 * as a refreshed `auth.json` may be): copied back to the real home, so a rotated login is not lost.
 * with the real file's mode. `config.toml` (a copy from the start) never is.
 */
const writeBack = (dir: string, realDir: string): void => {
  for (const entry of keptDirectories) {
    const overlaid = path.join(dir, entry)
    const real = path.join(realDir, entry)
    if (fs.lstatSync(overlaid, { throwIfNoEntry: false })?.isDirectory() !== true || fs.existsSync(real)) continue
    fs.cpSync(overlaid, real, { recursive: true, errorOnExist: true, force: false })
  }
  for (const entry of fs.readdirSync(dir)) {
    if (entry === "config.toml" || privateEntry.test(entry)) continue
    const overlaid = path.join(dir, entry)
    const real = path.join(realDir, entry)
    const stat = fs.lstatSync(overlaid)
    if (!stat.isFile() || !fs.existsSync(real)) continue
    const temporary = `${real}.deputy-${process.pid}`
    fs.copyFileSync(overlaid, temporary)
    // The real file's mode, never the replacement's: a login stays as private as it was.
    fs.chmodSync(temporary, fs.statSync(real).mode & 0o777)
    fs.renameSync(temporary, real)
  }
}

/**
 * Where overlays are made: the real home's own scratch directory (`tmp`, where Codex keeps its helper links),
 * else the system's temporary directory. Not the temporary directory first: Codex refuses to make its
 * `codex-linux-sandbox` helper link under it, without which a system bubblewrap older than 0.9 (no `--argv0`,
 * e.g. Debian 12's 0.8.0) starts no sandboxed command; and `/tmp` is writable inside Codex's sandbox.
 */
const overlayParent = (realDir: string): { readonly dir: string; readonly made: boolean } => {
  const scratch = path.join(realDir, "tmp")
  try {
    const made = !fs.existsSync(scratch)
    if (made) fs.mkdirSync(scratch, { mode: 0o700 })
    return { dir: scratch, made }
  } catch {
    return { dir: os.tmpdir(), made: false }
  }
}

const overlayName = /^deputy-overlay-(\d+)-/

/** Removes the overlays left in `parent` by `deputy` processes that are gone (killed before their cleanup). */
const sweep = (parent: string): void => {
  for (const entry of fs.readdirSync(parent)) {
    const pid = Number(overlayName.exec(entry)?.[1])
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      process.kill(pid, 0)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ESRCH") remove(path.join(parent, entry))
    }
  }
}

const isDirectory = (dir: string): boolean => {
  try {
    return fs.statSync(dir).isDirectory()
  } catch {
    return false
  }
}

/**
 * The Codex home a child with this environment would use (`CODEX_HOME`, else `~/.codex`), overlaid for as
 * long as the scope lives. A home that does not exist is left as it is (Codex reports it, or creates it).
 * `persistent`: the thread is stored (see `ensureSessions`).
 */
export const make = (
  env: Readonly<Record<string, string>>,
  persistent: boolean
): Effect.Effect<Overlay, string, Scope.Scope> =>
  Effect.suspend(() => {
    const real = env.CODEX_HOME ?? path.join(env.HOME ?? os.homedir(), ".codex")
    if (!isDirectory(real)) return Effect.succeed(none)
    const realDir = fs.realpathSync(real)
    return Effect.flatMap(
      Effect.acquireRelease(
        Effect.try({
          try: () => {
            const parent = overlayParent(realDir)
            sweep(parent.dir)
            // Removing the overlay removes its links, never what they point to.
            const dir = track(fs.mkdtempSync(path.join(parent.dir, `deputy-overlay-${process.pid}-`)))
            return { dir, parent }
          },
          catch: (error) => `could not make an overlay of the Codex home ${realDir}: ${String(error)}`
        }),
        ({ dir, parent }) =>
          Effect.sync(() => {
            writeBack(dir, realDir)
            remove(dir)
            if (parent.made) {
              try {
                fs.rmdirSync(parent.dir)
              } catch {
                // not empty: Codex keeps its helper links there now (as it does without Deputy)
              }
            }
          }).pipe(Effect.catchAllDefect(Effect.logWarning))
      ),
      ({ dir }) =>
        Effect.try({
          try: (): Overlay => {
            for (const entry of fs.readdirSync(realDir)) {
              const source = path.join(realDir, entry)
              if (entry === "config.toml") fs.copyFileSync(source, path.join(dir, entry))
              else if (!privateEntry.test(entry)) fs.symlinkSync(source, path.join(dir, entry))
            }
            const prefix = dir + path.sep
            return {
              env: { CODEX_HOME: dir, CODEX_SQLITE_HOME: dir },
              toReal: (file) =>
                file === dir ? realDir : file.startsWith(prefix) ? path.join(realDir, file.slice(prefix.length)) : file,
              ensureSessions: () => {
                // Where Codex stores threads: the real home's, created there when missing (as Codex would).
                const overlaid = path.join(dir, "sessions")
                if (!persistent || fs.existsSync(overlaid)) return
                const real = path.join(realDir, "sessions")
                fs.mkdirSync(real, { recursive: true, mode: 0o700 })
                fs.symlinkSync(real, overlaid)
              }
            }
          },
          catch: (error) => `could not overlay the Codex home ${realDir}: ${String(error)}`
        })
    )
  })
