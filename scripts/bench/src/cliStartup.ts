/**
 * CLI start-up: wall time and peak RSS of `deputy --help` next to `node -e 0` in the same run (the floor
 * any Node program pays), median of N. Each child reports its own peak RSS (`process.resourceUsage`) at
 * exit through a preloaded script, so both are measured the same way (Codex's own memory is not in it).
 * Also `deputy run` with the real Codex and no credentials (a scratch HOME, CODEX_HOME and DEPUTY_HOME, no
 * API key) until it exits 1 saying `codex login`, through the bin (the bundle, made fresh first) and through
 * the unbundled build (build/src/Main.js, what the bin ran before); and the import time of each.
 *
 *   node scripts/bench/build/cliStartup.js [--quick]   (also a section of main.js once registered)
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { check, median, type SectionResult, series, type Size } from "./stats.js"

const cli = fileURLToPath(new URL("../../../packages/cli/", import.meta.url))
const bin = path.join(cli, "bin", "deputy.js")
const bundle = path.join(cli, "build", "deputy.mjs")
const unbundled = path.join(cli, "build", "src", "Main.js")

/** Runs `node ARGS` once: wall ms and the child's peak RSS in bytes. */
const once = (
  preload: string,
  args: ReadonlyArray<string>,
  options: { readonly status?: number; readonly env?: NodeJS.ProcessEnv; readonly cwd?: string } = {}
) => {
  const started = performance.now()
  const result = spawnSync(process.execPath, ["--require", preload, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
    env: options.env,
    cwd: options.cwd
  })
  const wallMs = performance.now() - started
  const status = options.status ?? 0
  check(result.status === status, `node ${args.join(" ")} exited with ${result.status}: ${result.stderr}`)
  const rss = /@@maxrss (\d+)/.exec(result.stderr)
  check(rss !== null, `no peak RSS reported by node ${args.join(" ")}`)
  return { wallMs, rssBytes: Number(rss![1]) * 1024, stdout: result.stdout, stderr: result.stderr }
}

/** `node -e` that imports `file` and prints how long the import took. */
const importTime = (preload: string, file: string) => {
  const sample = once(preload, [
    "--input-type=module",
    "-e",
    `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); ` +
    "process.stdout.write(String(performance.now() - t))"
  ])
  return Number(sample.stdout)
}

export const run = async (size: Size): Promise<SectionResult> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-bench-startup-"))
  try {
    const preload = path.join(dir, "maxrss.cjs")
    fs.writeFileSync(
      preload,
      "process.on('exit', () => process.stderr.write(`@@maxrss ${process.resourceUsage().maxRSS}\\n`))\n"
    )
    // The bin runs the bundle only when it is newer than the build: make it so, to measure this tree's code.
    const bundled = spawnSync(process.execPath, [path.join(cli, "scripts", "bundle.mjs")], { encoding: "utf8" })
    check(bundled.status === 0, `the bundle could not be made: ${bundled.stderr}`)
    for (const made of ["home", "codex-home", "work"]) fs.mkdirSync(path.join(dir, made))
    const bare: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: path.join(dir, "home"),
      CODEX_HOME: path.join(dir, "codex-home"),
      DEPUTY_HOME: path.join(dir, "home", ".deputy")
    }
    const noCredentials = (program: ReadonlyArray<string>) => {
      const sample = once(preload, [...program, "run", "say hi"], { status: 1, env: bare, cwd: path.join(dir, "work") })
      check(sample.stderr.includes("codex login"), `deputy run without credentials said: ${sample.stderr}`)
      return sample
    }
    const viaUnbundled = [
      "--input-type=module",
      "-e",
      `const { main } = await import(${JSON.stringify(pathToFileURL(unbundled).href)}); ` +
      "main([process.argv[0], \"deputy\", ...process.argv.slice(1)])"
    ]
    const samples = size.quick ? 5 : 15
    const runSamples = size.quick ? 3 : 7
    const metrics = await series(size, async () => {
      const node: Array<ReturnType<typeof once>> = []
      const help: Array<ReturnType<typeof once>> = []
      // Interleaved, so that a busy moment of the machine falls on both.
      for (let i = 0; i < samples; i++) {
        node.push(once(preload, ["-e", "0"]))
        help.push(once(preload, [bin, "--help"]))
      }
      check(help[0].stdout.includes("USAGE"), "deputy --help printed its help")
      const run: Array<ReturnType<typeof once>> = []
      const runUnbundled: Array<ReturnType<typeof once>> = []
      const importBundle: Array<number> = []
      const importUnbundled: Array<number> = []
      for (let i = 0; i < runSamples; i++) {
        run.push(noCredentials([bin]))
        runUnbundled.push(noCredentials(viaUnbundled))
        importBundle.push(importTime(preload, bundle))
        importUnbundled.push(importTime(preload, unbundled))
      }
      const helpMs = median(help.map((sample) => sample.wallMs))
      const nodeMs = median(node.map((sample) => sample.wallMs))
      return {
        helpMs,
        nodeMs,
        helpOverNodeMs: helpMs - nodeMs,
        helpRssBytes: median(help.map((sample) => sample.rssBytes)),
        nodeRssBytes: median(node.map((sample) => sample.rssBytes)),
        runNoCredentialsMs: median(run.map((sample) => sample.wallMs)),
        runNoCredentialsUnbundledMs: median(runUnbundled.map((sample) => sample.wallMs)),
        runNoCredentialsRssBytes: median(run.map((sample) => sample.rssBytes)),
        runNoCredentialsUnbundledRssBytes: median(runUnbundled.map((sample) => sample.rssBytes)),
        importRunPathMs: median(importBundle),
        importRunPathUnbundledMs: median(importUnbundled)
      }
    })
    return {
      metrics,
      notes: [
        `cliStartup: median of ${samples} interleaved runs of each per series; targets: ≤ 120 ms, ≤ 60 MiB`,
        `cliStartup: deputy run without credentials (real Codex, until its exit 1), median of ${runSamples}; ` +
        "target ≤ 2 s; RSS is deputy's own (not Codex's)"
      ]
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
