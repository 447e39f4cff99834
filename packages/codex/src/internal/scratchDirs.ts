/**
 * Temporary directories of this process that must not outlive it (scratch Codex homes, overlays): each is
 * removed by its scope, and whatever a scope did not remove goes when the process exits.
 */
import * as fs from "node:fs"

const live = new Set<string>()
let exitHook = false

/** Removes a directory now (retried: a Codex still being stopped may write into it, ENOTEMPTY). */
export const remove = (dir: string): void => {
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 })
  live.delete(dir)
}

/** Registers a directory to be removed at process exit unless `remove` ran first. */
export const track = (dir: string): string => {
  live.add(dir)
  if (!exitHook) {
    exitHook = true
    process.once("exit", () => {
      for (const dir of live) {
        try {
          remove(dir)
        } catch {
          // nothing more can be done at exit
        }
      }
    })
  }
  return dir
}
