/**
 * Deputy's benchmark runner. Runs each section in its own Node process, prints a table of medians with
 * min–max and ratios to the plain baselines, and with `--json` one JSON object as the last stdout line.
 *
 *   node --expose-gc scripts/bench/build/main.js [--quick] [--json] [--only=forwarding,approval] [--runs=N]
 *
 * Exits non-zero when a section throws, fails a correctness check or times out (never because of speed).
 */
import { spawn } from "node:child_process"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { resultMarker, sectionNames } from "./section.js"
import { type SectionResult, summarize } from "./stats.js"

const args = process.argv.slice(2)
const json = args.includes("--json")
const quick = args.includes("--quick")
const only = args.find((arg) => arg.startsWith("--only="))?.slice("--only=".length).split(",")
const runsArg = args.find((arg) => arg.startsWith("--runs="))
const unknown = args.filter((arg) =>
  !["--json", "--quick"].includes(arg) && !arg.startsWith("--only=") && !arg.startsWith("--runs=")
)
if (unknown.length > 0 || only?.some((name) => !sectionNames.includes(name))) {
  process.stderr.write(
    `usage: bench [--quick] [--json] [--only=${sectionNames.join(",")}] [--runs=N]\nunknown: ${
      [...unknown, ...(only ?? []).filter((name) => !sectionNames.includes(name))].join(" ")
    }\n`
  )
  process.exit(2)
}
const selected = only ?? sectionNames
const sectionScript = path.join(path.dirname(fileURLToPath(import.meta.url)), "section.js")
const timeoutMs = quick ? 90_000 : 900_000

type Outcome = { readonly ok: true; readonly result: SectionResult } | { readonly ok: false; readonly error: string }

/** Runs one section in a child process; its non-result stdout goes to our stderr, so stdout stays the report. */
const runSection = (name: string): Promise<Outcome> =>
  new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["--expose-gc", sectionScript, name, ...(quick ? ["--quick"] : []), ...(runsArg ? [runsArg] : [])],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    let out = ""
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (data: string) => {
      out += data
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("error", (error) => {
      clearTimeout(timer)
      resolve({ ok: false, error: `could not start the section: ${error.message}` })
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      const lines = out.split("\n")
      const resultLine = lines.find((line) => line.startsWith(resultMarker))
      const chatter = lines.filter((line) => line.length > 0 && !line.startsWith(resultMarker))
      if (chatter.length > 0) process.stderr.write(`${chatter.map((line) => `  [${name}] ${line}`).join("\n")}\n`)
      if (code === 0 && resultLine !== undefined) {
        resolve({ ok: true, result: JSON.parse(resultLine.slice(resultMarker.length)) as SectionResult })
      } else {
        resolve({
          ok: false,
          error: signal === "SIGKILL"
            ? `timed out after ${timeoutMs / 1000} s`
            : `exited with ${signal ?? `code ${code}`}${resultLine === undefined ? " without a result" : ""}`
        })
      }
    })
  })

// --- formatting ---
type Unit = "rate" | "ratio" | "us" | "ms" | "dms" | "bytes" | "pct" | "mib"
const fmt = (value: number, unit: Unit): string => {
  if (!Number.isFinite(value)) return "–"
  switch (unit) {
    case "rate":
      return value >= 1e6
        ? `${(value / 1e6).toFixed(2)} M`
        : value >= 1e3
        ? `${(value / 1e3).toFixed(0)} k`
        : value.toFixed(0)
    case "ratio":
      return value.toFixed(2)
    case "us":
      return value.toFixed(1)
    case "ms":
      return value >= 100 ? value.toFixed(0) : value.toFixed(2)
    case "bytes":
      return value >= 1e4 ? `${(value / 1024).toFixed(1)} KiB` : `${value.toFixed(0)} B`
    case "dms":
      return `${value >= 0 ? "+" : ""}${value.toFixed(1)} ms`
    case "pct":
      return `${value >= 0 ? "+" : ""}${value.toFixed(1)} %`
    case "mib":
      return `${value.toFixed(0)} MiB`
  }
}

