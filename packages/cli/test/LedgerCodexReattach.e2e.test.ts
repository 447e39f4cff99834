/**
 * A restarted `deputy` reattaches to a Codex by itself, with the pinned binary and the scripted model
 * (offline): `deputy run --approval inbox` runs Codex durable (`--listen unix://` under a watchdog); its
 * command request waits in the SQLite ledger; the `deputy` is killed with SIGKILL and Codex outlives it;
 * the request is answered with `deputy approve` (another process); a new `deputy run` finds the dead
 * deputy's pending request, reattaches (`thread/resume` replays it), sends the ledger's decision without
 * asking anyone, the command runs exactly once, the log verifies, and no process is left (checked by pid).
 */
import { CodexHome, ScriptedModel } from "@deputy/codex"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach } from "vitest"
import * as Cli from "./utils/cli.js"

type Json = Record<string, any>

const jsonLines = (text: string): Array<Json> =>
  text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line) as Json)

/** Polls (every 20 ms, at most `limitMs`) until `done` holds; whether it did. */
const eventually = async (done: () => boolean, limitMs: number) => {
  const deadline = Date.now() + limitMs
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  return done()
}

const codexArgs = (home: CodexHome.CodexHome) => [
  "--codex-home",
  home.path,
  "--sandbox",
  "read-only",
  ...Object.keys(home.env).filter((name) => name !== "CODEX_HOME").flatMap((name) => ["--env", name])
]

/**
 * A `deputy run --approval inbox` on a durable Codex whose command request waits in the ledger, killed with
 * SIGKILL; Codex outlives it. Also a second Codex home for the next deputy's own prompt (a message only).
 */
const crashed = Effect.gen(function*() {
  const dir = Cli.tempDir()
  const deputyHome = path.join(dir, "home")
  const ledger = path.join(dir, "ledger.db")
  const ledgerArgs = ["--ledger", `sqlite:${ledger}`]
  const work = path.join(dir, "work")
  fs.mkdirSync(work)
  const env = { DEPUTY_HOME: deputyHome }
  const model = yield* ScriptedModel.make(ScriptedModel.scenario([
    ScriptedModel.exec("echo once >> out.txt", { justification: "to test reattaching" })
  ]))
  const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
  const model2 = yield* ScriptedModel.make(ScriptedModel.messageScenario("Nothing else to do."))
  const home2 = yield* CodexHome.make({ baseUrl: model2.baseUrl })

  const first = Cli.spawnDeputy([
    "run",
    "--json",
    "--approval",
    "inbox",
    ...ledgerArgs,
    "--cwd",
    work,
    ...codexArgs(home),
    "go"
  ], { env: { ...env, ...home.env } })
  const id = yield* Effect.promise(() => announced(first))
  const exited = new Promise((resolve) => first.on("close", resolve))

  // The pending entry says where the Codex is.
  const pending = jsonLines((yield* Effect.promise(() => Cli.run(["log", "--json", ...ledgerArgs]))).stdout)
    .find((entry) => entry.type === "pending" && entry.requestId === id)!
  const point = pending.data.reattach as { socketPath: string; pid: number; watchdogPid: number; threadId: string }
  assert.isDefined(point, "the pending entry records the reattach point")
  assert.strictEqual(path.dirname(path.dirname(point.socketPath)), path.join(deputyHome, "codex"))
  assert.strictEqual(fs.statSync(path.dirname(point.socketPath)).mode & 0o777, 0o700)

  first.kill("SIGKILL")
  yield* Effect.promise(() => exited)
  assert.isTrue(Cli.isAlive(point.pid) && Cli.isAlive(point.watchdogPid), "Codex outlived its deputy")
  assert.isFalse(fs.existsSync(path.join(work, "out.txt")), "nothing ran before the answer")
  const second = ["run", "--json", "--approval", "inbox", ...ledgerArgs, "--cwd", work, ...codexArgs(home2), "hello"]
  return { id, point, ledgerArgs, work, deputyHome, second, secondEnv: { ...env, ...home2.env } }
})

/** The id of the first request a deputy announces as waiting in the ledger. */
const announced = (child: ReturnType<typeof Cli.spawnDeputy>) =>
  new Promise<string>((resolve, reject) => {
    let stderr = ""
    child.stderr!.on("data", (data) => {
      stderr += data
      const found = /deputy approve (\S+)/.exec(stderr)
      if (found !== null) resolve(found[1]!)
    })
    child.on("close", () => reject(new Error(`deputy ended before a request waited:\n${stderr}`)))
  })

/** No durable Codex is left: the reattached one, its watchdog, its socket directory. */
const nothingLeft = (point: { socketPath: string; pid: number; watchdogPid: number }, deputyHome: string) =>
  Effect.gen(function*() {
    assert.isTrue(
      yield* Effect.promise(() => eventually(() => !Cli.isAlive(point.pid) && !Cli.isAlive(point.watchdogPid), 5_000)),
      "the reattached Codex ended with the second deputy"
    )
    assert.isFalse(fs.existsSync(path.dirname(point.socketPath)), "its socket directory is removed")
    assert.deepStrictEqual(fs.readdirSync(path.join(deputyHome, "codex")), [], "no durable Codex is left")
  })

