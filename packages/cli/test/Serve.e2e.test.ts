import { afterEach, assert, describe, it } from "@effect/vitest"
import { run, stopAll, tempDir } from "./utils/cli.js"
import { answer, follow, interrupt, serveTasks, urlOf } from "./utils/serve.js"

afterEach(stopAll)

describe("deputy serve", () => {
  it("prints one URL, runs the tasks, and each process child gets the answer given on the page", async () => {
    const cwd = tempDir()
    const child = serveTasks(cwd, ["run:echo first-ran", "run:echo second-ran"])
    const url = await urlOf(child)
    assert.match(url.href, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/)
    const asked = await follow(url, (state) => state.pending.length === 2)
    // The live tree: both nodes are the supervisor's, running, waiting on the page.
    assert.deepStrictEqual(
      [...asked.nodes.values()].map((node) => [node.id, node.path.join(""), node.status]).sort(),
      [["task-1", "serve/task-1", "running"], ["task-2", "serve/task-2", "running"]]
    )
    const first = asked.pending.find((request) => request.id.startsWith("task-1/"))!
    const second = asked.pending.find((request) => request.id.startsWith("task-2/"))!
    assert.strictEqual(await answer(url, first.id, "approve"), 200)
    assert.strictEqual(await answer(url, second.id, "deny"), 200)
    assert.strictEqual(await answer(url, second.id, "approve"), 409)

    const done = await follow(
      url,
      (state) => ["task-1", "task-2"].every((id) => state.nodes.get(id)?.ended !== undefined)
    )
    const outputs = (id: string) =>
      (done.events.get(id) ?? []).filter((event) => event.type === "exec_command_end").map((e) => e.text.join(""))
    assert.deepStrictEqual(outputs("task-1").length, 1)
    assert.include(outputs("task-1")[0], "first-ran")
    assert.deepStrictEqual(outputs("task-2"), [])
    assert.deepStrictEqual(
      done.history.map((entry) => [entry.id, entry.outcome, entry.client]).sort(),
      [[first.id, "approved", "web:e2e"], [second.id, "denied", "web:e2e"]]
    )
    assert.strictEqual(await interrupt(child), 130)
  })

  it("--max-concurrent 1: the page shows the second task queued, then running, then ended", async () => {
    const cwd = tempDir()
    const child = serveTasks(cwd, ["run:echo first-ran", "run:echo second-ran"], ["--max-concurrent", "1"])
    const url = await urlOf(child)
    const statuses: Array<string> = []
    const asked = await follow(url, (state) => {
      const second = state.nodes.get("task-2")?.status
      if (second !== undefined && statuses.at(-1) !== second) statuses.push(second)
      return state.pending.length === 1
    })
    assert.strictEqual(asked.pending[0].id.split("/")[0], "task-1")
    // The request carries the tree's provenance: its node's path and the chain from the root.
    assert.strictEqual(asked.pending[0].path?.join(""), "serve/task-1")
    assert.deepStrictEqual(asked.pending[0].chain.map((link) => link.path.join("")).at(-1), "serve/task-1")
    assert.strictEqual(asked.nodes.get("task-1")?.status, "running")
    assert.strictEqual(asked.nodes.get("task-2")?.status, "queued: #1")
    assert.strictEqual(await answer(url, asked.pending[0].id, "approve"), 200)
    const second = await follow(url, (state) => {
      const status = state.nodes.get("task-2")?.status
      if (status !== undefined && statuses.at(-1) !== status) statuses.push(status)
      return state.pending.length === 1 && state.pending[0].id.startsWith("task-2/")
    })
    assert.strictEqual(second.nodes.get("task-1")?.status, "ended")
    assert.deepStrictEqual(second.nodes.get("task-1")?.ended?.join(""), "completed")
    assert.strictEqual(await answer(url, second.pending[0].id, "deny"), 200)
    const done = await follow(url, (state) => {
      const status = state.nodes.get("task-2")?.status
      if (status !== undefined && statuses.at(-1) !== status) statuses.push(status)
      return state.nodes.get("task-2")?.status === "ended"
    })
    assert.strictEqual(done.nodes.get("task-2")?.ended?.join(""), "completed")
    // Queued first, ended last; whatever the page saw in between is a start.
    assert.strictEqual(statuses[0], "queued: #1")
    assert.strictEqual(statuses.at(-1), "ended")
    assert.include(statuses, "running")
    assert.strictEqual(await interrupt(child), 130)
  })

  it("usage errors name the flag (exit 2): a bad port, codex flags with a process agent, an unknown flag", async () => {
    const port = await run(["serve", "--port", "70000"])
    assert.strictEqual(port.code, 2)
    assert.include(port.stderr, "--port: 70000 is not a port")
    const mixed = await run(["serve", "--agent-command", "node x.mjs", "--model", "m"])
    assert.strictEqual(mixed.code, 2)
    assert.include(mixed.stderr, "--model only apply to --agent codex")
    const unknown = await run(["serve", "--prot", "8080"])
    assert.strictEqual(unknown.code, 2)
    assert.include(unknown.stderr, "did you mean --port?")
    const typo = await run(["serv"])
    assert.strictEqual(typo.code, 2)
    assert.include(typo.stderr, "did you mean serve?")
  })
})
