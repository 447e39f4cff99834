/**
 * The `deputy serve` tests' client: the URL it prints, its event stream as the page reads it, answers, a
 * `deputy run --approval inbox` process to attach to, Chromium and a PostgreSQL database of a test's own.
 */
import { type ChildProcess, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import * as Cli from "./cli.js"

/** The page's state, folded from the event stream the browser reads. */
export interface State {
  pending: Array<{
    id: string
    command?: Array<string>
    path?: Array<string>
    process?: Array<string>
    chain: Array<{ path: Array<string> }>
  }>
  history: Array<{ id: string; outcome: string; decidedBy: Array<string>; client?: string; at: number }>
  nodes: Map<string, { id: string; path: Array<string>; status: string; ended?: Array<string> }>
  events: Map<string, Array<{ type: string; text: Array<string> }>>
  note?: string
}

/** The URL `deputy serve` prints first (it fails if the program exits before). */
export const urlOf = (child: ChildProcess & { stdout: NodeJS.ReadableStream }) =>
  new Promise<URL>((resolve, reject) => {
    let out = ""
    let err = ""
    child.stderr?.on("data", (data) => err += data)
    child.on("close", (code) => reject(new Error(`deputy serve exited ${code} before printing its URL: ${err}`)))
    child.stdout.on("data", (data) => {
      out += data
      if (out.includes("\n")) resolve(new URL(out.split("\n")[0]))
    })
  })

/** Follows the page's event stream and resolves when `until` holds. */
export const follow = (url: URL, until: (state: State) => boolean) =>
  new Promise<State>((resolve, reject) => {
    const state: State = { pending: [], history: [], nodes: new Map(), events: new Map() }
    const req = http.get({
      host: url.hostname,
      port: url.port,
      path: `/api/events?token=${url.searchParams.get("token")}`,
      headers: { host: url.host }
    }, (res) => {
      let buffer = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const frame = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = frame.split("\n").find((line) => line.startsWith("data: "))
          if (data === undefined) continue
          const message = JSON.parse(data.slice(6))
          if (message.type === "snapshot") {
            state.pending = message.pending
            state.history = message.history
            state.note = message.note
            for (const node of message.nodes) state.nodes.set(node.id, node)
            for (const [id, list] of Object.entries(message.events)) state.events.set(id, list as any)
          } else if (message.type === "pending") state.pending = message.pending
          else if (message.type === "settled") state.history.push(message.entry)
          else if (message.type === "node") state.nodes.set(message.node.id, message.node)
          else if (message.type === "events") {
            state.events.set(message.node, [...(state.events.get(message.node) ?? []), ...message.events])
          }
          if (until(state)) {
            req.destroy()
            resolve(state)
          }
        }
      })
    })
    req.on("error", (error) => {
      if (!(error as NodeJS.ErrnoException).code?.includes("ECONNRESET")) reject(error)
    })
  })

/** Answers as the page does (`POST /api/answer` from the tab `tab`); resolves with the status and body. */
export const answerWith = (url: URL, id: string, action: string, tab = "e2e") =>
  new Promise<{ readonly status: number; readonly body: any }>((resolve, reject) => {
    const body = JSON.stringify({ id, action, tab })
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: "/api/answer",
      method: "POST",
      headers: {
        host: url.host,
        origin: url.origin,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        "x-deputy-token": url.searchParams.get("token")!
      }
    }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (text += chunk))
      res.on("end", () => {
        let parsed: unknown
        try {
          parsed = JSON.parse(text)
        } catch {
          parsed = text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed })
      })
    })
    req.on("error", reject)
    req.end(body)
  })

/** The status of an answer given as the page does. */
export const answer = (url: URL, id: string, action: string, tab = "e2e") =>
  answerWith(url, id, action, tab).then((response) => response.status)

/** A raw request to the server: method, path and headers as given (for the security tests). */
export const raw = (
  url: URL,
  options: {
    readonly method?: string
    readonly path: string
    readonly headers?: Record<string, string>
    readonly body?: string
  }
) =>
  new Promise<number>((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: options.path,
      method: options.method ?? "GET",
      headers: options.headers
    }, (res) => {
      res.resume()
      res.on("end", () => resolve(res.statusCode ?? 0))
    })
    req.on("error", reject)
    req.end(options.body)
  })

/** `--json` output as records, one a line. */
export const jsonLines = (text: string): Array<Record<string, unknown>> =>
  text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line) as Record<string, unknown>)

/** A child's exit code, once it has exited (at once if it has). */
export const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null ? resolve(child.exitCode) : child.on("close", (code) => resolve(code))
  )

