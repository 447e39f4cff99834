#!/usr/bin/env node
// The `deputy` command: runs the compiled program in ../build (made by `tsc -b` at the repository root).
import { existsSync } from "node:fs"

const entry = new URL("../build/src/Main.js", import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write(
    "deputy: the CLI is not built yet (missing packages/cli/build/src/Main.js).\n" +
      "Build it from the repository root with `npm run build` (or `npx tsc -b`), then try again.\n"
  )
  process.exit(1)
}
const { main } = await import(entry.href)
main(process.argv)
