import { ShellWords } from "@deputy/core"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The `deputy` bin (it runs the build, which the global setup brings up to date). */
export const bin = fileURLToPath(new URL("../../bin/deputy.js", import.meta.url))

/** The reference agent of `@deputy/agent-process`. */
export const referenceAgent = fileURLToPath(
  new URL("../../../agent-process/examples/reference-agent.mjs", import.meta.url)
)

/** `--agent-command` for the reference agent; `mark` is an extra argument to find its process by. */
export const agentCommand = (options: { readonly mark?: string; readonly env?: Record<string, string> } = {}) =>
  ShellWords.join([
    ...(options.env === undefined
      ? []
      : ["env", ...Object.entries(options.env).map(([key, value]) => `${key}=${value}`)]),
    process.execPath,
    referenceAgent,
    ...(options.mark === undefined ? [] : [options.mark])
  ])

const running = new Set<ChildProcess>()
const track = <C extends ChildProcess>(child: C): C => {
  running.add(child)
  child.on("close", () => running.delete(child))
  return child
}

const made = new Set<string>()

/**
 * Kills what a test left running (a test that failed while a program waited for keys): `script`'s end hangs up
 * its terminal, which ends the program in it. Then removes the temporary directories the test made.
 */
export const stopAll = () => {
  for (const child of running) child.kill("SIGKILL")
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
  made.clear()
}

/** A fresh temporary directory, removed by `stopAll` (every suite runs it after each test). */
export const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-cli-test-"))
  made.add(dir)
  return dir
}

/** Where the runs of this test process keep their default approval ledger (never the real ~/.deputy). */
const deputyHome = process.env.DEPUTY_CLI_TEST_HOME ?? path.join(os.tmpdir(), `deputy-cli-test-home-${process.pid}`)
// Made and removed by test/setup/build.ts; only a file run without that setup falls back to its own.
if (process.env.DEPUTY_CLI_TEST_HOME === undefined) {
  process.once("exit", () => fs.rmSync(deputyHome, { recursive: true, force: true }))
}

/** The environment the program runs in: no colour forced, no CI-specific noise, a test ledger. */
const baseEnv = (extra: Record<string, string> = {}) => {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && key !== "NO_COLOR" && key !== "FORCE_COLOR") env[key] = value
  }
  return { ...env, DEPUTY_HOME: deputyHome, ...extra }
}

/** Starts `deputy ARGS` with pipes (no terminal), for tests that read its output their own way. */
export const spawnDeputy = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly cwd?: string } = {}
): ChildProcess & { stdout: NodeJS.ReadableStream; stdin: NodeJS.WritableStream } =>
  track(spawn(process.execPath, [bin, ...args], {
    cwd: options.cwd ?? os.tmpdir(),
    env: baseEnv(options.env),
    stdio: ["pipe", "pipe", "pipe"]
  }))

