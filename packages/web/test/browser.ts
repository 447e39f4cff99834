import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type BrowserContext, chromium } from "playwright-core"

/** Debian's Chromium (installed by `scripts/setup/chromium.sh`), or `DEPUTY_CHROMIUM`. */
export const executable = process.env.DEPUTY_CHROMIUM ?? "/usr/bin/chromium"

/** Whether the browser tests can run here. */
export const available = fs.existsSync(executable)

/** `.ci/run` sets `DEPUTY_REQUIRE_BROWSER=1`: then a missing browser fails the tests instead of skipping them. */
export const required = process.env.DEPUTY_REQUIRE_BROWSER === "1"

const args = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync"
]

/** A headless Chromium with a fresh profile (`--user-data-dir` in a new temporary directory), closed with the scope. */
export const context: Effect.Effect<BrowserContext, never, import("effect/Scope").Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-chromium-"))
    const browser = await chromium.launchPersistentContext(dir, {
      executablePath: executable,
      headless: true,
      args,
      viewport: { width: 1280, height: 900 }
    })
    return Object.assign(browser, { deputyProfile: dir })
  }),
  (browser) =>
    Effect.promise(async () => {
      await browser.close()
      fs.rmSync(browser.deputyProfile, { recursive: true, force: true })
    })
)

/** A Playwright call as an effect. */
export const pw = <A>(run: () => Promise<A>): Effect.Effect<A> => Effect.promise(run)
