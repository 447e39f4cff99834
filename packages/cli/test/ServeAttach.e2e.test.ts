/**
 * `deputy serve` with no task (attach mode) end to end: real `deputy run --approval inbox` processes
 * pending requests in one SQLite ledger, one `deputy serve --ledger` page serving them all with their
 * process, answers from the page reaching exactly their child and recorded as `web:<tab>`, a terminal's
 * `deputy approve` racing the page (one wins; the page shows who), and the security rules.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "./utils/cli.js"
import { answer, answerWith, follow, inboxRun, interrupt, jsonLines, raw, urlOf } from "./utils/serve.js"

afterEach(Cli.stopAll)

describe("deputy serve --ledger (attach mode)", () => {
  it(
    "serves two processes' requests; each child gets the page's answer; a terminal racing the page wins, the page shows who",
    async () => {
      const dir = Cli.tempDir()
      const ledger = `sqlite:${path.join(dir, "ledger.db")}`
      const one = inboxRun(ledger, dir, "run:echo first-ran >> one.txt")
      const two = inboxRun(ledger, dir, "run:echo second-ran >> two.txt")
      const serve = Cli.spawnDeputy(["serve", "--ledger", ledger, "--cwd", dir])
      const url = await urlOf(serve)

      const asked = await follow(url, (state) =>
        state.pending.length === 2 &&
        [one, two].every((run) => state.nodes.get(`process:${run.process}`)?.status === "1 pending"))
      assert.include(asked.note, "no live tree")
      const byProcess = new Map(asked.pending.map((request) => [request.process?.join(""), request]))
      const first = byProcess.get(one.process)
      const second = byProcess.get(two.process)
      assert.isDefined(first, `no request from ${one.process}: ${[...byProcess.keys()]}`)
      assert.isDefined(second, `no request from ${two.process}`)
      assert.include(first!.command?.join(""), "first-ran")
      // the tree: grouped by process, then node path
      assert.strictEqual(asked.nodes.get(`process:${one.process}`)?.status, "1 pending")
      assert.strictEqual(asked.nodes.get(`process:${two.process}`)?.status, "1 pending")

      assert.strictEqual(await answer(url, first!.id, "approve", "tab-a"), 200)
      assert.strictEqual(await answer(url, second!.id, "deny", "tab-a"), 200)
      const [oneEnd, twoEnd] = await Promise.all([one.ended, two.ended])
      assert.strictEqual(oneEnd.code, 0, oneEnd.stderr)
      assert.strictEqual(twoEnd.code, 0, twoEnd.stderr)
      assert.include(fs.readFileSync(path.join(dir, "one.txt"), "utf8"), "first-ran")
      assert.isFalse(fs.existsSync(path.join(dir, "two.txt")), "the denied command ran")
      const approval = (stdout: string) => jsonLines(stdout).find((record) => record.deputy === "approval")
      assert.strictEqual(approval(oneEnd.stdout)?.outcome, "approved")
      assert.strictEqual(approval(twoEnd.stdout)?.outcome, "denied")
      for (const end of [oneEnd, twoEnd]) {
        assert.deepStrictEqual(approval(end.stdout)?.decided_by, { _tag: "InboxClient", client: "web:tab-a" })
      }
      const log = await Cli.run(["log", "--json", "--ledger", ledger])
      const decided = jsonLines(log.stdout).filter((entry) => entry.type === "decided")
      assert.deepStrictEqual(
        decided.map((entry) => [entry.requestId, entry.outcome, entry.decidedBy]).sort(),
        [
          [first!.id, "approved", { _tag: "InboxClient", client: "web:tab-a" }],
          [second!.id, "denied", { _tag: "InboxClient", client: "web:tab-a" }]
        ].sort()
      )

      // a terminal answers first: the request leaves the page, the page's answer loses and names the winner
      const three = inboxRun(ledger, dir, "run:echo third-ran >> three.txt")
      const waiting = await follow(
        url,
        (state) => state.pending.some((request) => request.process?.join("") === three.process)
      )
      const third = waiting.pending.find((request) => request.process?.join("") === three.process)!
      const approved = await Cli.run(["approve", third.id, "--as", "alice", "--ledger", ledger])
      assert.strictEqual(approved.code, 0, approved.stderr)
      const after = await follow(url, (state) =>
        !state.pending.some((request) => request.id === third.id) &&
        state.history.some((entry) => entry.id === third.id))
      const entry = after.history.find((entry) => entry.id === third.id)!
      assert.strictEqual(entry.outcome, "approved")
      assert.include(entry.decidedBy.join(""), "alice")
      const late = await answerWith(url, third.id, "deny", "tab-b")
      assert.strictEqual(late.status, 409)
      assert.include(late.body.error, third.id)
      assert.strictEqual((await three.ended).code, 0)
      assert.include(fs.readFileSync(path.join(dir, "three.txt"), "utf8"), "third-ran")
      // one answer won: the ledger has one decision for it, by alice
      const thirdLog = jsonLines((await Cli.run(["log", "--json", "--ledger", ledger])).stdout)
        .filter((entry) => entry.requestId === third.id && entry.type === "decided")
      assert.strictEqual(thirdLog.length, 1)
      assert.include(JSON.stringify(thirdLog[0]?.decidedBy), "alice")

      assert.strictEqual(await interrupt(serve), 130)
    },
    90_000
  )

  it("the same security rules: no token, a wrong Host, a cross-origin POST are refused (403)", async () => {
    const dir = Cli.tempDir()
    const ledger = `sqlite:${path.join(dir, "ledger.db")}`
    const run = inboxRun(ledger, dir, "run:echo never >> never.txt")
    const serve = Cli.spawnDeputy(["serve", "--ledger", ledger, "--cwd", dir])
    const url = await urlOf(serve)
    const asked = await follow(url, (state) => state.pending.length === 1)
    const id = asked.pending[0]!.id
    const token = url.searchParams.get("token")!
    const body = JSON.stringify({ id, action: "approve", tab: "evil" })
    const post = (headers: Record<string, string>) =>
      raw(url, {
        method: "POST",
        path: "/api/answer",
        headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), ...headers },
        body
      })
    assert.strictEqual(await raw(url, { path: "/", headers: { host: url.host } }), 403)
    assert.strictEqual(await raw(url, { path: "/api/events", headers: { host: url.host } }), 403)
    assert.strictEqual(await raw(url, { path: `/?token=${token}`, headers: { host: `evil.example:${url.port}` } }), 403)
    assert.strictEqual(await post({ host: url.host, origin: url.origin }), 403)
    assert.strictEqual(await post({ host: url.host, origin: "http://evil.example", "x-deputy-token": token }), 403)
    assert.strictEqual(
      await post({
        host: `evil.example:${url.port}`,
        origin: `http://evil.example:${url.port}`,
        "x-deputy-token": token
      }),
      403
    )
    // none of them answered: still pending, and the page still answers
    const still = await follow(url, () => true)
    assert.deepStrictEqual(still.pending.map((request) => request.id), [id])
    assert.strictEqual(await answer(url, id, "deny"), 200)
    assert.strictEqual((await run.ended).code, 0)
    assert.isFalse(fs.existsSync(path.join(dir, "never.txt")))
    assert.strictEqual(await interrupt(serve), 130)
  }, 60_000)

  it("usage errors: --ledger off, --ledger with --task, a bad ledger", async () => {
    const off = await Cli.run(["serve", "--ledger", "off"])
    assert.strictEqual(off.code, 2)
    assert.include(off.stderr, "--ledger off")
    const both = await Cli.run(["serve", "--ledger", "sqlite:x.db", "--task", "hi"])
    assert.strictEqual(both.code, 2)
    assert.include(both.stderr, "--ledger is for serving a ledger")
    const bad = await Cli.run(["serve", "--ledger", "mysql://x"])
    assert.strictEqual(bad.code, 2)
    assert.include(bad.stderr, "is not a ledger")
  })
})
