/**
 * Runs one benchmark section in this process (spawned by `main.ts`, one fresh process per section, so the
 * heap and JIT state of one section never skew another). The result is the last stdout line, after a marker.
 *
 *   node --expose-gc build/section.js <section> [--quick] [--runs=N]
 */
import type { SectionResult, Size } from "./stats.js"

export const resultMarker = "@@deputy-bench-result "

const sections: Record<string, () => Promise<{ run: (size: Size) => Promise<SectionResult> }>> = {
  forwarding: () => import("./forwarding.js"),
  approval: () => import("./approval.js"),
  shutdown: () => import("./shutdown.js"),
  scale: () => import("./scale.js"),
  codex: () => import("./codex.js"),
  cliStartup: () => import("./cliStartup.js"),
  web: () => import("./web.js"),
  codexFailFast: () => import("./codexFailFast.js"),
  supervisor: () => import("./supervisor.js"),
  codexTree: () => import("./codexTree.js"),
  ledger: () => import("./ledger.js"),
  paths: () => import("./paths.js")
}

export const sectionNames = Object.keys(sections)

const main = async () => {
  const [name, ...flags] = process.argv.slice(2)
  const load = sections[name]
  if (load === undefined) throw new Error(`unknown section ${name}; known: ${sectionNames.join(", ")}`)
  const quick = flags.includes("--quick")
  const runsFlag = flags.find((flag) => flag.startsWith("--runs="))
  const runs = runsFlag === undefined ? (quick ? 2 : 5) : Number(runsFlag.slice("--runs=".length))
  const size: Size = { quick, warmups: 1, runs }
  const result = await (await load()).run(size)
  process.stdout.write(`\n${resultMarker}${JSON.stringify(result)}\n`)
}

if (process.argv[1]?.endsWith("section.js")) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
      process.exit(1)
    }
  )
}