interface Row {
  readonly label: string
  readonly section: string
  readonly key: string
  readonly unit: Unit
  readonly baseline?: { readonly key: string; readonly label: string } | undefined
  /** A third column: a ratio/overhead metric of the same section, or a fixed note. */
  readonly third?: { readonly key: string; readonly unit: Unit } | { readonly text: string } | undefined
}

const rows: ReadonlyArray<Row> = [
  {
    label: "forwarding via TestAgent, events/s",
    section: "forwarding",
    key: "eventsPerSec",
    unit: "rate",
    baseline: { key: "baselineEventsPerSec", label: "plain JS queues" },
    third: { key: "ratio", unit: "ratio" }
  },
  {
    label: "forwarding, batched child, events/s",
    section: "forwarding",
    key: "batchedEventsPerSec",
    unit: "rate",
    baseline: { key: "baselineBatchedEventsPerSec", label: "plain JS, batched" },
    third: { key: "batchedRatio", unit: "ratio" }
  },
  {
    label: "  TestAgent read directly (no delegate)",
    section: "forwarding",
    key: "rawAgentEventsPerSec",
    unit: "rate"
  },
  { label: "approval round trip p50, µs (approve-all)", section: "approval", key: "p50Us", unit: "us" },
  { label: "approval round trip p99, µs (approve-all)", section: "approval", key: "p99Us", unit: "us" },
  { label: "approval round trip p50, µs (inbox + fiber)", section: "approval", key: "inboxP50Us", unit: "us" },
  { label: "approval round trip p99, µs (inbox + fiber)", section: "approval", key: "inboxP99Us", unit: "us" },
  {
    label: "shutdown, idle child acks, ms",
    section: "shutdown",
    key: "idleMs",
    unit: "ms",
    third: { text: "Codex: always 500 ms" }
  },
  {
    label: "  slowest idle shutdown in a run, ms",
    section: "shutdown",
    key: "idleMaxMs",
    unit: "ms",
    baseline: { key: "bareIdleMaxMs", label: "bare fiber in a scope" }
  },
  {
    label: "  idle shutdown p99, ms",
    section: "shutdown",
    key: "idleP99Ms",
    unit: "ms",
    baseline: { key: "bareIdleP99Ms", label: "bare fiber in a scope" }
  },
  {
    label: "shutdown, child never acks, ms",
    section: "shutdown",
    key: "unackedMs",
    unit: "ms",
    baseline: { key: "drainTimeoutMs", label: "drain timeout" },
    third: { key: "unackedOverrunPct", unit: "pct" }
  },
  {
    label: "scale: heap per idle delegate",
    section: "scale",
    key: "bytesPerDelegate",
    unit: "bytes",
    baseline: { key: "baselineBytesPerFiber", label: "bare fiber" },
    third: { key: "bytesRatio", unit: "ratio" }
  },
  { label: "  of which the TestAgent child", section: "scale", key: "bytesPerBareAgent", unit: "bytes" },
  { label: "  without the child (target ≤ 8 KiB)", section: "scale", key: "bytesWithoutChild", unit: "bytes" },
  {
    label: "scale: start all, ms",
    section: "scale",
    key: "startMs",
    unit: "ms",
    baseline: { key: "baselineStartMs", label: "fork all" },
    third: { key: "startRatio", unit: "ratio" }
  },
  {
    label: "scale: close all, ms",
    section: "scale",
    key: "closeMs",
    unit: "ms",
    baseline: { key: "baselineCloseMs", label: "interrupt all" },
    third: { key: "closeRatio", unit: "ratio" }
  },
  {
    label: "  close, bare fibers each in a scope",
    section: "scale",
    key: "harnessCloseMs",
    unit: "ms",
    baseline: { key: "baselineCloseMs", label: "interrupt all" },
    third: { key: "harnessCloseRatio", unit: "ratio" }
  },
  {
    label: "  close, the delegates' own share (all − that)",
    section: "scale",
    key: "ownCloseMs",
    unit: "ms",
    baseline: { key: "baselineCloseMs", label: "interrupt all" },
    third: { key: "ownCloseRatio", unit: "ratio" }
  },
  { label: "  heap left per delegate after close", section: "scale", key: "retainedBytesPerDelegate", unit: "bytes" },
  {
    label: "codex: message-only turn, ms",
    section: "codex",
    key: "deputyMsPerMessageTurn",
    unit: "ms",
    baseline: { key: "directMsPerMessageTurn", label: "direct JSON-RPC" },
    third: { key: "overheadPctMessageTurn", unit: "pct" }
  },
  {
    label: "codex: one-command turn, ms",
    section: "codex",
    key: "deputyMsPerCommandTurn",
    unit: "ms",
    baseline: { key: "directMsPerCommandTurn", label: "direct JSON-RPC" },
    third: { key: "overheadPctCommandTurn", unit: "pct" }
  },
  {
    label: "codex: per turn (both kinds), ms",
    section: "codex",
    key: "deputyMsPerTurn",
    unit: "ms",
    baseline: { key: "directMsPerTurn", label: "direct JSON-RPC" },
    third: { key: "overheadMsPerTurn", unit: "dms" }
  },
  { label: "  overhead per turn, %", section: "codex", key: "overheadPct", unit: "pct" },
  {
    label: "hostile patch: RequestPaths.touched, ms",
    section: "paths",
    key: "touchedMs",
    unit: "ms",
    baseline: { key: "plainMs", label: "path.resolve + lstat" }
  },
  {
    label: "deputy --help, wall ms (target ≤ 120)",
    section: "cliStartup",
    key: "helpMs",
    unit: "ms",
    baseline: { key: "nodeMs", label: "node -e 0" }
  },
  {
    label: "deputy --help, peak RSS (target ≤ 60 MiB)",
    section: "cliStartup",
    key: "helpRssBytes",
    unit: "bytes",
    baseline: { key: "nodeRssBytes", label: "node -e 0" }
  },
  {
    label: "deputy run, no credentials, wall ms (target ≤ 2000)",
    section: "cliStartup",
    key: "runNoCredentialsMs",
    unit: "ms",
    baseline: { key: "runNoCredentialsUnbundledMs", label: "unbundled build" }
  },
  {
    label: "deputy run, no credentials, peak RSS",
    section: "cliStartup",
    key: "runNoCredentialsRssBytes",
    unit: "bytes",
    baseline: { key: "runNoCredentialsUnbundledRssBytes", label: "unbundled build" }
  },
  {
    label: "  import of the run path, ms",
    section: "cliStartup",
    key: "importRunPathMs",
    unit: "ms",
    baseline: { key: "importRunPathUnbundledMs", label: "unbundled build" }
  },
  {
    label: "codex: spawn to thread ready, ms",
    section: "codex",
    key: "deputySpawnMs",
    unit: "ms",
    baseline: { key: "directSpawnMs", label: "direct JSON-RPC" }
  },
  {
    label: "tree inbox: approval round trip p99, µs (1,000 delegates; target ≤ 2×)",
    section: "supervisor",
    key: "treeP99Us",
    unit: "us",
    baseline: { key: "singleP99Us", label: "one delegate + inbox" },
    third: { key: "p99Ratio", unit: "ratio" }
  },
  {
    label: "  round trip p50, µs",
    section: "supervisor",
    key: "treeP50Us",
    unit: "us",
    baseline: { key: "singleP50Us", label: "one delegate + inbox" }
  },
  {
    label: "supervised spawn (admission), µs",
    section: "supervisor",
    key: "spawnUs",
    unit: "us",
    baseline: { key: "bareSpawnUs", label: "bare Delegate.interactive" },
    third: { key: "spawnOverheadUs", unit: "us" }
  },
  {
    label: "8 real Codex children at once: spawn to ready p50, ms",
    section: "codexTree",
    key: "spawnToReadyMsP50",
    unit: "ms"
  },
  {
    label: "  approval latency p50, ms (max in third column)",
    section: "codexTree",
    key: "approvalMsP50",
    unit: "ms",
    third: { key: "approvalMsMax", unit: "ms" }
  },
  { label: "  parent RSS peak", section: "codexTree", key: "parentRssPeakMiB", unit: "mib" },
  {
    label: "ledger (SQLite): approval round trip p99, µs (target ≤ +1 ms)",
    section: "ledger",
    key: "sqliteP99Us",
    unit: "us",
    baseline: { key: "memoryP99Us", label: "in-memory ledger" },
    third: { key: "sqliteAddedP99Us", unit: "us" }
  },
  {
    label: "  in-memory ledger p99, µs",
    section: "ledger",
    key: "memoryP99Us",
    unit: "us",
    baseline: { key: "plainP99Us", label: "no ledger" }
  },
  {
    label: "ledger: answer from another process p99, ms (SQLite watch; target ≤ 200)",
    section: "ledger",
    key: "sqliteWatchAnswerP99Ms",
    unit: "ms"
  },
  { label: "  the same over PostgreSQL LISTEN/NOTIFY, p99 ms", section: "ledger", key: "pgAnswerP99Ms", unit: "ms" },
  {
    label: "web: request to page to answer round trip p99, µs",
    section: "web",
    key: "p99Us",
    unit: "us",
    third: { key: "p50Us", unit: "us" }
  },
  {
    label: "  web attach mode (SQLite): answer (POST) to child p50, µs",
    section: "web",
    key: "attachSqliteAnswerP50Us",
    unit: "us",
    baseline: { key: "answerP50Us", label: "in-process serve" }
  },
  {
    label: "  web attach mode (SQLite): answer (POST) to child p99, µs",
    section: "web",
    key: "attachSqliteAnswerP99Us",
    unit: "us",
    baseline: { key: "answerP99Us", label: "in-process serve" }
  },
  {
    label: "  web attach mode (PostgreSQL): answer (POST) to child p50, µs",
    section: "web",
    key: "attachPgAnswerP50Us",
    unit: "us",
    baseline: { key: "answerP50Us", label: "in-process serve" }
  },
  {
    label: "  web attach mode (PostgreSQL): answer (POST) to child p99, µs",
    section: "web",
    key: "attachPgAnswerP99Us",
    unit: "us",
    baseline: { key: "answerP99Us", label: "in-process serve" }
  },
  {
    label: "codex: no credentials to error, ms (target ≤ 2,000)",
    section: "codexFailFast",
    key: "noCredentialsFailMs_0_171_0",
    unit: "ms"
  }
]

