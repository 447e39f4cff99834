import { execFileSync } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/**
 * The end-to-end tests run the `deputy` bin, which runs the compiled program: bring the build up to date
 * first (a no-op when it is).
 */
export default function setup() {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..")
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  execFileSync(process.execPath, [tsc, "-b", "packages/cli/tsconfig.src.json"], { cwd: root, stdio: "inherit" })
}
