import { afterEach, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { chromium } from "playwright-core"
import { agentCommand, spawnDeputy, stopAll, tempDir } from "./utils/cli.js"

afterEach(stopAll)

/** Debian's Chromium (`scripts/setup/chromium.sh`), or `DEPUTY_CHROMIUM`, as in packages/web/test/browser.ts. */
const executable = process.env.DEPUTY_CHROMIUM ?? "/usr/bin/chromium"
const available = fs.existsSync(executable)
if (!available && process.env.DEPUTY_REQUIRE_BROWSER === "1") throw new Error(`${executable} is missing`)

const suite = available ? describe : describe.skip

suite("deputy serve --task in Chromium", () => {
  it("the live tree: the second task queued behind the first, running once the first ended, then ended", async () => {
    const cwd = tempDir()
    const child = spawnDeputy([
      "serve",
      "--agent-command",
      agentCommand(),
      "--cwd",
      cwd,
      "--max-concurrent",
      "1",
      "--task",
      "run:echo first-ran",
      "--task",
      "run:echo second-ran"
    ])
    const url = await new Promise<string>((resolve, reject) => {
      let out = ""
      child.on("close", (code) => reject(new Error(`deputy serve exited ${code} before printing its URL`)))
      child.stdout.on("data", (data) => {
        out += data
        if (out.includes("\n")) resolve(out.split("\n")[0])
      })
    })
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-chromium-"))
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: executable,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run"]
    })
    try {
      const page = await browser.newPage()
      await page.goto(url)
      const status = (id: string) => page.locator(`#tree [data-node="${id}"] .status`)
      await page.locator(`#tree [data-node="task-2"] .status`, { hasText: "queued: #1" }).waitFor()
      assert.strictEqual(await status("task-1").innerText(), "running")
      // task-1's request is the only one: `a` approves it; task-2 starts once task-1 ended.
      await page.locator("#pending > li.selected").waitFor()
      assert.include(await page.locator("#pending > li.selected").innerText(), "task-1")
      await page.keyboard.press("a")
      await page.locator(`#tree [data-node="task-1"] .status`, { hasText: "ended" }).waitFor()
      assert.include(await page.locator(`#tree [data-node="task-1"] .ended`).innerText(), "completed")
      await page.locator(`#tree [data-node="task-2"] .status`, { hasText: "running" }).waitFor()
      await page.locator("#pending > li.selected", { hasText: "task-2" }).waitFor()
      await page.keyboard.press("d")
      await page.locator(`#tree [data-node="task-2"] .status`, { hasText: "ended" }).waitFor()
      assert.include(await page.locator(`#tree [data-node="task-2"] .ended`).innerText(), "completed")
      assert.include(await page.locator("#tree").innerText(), "serve/task-2")
    } finally {
      await browser.close()
      fs.rmSync(profile, { recursive: true, force: true })
    }
    child.kill("SIGINT")
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve))
    assert.strictEqual(code, 130)
  }, 60_000)
})
