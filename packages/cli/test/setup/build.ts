import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/**
 * The end-to-end tests run the `deputy` bin, which runs the compiled program: bring the build up to date
 * first (a no-op when it is) and bundle it. Also makes the one `DEPUTY_HOME` every run of this test process
 * uses (never the real ~/.deputy), removed at the end: a worker's own exit handler does not run when vitest
 * stops it.
 */
export default function setup() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-cli-test-home-"))
  process.env.DEPUTY_CLI_TEST_HOME = home
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..")
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  execFileSync(process.execPath, [tsc, "-b", "packages/cli/tsconfig.src.json"], { cwd: root, stdio: "inherit" })
  // The bin runs the bundle when it is up to date: the tests run what users run.
  execFileSync(process.execPath, ["packages/cli/scripts/bundle.mjs"], { cwd: root, stdio: "inherit" })
  return () => fs.rmSync(home, { recursive: true, force: true })
}
