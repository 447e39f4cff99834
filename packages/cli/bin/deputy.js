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
// Help, the version and usage errors are answered without loading the program (fast, small).
const { check, seeHelp } = await import(new URL("../build/src/internal/commandLine.js", import.meta.url).href)
const checked = check(process.argv.slice(2))
// `deputy --help | head -1`: a reader that goes away needs no stack trace.
if (checked._tag !== "Valid") process.stdout.on("error", () => {})
if (checked._tag === "Help") {
  process.stdout.write(`${checked.text}\n`)
} else if (checked._tag === "Version") {
  const { version } = await import(new URL("../build/src/Version.js", import.meta.url).href)
  process.stdout.write(`${version}\n`)
} else if (checked._tag === "Invalid") {
  process.stderr.write(`deputy: ${checked.message}\n${seeHelp(checked.command)}\n`)
  process.exitCode = 2
} else {
  const { main } = await import(entry.href)
  main(process.argv)
}