describe("deputy: a restarted deputy reattaches to the Codex its dead predecessor left", () => {
  afterEach(Cli.stopAll)

  it.live(
    "SIGKILL with a request pending; approved meanwhile; the new deputy reattaches, sends it once, leaves nothing",
    () =>
      Effect.gen(function*() {
        const { deputyHome, id, ledgerArgs, point, second: secondArgs, secondEnv, work } = yield* crashed
        const approved = yield* Effect.promise(() => Cli.run(["approve", id, "--as", "dana", ...ledgerArgs]))
        assert.strictEqual(approved.code, 0, approved.stderr)

        const second = yield* Effect.promise(() => Cli.run(secondArgs, { env: secondEnv }))
        assert.strictEqual(second.code, 0, second.stderr)
        assert.include(second.stderr, `reattaching to the Codex (pid ${point.pid})`)
        assert.include(second.stderr, "that answer is sent again, nobody is asked")
        assert.include(
          second.stderr,
          `the same request, replayed by the same child (codex pid ${point.pid}, thread ${point.threadId})`
        )
        assert.notInclude(second.stderr, "waiting in the ledger")
        assert.strictEqual(fs.readFileSync(path.join(work, "out.txt"), "utf8"), "once\n", "the command ran once")

        yield* nothingLeft(point, deputyHome)

        const entries = jsonLines((yield* Effect.promise(() => Cli.run(["log", "--json", ...ledgerArgs]))).stdout)
        const ofOld = entries.filter((entry) => entry.requestId === id).map((entry) => entry.type)
        assert.deepStrictEqual(ofOld, ["pending", "decided", "settled"])
        const replayed = entries.filter((entry) =>
          entry.requestId !== id && entry.kind === "command" && entry.type === "settled"
        )
        assert.strictEqual(replayed.length, 1, "the replayed request settled once")
        assert.strictEqual(replayed[0]!.outcome, "approved")
        assert.deepInclude(replayed[0]!.decidedBy, { _tag: "Person", name: "dana" })
        // Dana decided once; the replayed request carries that decision (re-sent), nobody was asked again.
        assert.include(
          entries.find((entry) => entry.requestId === id && entry.type === "settled")!.data.reason,
          "re-sent"
        )
        assert.strictEqual(entries.filter((entry) => entry.requestId !== id && entry.type === "pending").length, 1)
        assert.strictEqual(entries.filter((entry) => entry.type === "rejected").length, 0)

        const verified = yield* Effect.promise(() => Cli.run(["log", "--verify", ...ledgerArgs]))
        assert.strictEqual(verified.code, 0, verified.stdout + verified.stderr)
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)),
    120_000
  )

  it.live(
    "undecided when its deputy died: asked again once under a new id, answered, run once",
    () =>
      Effect.gen(function*() {
        const { deputyHome, id, ledgerArgs, point, second: secondArgs, secondEnv, work } = yield* crashed
        const second = Cli.spawnDeputy(secondArgs, { env: secondEnv })
        second.stdin.end()
        const exited = new Promise<number | null>((resolve) => second.on("close", resolve))
        const newId = yield* Effect.promise(() => announced(second))
        assert.notStrictEqual(newId, id)
        const approved = yield* Effect.promise(() => Cli.run(["approve", newId, "--as", "erin", ...ledgerArgs]))
        assert.strictEqual(approved.code, 0, approved.stderr)
        assert.strictEqual(yield* Effect.promise(() => exited), 0)
        assert.strictEqual(fs.readFileSync(path.join(work, "out.txt"), "utf8"), "once\n", "the command ran once")
        yield* nothingLeft(point, deputyHome)

        const entries = jsonLines((yield* Effect.promise(() => Cli.run(["log", "--json", ...ledgerArgs]))).stdout)
        const old = entries.filter((entry) => entry.requestId === id)
        assert.deepStrictEqual(old.map((entry) => entry.type), ["pending", "decided", "settled"])
        assert.strictEqual(old[2]!.outcome, "lost")
        assert.include(old[2]!.data.reason, "asked again once")
        // The old id cannot be answered any more: the question is asked once, under the new id.
        const late = yield* Effect.promise(() => Cli.run(["approve", id, ...ledgerArgs]))
        assert.strictEqual(late.code, 1)
        const ofNew = entries.filter((entry) => entry.requestId === newId)
        assert.deepStrictEqual(ofNew.map((entry) => entry.type), ["pending", "decided", "settled"])
        assert.strictEqual(ofNew[2]!.outcome, "approved")
        const verified = yield* Effect.promise(() => Cli.run(["log", "--verify", ...ledgerArgs]))
        assert.strictEqual(verified.code, 0, verified.stdout + verified.stderr)
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)),
    120_000
  )

  it.live("its Codex gone too: the request settles lost, as without a durable Codex", () =>
    Effect.gen(function*() {
      const { id, ledgerArgs, point, second: secondArgs, secondEnv } = yield* crashed
      process.kill(point.watchdogPid, "SIGKILL")
      process.kill(-point.pid, "SIGKILL")
      assert.isTrue(yield* Effect.promise(() => eventually(() => !Cli.isAlive(point.pid), 5_000)))
      const second = yield* Effect.promise(() => Cli.run(secondArgs, { env: secondEnv }))
      assert.strictEqual(second.code, 0, second.stderr)
      assert.include(second.stderr, "is not reattached")
      assert.include(second.stderr, `${id} settled lost`)
      assert.notInclude(second.stderr, "reattaching to the Codex")
      const verified = yield* Effect.promise(() => Cli.run(["log", "--verify", ...ledgerArgs]))
      assert.strictEqual(verified.code, 0, verified.stdout + verified.stderr)
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)), 120_000)
})
