/**
 * CLI start-up: wall time and peak RSS of `deputy --help` next to `node -e 0` in the same run (the floor
 * any Node program pays), median of N. Each child reports its own peak RSS (`process.resourceUsage`) at
 * exit through a preloaded script, so both are measured the same way.
 *
 *   node scripts/bench/build/cliStartup.js [--quick]   (also a section of main.js once registered)
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { check, median, type SectionResult, series, type Size } from "./stats.js"

const bin = fileURLToPath(new URL("../../../packages/cli/bin/deputy.js", import.meta.url))

/** Runs `node ARGS` once: wall ms and the child's peak RSS in bytes. */
const once = (preload: string, args: ReadonlyArray<string>) => {
  const started = performance.now()
  const result = spawnSync(process.execPath, ["--require", preload, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8"
  })
  const wallMs = performance.now() - started
  check(result.status === 0, `node ${args.join(" ")} exited with ${result.status}: ${result.stderr}`)
  const rss = /@@maxrss (\d+)/.exec(result.stderr)
  check(rss !== null, `no peak RSS reported by node ${args.join(" ")}`)
  return { wallMs, rssBytes: Number(rss![1]) * 1024, stdout: result.stdout }
}

export const run = async (size: Size): Promise<SectionResult> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-bench-startup-"))
  try {
    const preload = path.join(dir, "maxrss.cjs")
    fs.writeFileSync(
      preload,
      "process.on('exit', () => process.stderr.write(`@@maxrss ${process.resourceUsage().maxRSS}\\n`))\n"
    )
    const samples = size.quick ? 5 : 15
    const metrics = await series(size, async () => {
      const node: Array<ReturnType<typeof once>> = []
      const help: Array<ReturnType<typeof once>> = []
      // Interleaved, so that a busy moment of the machine falls on both.
      for (let i = 0; i < samples; i++) {
        node.push(once(preload, ["-e", "0"]))
        help.push(once(preload, [bin, "--help"]))
      }
      check(help[0].stdout.includes("USAGE"), "deputy --help printed its help")
      const helpMs = median(help.map((sample) => sample.wallMs))
      const nodeMs = median(node.map((sample) => sample.wallMs))
      return {
        helpMs,
        nodeMs,
        helpOverNodeMs: helpMs - nodeMs,
        helpRssBytes: median(help.map((sample) => sample.rssBytes)),
        nodeRssBytes: median(node.map((sample) => sample.rssBytes))
      }
    })
    return {
      metrics,
      notes: [`cliStartup: median of ${samples} interleaved runs of each per series; targets: ≤ 120 ms, ≤ 60 MiB`]
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1]?.endsWith("cliStartup.js")) {
  const quick = process.argv.includes("--quick")
  run({ quick, warmups: 1, runs: quick ? 2 : 3 }).then((result) => {
    for (const [key, values] of Object.entries(result.metrics)) {
      const unit = key.endsWith("Bytes") ? "MiB" : "ms"
      const show = (value: number) => unit === "MiB" ? (value / 1024 / 1024).toFixed(1) : value.toFixed(1)
      process.stdout.write(`${key}: median ${show(median(values))} ${unit} (runs: ${values.map(show).join(", ")})\n`)
    }
  }, (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  })
}
