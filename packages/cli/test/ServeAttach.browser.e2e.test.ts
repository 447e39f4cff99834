/**
 * Attach mode in Chromium, over a SQLite and a PostgreSQL ledger: a real `deputy run --approval inbox` whose
 * child asks two requests, one after the other; a `deputy serve --ledger` in another process; the page shows
 * each request with its process, its Approve button approves the first and its Deny button denies the second;
 * the child gets exactly those answers (the first command ran, the second did not), and the ledger records both
 * decisions as `InboxClient` `web:<the tab's id>`. And a terminal's `deputy approve` racing a tab: the tab's late
 * answer is told who decided, the child got the winner's answer only. Skipped with a notice without Chromium (or, for the
 * PostgreSQL half, without a server), unless `DEPUTY_REQUIRE_BROWSER=1` / `DEPUTY_REQUIRE_POSTGRES=1`.
 */
import { afterAll, afterEach, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "./utils/cli.js"
import { browserSuite, inboxRun, interrupt, jsonLines, postgresDatabase, urlOf, withPage } from "./utils/serve.js"

afterEach(Cli.stopAll)

const browser = browserSuite("deputy serve --ledger (attach mode) in Chromium")
const postgres = browser
  ? postgresDatabase("deputy serve --ledger postgres:… in Chromium")
  : { url: undefined, run: false, drop: () => undefined }
afterAll(postgres.drop)

const ledgers = [
  { name: "SQLite", run: true, ledger: (dir: string) => `sqlite:${path.join(dir, "ledger.db")}` },
  {
    name: "PostgreSQL",
    run: postgres.run,
    ledger: () => {
      assert.isDefined(postgres.url, "DEPUTY_REQUIRE_POSTGRES=1 but there is no PostgreSQL server")
      return postgres.url!
    }
  }
]

for (const { ledger: ledgerOf, name, run } of ledgers) {
  describe.skipIf(!browser || !run)(`deputy serve --ledger (${name}) in Chromium`, () => {
    /** A `deputy run --approval inbox` on `task` and a `deputy serve --ledger` attached to its ledger. */
    const attached = async (task: string) => {
      const dir = Cli.tempDir()
      const ledger = ledgerOf(dir)
      const asker = inboxRun(ledger, dir, task)
      const serve = Cli.spawnDeputy(["serve", "--ledger", ledger, "--cwd", dir])
      return { asker, dir, ledger, serve, url: await urlOf(serve) }
    }

    it(
      "a child's two requests on the page, approved and denied with its buttons; the child gets exactly those; the ledger names the tab",
      async () => {
        const { asker, dir, ledger, serve, url } = await attached(
          "run:echo first-ran >> one.txt\nrun:echo second-ran >> two.txt"
        )

        const tab = await withPage(async (page) => {
          await page.goto(url.href)
          await page.locator("body[data-live=yes]").waitFor()
          const tab = await page.evaluate<string | null>("sessionStorage.getItem(\"deputy-tab\")")
          assert.match(tab ?? "", /^[0-9a-f]{12}$/)
          const request = (text: string) => page.locator("#pending > li.request", { hasText: text })
          // the first request, with the process that asked; its Approve button answers it
          await request("first-ran").waitFor()
          assert.include(await request("first-ran").locator(".process").innerText(), asker.process)
          assert.strictEqual(await page.locator("#pending > li.request").count(), 1)
          await request("first-ran").locator("button[data-action=approve]").click()
          // the child ran it and asked the second: its Deny button answers it
          await request("second-ran").waitFor()
          assert.strictEqual(await request("first-ran").count(), 0)
          await request("second-ran").locator("button[data-action=deny]").click()
          await page.locator("#pending > li.request").first().waitFor({ state: "detached" })
          // the history: both, decided by this tab
          const history = page.locator("#history > li", { hasText: "(this tab)" })
          await history.nth(1).waitFor()
          const shown = (await history.allInnerTexts()).map((
            text
          ) => [text.includes("first-ran") ? "first" : text.includes("second-ran") ? "second" : text, text])
          assert.deepStrictEqual(shown.map(([which]) => which).sort(), ["first", "second"])
          for (const [which, text] of shown) {
            assert.include(text, which === "first" ? "approved" : "denied")
            assert.include(text, `web:${tab}`)
          }
          return tab!
        })

        const end = await asker.ended
        assert.strictEqual(end.code, 0, end.stderr)
        assert.strictEqual(fs.readFileSync(path.join(dir, "one.txt"), "utf8"), "first-ran\n")
        assert.isFalse(fs.existsSync(path.join(dir, "two.txt")), "the denied command ran")
        const records = jsonLines(end.stdout)
        const approvals = records.filter((record) => record.deputy === "approval")
        const webTab = { _tag: "InboxClient", client: `web:${tab}` }
        assert.deepStrictEqual(
          approvals.map((record) => [record.outcome, record.decided_by]),
          [["approved", webTab], ["denied", webTab]]
        )
        // the child heard exactly those: its own report of what it was told, and one command run
        const msgs = records.map((record) => record.msg as { type?: string; message?: string } | undefined)
        assert.deepStrictEqual(
          msgs.filter((msg) => msg?.type === "agent_message").map((msg) => msg?.message),
          ["I ran `echo first-ran >> one.txt`: exit code 0\nI did not run `echo second-ran >> two.txt`: \"denied\""]
        )
        assert.strictEqual(msgs.filter((msg) => msg?.type === "exec_command_end").length, 1)
        const ids = approvals.map((record) => String(record.id))
        const log = jsonLines((await Cli.run(["log", "--json", "--ledger", ledger])).stdout)
        assert.deepStrictEqual(
          log.filter((entry) => entry.type === "decided").map((
            entry
          ) => [entry.requestId, entry.outcome, entry.decidedBy]),
          [[ids[0], "approved", webTab], [ids[1], "denied", webTab]]
        )

        assert.strictEqual(await interrupt(serve), 130)
      },
      90_000
    )

    it(
      "a terminal's `deputy approve` wins over a tab whose view was held: the tab is told who decided, the child got the winner's answer",
      async () => {
        const { asker, dir, ledger, serve, url } = await attached("run:echo raced >> raced.txt")
        const id = await withPage(async (page) => {
          // the tab's event stream is held at a snapshot with the request pending (as a tab that has not yet
          // heard the terminal's answer), so its Deny button is still there once the request was decided
          const pending = async () => {
            const response = await page.request.get(`${url.origin}/api/state?token=${url.searchParams.get("token")}`)
            const state = await response.json() as { pending: ReadonlyArray<{ id: string }> }
            return state.pending.length === 1 ? { id: state.pending[0]!.id, body: JSON.stringify(state) } : undefined
          }
          let held = await pending()
          while (held === undefined) {
            await new Promise((resolve) => setTimeout(resolve, 50))
            held = await pending()
          }
          const frozen = `retry: 1000\n\ndata: ${held.body}\n\n`
          await page.route(
            "**/api/events*",
            (route) => route.fulfill({ status: 200, contentType: "text/event-stream", body: frozen })
          )
          await page.goto(url.href)
          const deny = page.locator("#pending > li.request button[data-action=deny]")
          await deny.waitFor()

          const approved = await Cli.run(["approve", held.id, "--as", "alice", "--ledger", ledger])
          assert.strictEqual(approved.code, 0, approved.stderr)
          await deny.click()
          await page.locator("#notice").getByText("Already decided").waitFor()
          const notice = await page.locator("#notice").innerText()
          assert.include(notice, "was approved by")
          assert.include(notice, "alice")
          // back on the live stream: nothing pending, the history names alice
          await page.unrouteAll()
          await page.reload()
          await page.locator("#history > li", { hasText: "alice" }).waitFor()
          assert.strictEqual(await page.locator("#pending > li.request").count(), 0)
          return held.id
        })
        const end = await asker.ended
        assert.strictEqual(end.code, 0, end.stderr)
        assert.strictEqual(fs.readFileSync(path.join(dir, "raced.txt"), "utf8"), "raced\n")
        const decided = jsonLines((await Cli.run(["log", "--json", "--ledger", ledger])).stdout)
          .filter((entry) => entry.type === "decided" && entry.requestId === id)
        assert.strictEqual(decided.length, 1, JSON.stringify(decided))
        assert.strictEqual(decided[0]!.outcome, "approved")
        assert.include(JSON.stringify(decided[0]!.decidedBy), "alice")
        assert.strictEqual(await interrupt(serve), 130)
      },
      90_000
    )
  })
}
