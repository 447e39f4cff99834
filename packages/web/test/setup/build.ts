import { execFileSync } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/**
 * The page's script is compiled by tsc (`tsconfig.client.json`): bring it up to date before the tests
 * serve it (a no-op when it is).
 */
export default function setup() {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..")
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  execFileSync(process.execPath, [tsc, "-b", "packages/web/tsconfig.client.json"], { cwd: root, stdio: "inherit" })
}