/** Adds metrics derived from paired runs (same run index) to a section's result. */
const derive = (name: string, result: SectionResult): SectionResult => {
  const m = result.metrics
  const paired = (a: string, b: string, f: (x: number, y: number) => number) =>
    m[a] && m[b] ? m[a].map((x, i) => f(x, m[b][i])) : undefined
  if (name === "scale") {
    const bytesRatio = paired("bytesPerDelegate", "baselineBytesPerFiber", (x, y) => x / y)
    return bytesRatio ? { ...result, metrics: { ...m, bytesRatio } } : result
  }
  return result
}

const main = async () => {
  const started = performance.now()
  const outcomes: Record<string, Outcome> = {}
  for (const name of selected) {
    const t0 = performance.now()
    process.stderr.write(`bench: ${name}${quick ? " (quick)" : ""} ...\n`)
    const outcome = await runSection(name)
    outcomes[name] = outcome.ok ? { ok: true, result: derive(name, outcome.result) } : outcome
    process.stderr.write(
      `bench: ${name} ${outcome.ok ? "done" : `FAILED: ${outcome.error}`} in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s\n`
    )
  }

  const cell = (section: string, key: string, unit: Unit): string => {
    const outcome = outcomes[section]
    if (outcome === undefined) return "not run"
    if (!outcome.ok) return "FAILED"
    if (outcome.result.skipped !== undefined) return "skipped"
    const values = outcome.result.metrics[key]
    if (values === undefined || values.length === 0) return "–"
    const s = summarize(values)
    return s.n === 1 || s.min === s.max
      ? fmt(s.median, unit)
      : `${fmt(s.median, unit)} [${fmt(s.min, unit)}–${fmt(s.max, unit)}]`
  }

  const table: Array<ReadonlyArray<string>> = [["measurement", "Deputy", "baseline", "", "ratio / overhead"]]
  for (const row of rows) {
    if (!selected.includes(row.section)) continue
    const third = row.third === undefined
      ? ""
      : "text" in row.third
      ? row.third.text
      : cell(row.section, row.third.key, row.third.unit)
    table.push([
      row.label,
      cell(row.section, row.key, row.unit),
      row.baseline ? cell(row.section, row.baseline.key, row.unit) : "",
      row.baseline?.label ?? "",
      third
    ])
  }
  const widths = table[0].map((_, col) => Math.max(...table.map((line) => line[col].length)))
  const render = (line: ReadonlyArray<string>) => line.map((text, col) => text.padEnd(widths[col])).join("  ").trimEnd()
  const runs = runsArg ? Number(runsArg.slice("--runs=".length)) : quick ? 2 : 5
  const lines = [
    `Deputy benchmarks (${
      quick ? "quick" : "full"
    }): node ${process.version}, ${os.cpus().length} CPUs, ${runs} runs after 1 warm-up; median [min–max]`,
    render(table[0]),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...table.slice(1).map(render),
    ""
  ]
  for (const name of selected) {
    const outcome = outcomes[name]
    if (!outcome.ok) lines.push(`${name}: FAILED: ${outcome.error}`)
    else if (outcome.result.skipped !== undefined) lines.push(`${name}: ${outcome.result.skipped}`)
    else for (const note of outcome.result.notes) lines.push(`${name}: ${note}`)
  }
  lines.push(`total ${((performance.now() - started) / 1000).toFixed(1)} s`)
  process.stdout.write(`${lines.join("\n")}\n`)

  if (json) {
    const report: Record<string, unknown> = {}
    const ranges: Record<string, [number, number]> = {}
    const errors: Record<string, string> = {}
    const skipped: Record<string, string> = {}
    const required: Record<string, ReadonlyArray<string>> = {
      forwarding: ["eventsPerSec", "baselineEventsPerSec", "ratio"],
      approval: ["p50Us", "p99Us"],
      shutdown: ["idleMs", "unackedMs", "drainTimeoutMs"],
      scale: ["bytesPerDelegate", "baselineBytesPerFiber"],
      codex: ["deputyMsPerTurn", "directMsPerTurn", "overheadMsPerTurn"]
    }
    for (const name of selected) {
      const outcome = outcomes[name]
      const fields: Record<string, number | null | string> = {}
      for (const key of required[name] ?? []) fields[key] = null
      if (!outcome.ok) errors[name] = outcome.error
      else if (outcome.result.skipped !== undefined) {
        skipped[name] = outcome.result.skipped
        fields.skipped = outcome.result.skipped
      } else {
        for (const [key, values] of Object.entries(outcome.result.metrics)) {
          const s = summarize(values)
          fields[key] = s.median
          ranges[`${name}.${key}`] = [s.min, s.max]
        }
      }
      report[name] = fields
    }
    report.ranges = ranges
    report.meta = { quick, runs, warmups: 1, node: process.version, cpus: os.cpus().length }
    if (Object.keys(errors).length > 0) report.errors = errors
    process.stdout.write(`${JSON.stringify(report)}\n`)
  }
  process.exitCode = Object.values(outcomes).some((outcome) => !outcome.ok) ? 1 : 0
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exit(1)
})