/** `deputy serve` running `tasks` with the reference agent in `cwd` (`flags` before the tasks). */
export const serveTasks = (cwd: string, tasks: ReadonlyArray<string>, flags: ReadonlyArray<string> = []) =>
  Cli.spawnDeputy([
    "serve",
    "--agent-command",
    Cli.agentCommand(),
    "--cwd",
    cwd,
    ...flags,
    ...tasks.flatMap((task) => ["--task", task])
  ])

/** Ctrl-C to `deputy serve` (or any child); resolves with its exit code (130 when it stopped as it should). */
export const interrupt = (child: ChildProcess) => {
  child.kill("SIGINT")
  return exited(child)
}

/**
 * A `deputy run --json --approval inbox` process on `ledger` (the reference agent, in `cwd`), its end (code,
 * stdout, stderr), and its process as the page names it (`HOST pid N`).
 */
export const inboxRun = (ledger: string, cwd: string, task: string) => {
  const child = Cli.spawnDeputy([
    "run",
    "--json",
    "--approval",
    "inbox",
    "--ledger",
    ledger,
    "--cwd",
    cwd,
    "--agent-command",
    Cli.agentCommand(),
    task
  ])
  const ended = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (data) => (stdout += data))
    child.stderr?.on("data", (data) => (stderr += data))
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })
  return { child, ended, process: `${os.hostname()} pid ${child.pid}` }
}

/** Debian's Chromium (`scripts/setup/chromium.sh`), or `DEPUTY_CHROMIUM`, as in packages/web/test/browser.ts. */
export const chromiumPath = process.env.DEPUTY_CHROMIUM ?? "/usr/bin/chromium"

/**
 * Whether the browser tests run here: with Chromium, or when `DEPUTY_REQUIRE_BROWSER=1` (`.ci/run`), where a
 * missing one fails them. Otherwise `suite` is skipped with a notice naming it.
 */
export const browserSuite = (suite: string) => {
  const available = fs.existsSync(chromiumPath)
  if (available || process.env.DEPUTY_REQUIRE_BROWSER === "1") return true
  console.warn(
    `\n⚠ ${suite} SKIPPED: ${chromiumPath} is missing (run scripts/setup/chromium.sh; ` +
      "DEPUTY_REQUIRE_BROWSER=1 makes this a failure)\n"
  )
  return false
}

/** Runs `use` with a page of a headless Chromium on a fresh profile; closes both, and removes the profile, after. */
export const withPage = async <A>(use: (page: Page, browser: BrowserContext) => Promise<A>): Promise<A> => {
  if (!fs.existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: run scripts/setup/chromium.sh`)
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-chromium-"))
  try {
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    })
    try {
      return await use(await browser.newPage(), browser)
    } finally {
      await browser.close()
    }
  } finally {
    fs.rmSync(profile, { recursive: true, force: true })
  }
}

/** The PostgreSQL server the tests use: `DEPUTY_TEST_PG_URL`, else 127.0.0.1:5432. */
export const postgresServer = process.env.DEPUTY_TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test"

/** Runs one SQL statement on the server (with the `pg` client the ledger uses); false when it cannot. */
const admin = (statement: string): boolean => {
  try {
    execFileSync(process.execPath, [
      "-e",
      `const pg=require("pg");const c=new pg.Client(${JSON.stringify(postgresServer)});` +
      `c.connect().then(()=>c.query(${JSON.stringify(statement)})).then(()=>c.end())` +
      `.then(()=>process.exit(0),(e)=>{console.error(String(e));process.exit(1)})`
    ], { stdio: ["ignore", "ignore", "inherit"], timeout: 15_000 })
    return true
  } catch {
    return false
  }
}

/**
 * A database of this test file's own on the PostgreSQL server (`url`, or undefined without a server, after a
 * notice naming `suite`, unless `DEPUTY_REQUIRE_POSTGRES=1`, where `required` makes the suite run and fail),
 * and `drop` for `afterAll`.
 */
export const postgresDatabase = (suite: string) => {
  const name = `deputy_serve_${process.pid}_${Date.now().toString(36)}`
  const url = admin(`CREATE DATABASE ${name}`) ? postgresServer.replace(/\/[^/?]*(\?|$)/, `/${name}$1`) : undefined
  const required = process.env.DEPUTY_REQUIRE_POSTGRES === "1"
  if (url === undefined && !required) {
    console.warn(
      `\n⚠ ${suite} SKIPPED: no PostgreSQL server at ${postgresServer} (DEPUTY_REQUIRE_POSTGRES=1 makes it fail)\n`
    )
  }
  return {
    url,
    run: url !== undefined || required,
    drop: () => void (url === undefined || admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  }
}
