import { afterEach, assert, describe, it } from "@effect/vitest"
import { stopAll, tempDir } from "./utils/cli.js"
import { browserSuite, interrupt, serveTasks, urlOf, withPage } from "./utils/serve.js"

afterEach(stopAll)

describe.runIf(browserSuite("deputy serve --task in Chromium"))("deputy serve --task in Chromium", () => {
  it("the live tree: the second task queued behind the first, running once the first ended, then ended", async () => {
    const cwd = tempDir()
    const child = serveTasks(cwd, ["run:echo first-ran", "run:echo second-ran"], ["--max-concurrent", "1"])
    const url = await urlOf(child)
    await withPage(async (page) => {
      await page.goto(url.href)
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
    })
    assert.strictEqual(await interrupt(child), 130)
  }, 60_000)
})
