#!/usr/bin/env node
// The `deputy` command: runs the compiled program in ../build (made by `tsc -b` at the repository root), bundled
// into one file by `npm run bundle` (scripts/bundle.mjs) when that bundle is up to date: it loads ≈4 times faster.
import { existsSync, readFileSync, statSync } from "node:fs"

const build = new URL("../build/", import.meta.url)
const entry = new URL("src/Main.js", build)
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
  const { main } = await import(program().href)
  main(process.argv)
}

/** The bundle, unless it is missing or older than a file it was made from (then the unbundled build). */
function program() {
  const bundle = new URL("deputy.mjs", build)
  try {
    const made = statSync(bundle).mtimeMs
    const { inputs } = JSON.parse(readFileSync(new URL("deputy.inputs.json", build), "utf8"))
    const newer = (input) => {
      try {
        return statSync(new URL(input, build)).mtimeMs > made
      } catch {
        return false
      }
    }
    return inputs.some(newer) ? entry : bundle
  } catch {
    return entry
  }
}