/** Runs `deputy ARGS` with pipes (no terminal); `input` is written to its stdin, which is then closed. */
export const run = (
  args: ReadonlyArray<string>,
  options: {
    readonly input?: string
    readonly env?: Record<string, string>
    readonly cwd?: string
    /** Sends `signal` (default SIGINT) to the program once this holds (checked every 50 ms). */
    readonly interruptWhen?: () => boolean
    readonly signal?: NodeJS.Signals
  } = {}
): Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, [bin, ...args], {
      cwd: options.cwd ?? os.tmpdir(),
      env: baseEnv(options.env),
      stdio: ["pipe", "pipe", "pipe"]
    }))
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (data) => (stdout += data))
    child.stderr.on("data", (data) => (stderr += data))
    const interruptWhen = options.interruptWhen
    const timer = interruptWhen === undefined ? undefined : setInterval(() => {
      if (!interruptWhen()) return
      clearInterval(timer)
      child.kill(options.signal ?? "SIGINT")
    }, 50)
    child.on("error", reject)
    child.on("close", (code) => {
      clearInterval(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(options.input ?? "")
  })

/** Whether util-linux `script` is there to run programs in a pseudo-terminal. */
export const hasScript =
  spawnSync("script", ["--version"], { stdio: "pipe" }).stdout?.toString().includes("util-linux") ??
    false

/** A program running in a real pseudo-terminal (util-linux `script`), driven by keys. */
export interface Pty {
  /** Everything the terminal showed so far (stdout and stderr, with escape sequences). */
  readonly output: () => string
  /**
   * Waits until the output without escape sequences matches (after `from`, an offset into it), then returns the
   * offset past the match.
   */
  readonly waitFor: (
    pattern: string | RegExp,
    options?: { readonly from?: number; readonly timeout?: number }
  ) => Promise<number>
  /**
   * Types bytes (e.g. `"a"`, `"\x03"` for Ctrl-C, `"\x04"` for Ctrl-D) after a human-like pause: a prompt
   * ignores what arrives in its first 30 ms (type-ahead).
   */
  readonly type: (data: string) => Promise<void>
  /** The program's exit code. */
  readonly exited: Promise<number | null>
}

/** Runs `deputy ARGS` in a pseudo-terminal. */
export const pty = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly cwd?: string } = {}
): Pty => {
  const command = `exec ${ShellWords.join([process.execPath, bin, ...args])}`
  const child = track(spawn("script", ["-qfec", command, "/dev/null"], {
    cwd: options.cwd ?? os.tmpdir(),
    env: baseEnv({ TERM: "xterm-256color", ...options.env }),
    stdio: ["pipe", "pipe", "pipe"]
  }))
  let output = ""
  child.stdout.on("data", (data) => (output += data))
  child.stderr.on("data", (data) => (output += data))
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)))
  return {
    output: () => output,
    waitFor: (pattern, { from = 0, timeout = 15_000 } = {}) =>
      new Promise((resolve, reject) => {
        const started = Date.now()
        const check = () => {
          const rest = plain(output).slice(from)
          const match = typeof pattern === "string"
            ? { index: rest.indexOf(pattern), length: pattern.length }
            : (() => {
              const found = pattern.exec(rest)
              return found === null ? { index: -1, length: 0 } : { index: found.index, length: found[0].length }
            })()
          if (match.index !== -1) return resolve(from + match.index + match.length)
          if (Date.now() - started > timeout) {
            return reject(new Error(`timed out waiting for ${String(pattern)}; the terminal showed:\n${output}`))
          }
          setTimeout(check, 20)
        }
        check()
      }),
    type: (data) =>
      new Promise((resolve) =>
        setTimeout(() => {
          child.stdin.write(data)
          resolve()
        }, 150)
      ),
    exited
  }
}

/** Processes (Linux `/proc`) whose command line has `mark` as an argument, or contains it. */
export const processesWith = (mark: string): Array<number> =>
  fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).map(Number).filter((pid) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
      const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
      return state !== "Z" &&
        fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").some((arg) => arg.includes(mark))
    } catch {
      return false
    }
  })

/** Waits until no process carries `mark` (at most `timeout` ms); returns those still there. */
export const settledProcesses = async (mark: string, timeout = 3000): Promise<Array<number>> => {
  const started = Date.now()
  while (Date.now() - started < timeout) {
    const left = processesWith(mark)
    if (left.length === 0) return left
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return processesWith(mark)
}

const escapes = /\x1b\[[0-9;?]*[A-Za-z]|\r/g

/**
 * Terminal output as the screen shows it, roughly: per line, what follows the last "erase line" (the status
 * line is drawn and erased in place), without escape sequences and carriage returns.
 */
export const plain = (text: string) =>
  text.split("\n").map((line) => line.slice(line.lastIndexOf("\x1b[2K") + 1).replace(escapes, "").replace(/^\[2K/, ""))
    .join("\n")

/** Whether a process with this pid exists (signal 0); tests check processes by pid, never by name. */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
