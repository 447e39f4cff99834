import { ShellWords } from "@deputy/core"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Cli from "./utils/cli.js"

const hostileAgent = fileURLToPath(new URL("fixtures/hostile-agent.mjs", import.meta.url))
const hostile = (env: Record<string, string>) =>
  ShellWords.join([
    "env",
    ...Object.entries(env).map(([key, value]) => `${key}=${value}`),
    process.execPath,
    hostileAgent
  ])

const until = async (check: () => boolean, timeout: number) => {
  const started = Date.now()
  while (!check()) {
    if (Date.now() - started > timeout) throw new Error("timed out")
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe("stdout's reader sets the pace", () => {
  afterEach(Cli.stopAll)

  it("a reader that pauses slows the sub-agent down, then gets everything and the ended record", async () => {
    const dir = Cli.tempDir()
    const progressFile = path.join(dir, "progress")
    const events = 8 * 1024
    const child = Cli.spawnDeputy([
      "run",
      "--json",
      "--agent-command",
      hostile({ HOSTILE: "flood", HOSTILE_FLOOD_MB: "8", HOSTILE_EVENT_KB: "1", HOSTILE_PROGRESS_FILE: progressFile }),
      "go"
    ])
    let stderr = ""
    child.stderr!.on("data", (data) => (stderr += data))
    const progress = () => fs.existsSync(progressFile) ? Number(fs.readFileSync(progressFile, "utf8") || 0) : 0
    // Nothing reads stdout. The buffers on the way (the delegate's, the CLI's, the pipes) hold a few MiB:
    // the sub-agent's writes must stop before all 8 MiB are out — its progress stays put for 3 s — instead
    // of going on to the end (the CLI buffering everything for the reader).
    await until(() => progress() > 0, 60_000)
    let last = -1
    let since = Date.now()
    while (Date.now() - since < 3000) {
      const now = progress()
      assert.isBelow(now, events, "the sub-agent wrote everything while nobody read")
      if (now !== last) {
        last = now
        since = Date.now()
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const chunks: Array<Buffer> = []
    child.stdout.on("data", (data: Buffer) => chunks.push(data))
    const code = await new Promise((resolve) => child.on("close", resolve))
    assert.strictEqual(code, 0, stderr)
    const lines = Buffer.concat(chunks).toString("utf8").trimEnd().split("\n")
    const end = JSON.parse(lines[lines.length - 1]) as { deputy?: string; reason?: string }
    assert.deepStrictEqual([end.deputy, end.reason], ["ended", "completed"])
    assert.strictEqual(lines.filter((line) => line.includes("\"message\":\"xxxx")).length, events, "nothing lost")
    assert.strictEqual(progress(), events)
  }, 180_000)

  it("a reader that goes away (EPIPE) stops the run: exit 141, said on stderr, the sub-agent is gone", async () => {
    const dir = Cli.tempDir()
    const pidFile = path.join(dir, "pid")
    const child = Cli.spawnDeputy([
      "run",
      "--json",
      "--agent-command",
      hostile({ HOSTILE: "flood", HOSTILE_FLOOD_MB: "16", HOSTILE_PID_FILE: pidFile }),
      "go"
    ])
    let stderr = ""
    child.stderr!.on("data", (data) => (stderr += data))
    await new Promise((resolve) => child.stdout.once("data", resolve))
    child.stdout.destroy()
    const code = await new Promise((resolve) => child.on("close", resolve))
    assert.strictEqual(code, 141)
    assert.include(stderr, "deputy: stdout was closed by its reader before the run ended (EPIPE)")
    const pid = Number(fs.readFileSync(pidFile, "utf8"))
    await until(() => !Cli.isAlive(pid), 10_000)
  }, 60_000)
})
