/**
 * Fail fast, change nothing unasked, with the real Codex (both bundled versions): the user's `config.toml`
 * stays byte-identical, no credentials fail the spawn at once saying what to do, a stalled model stream
 * ends the turn with a clear error, and a Codex that refuses or loosens the approval policy fails the spawn.
 */
import { CodexAgent, CodexHome, ScriptedModel } from "@deputy/codex"
import { Errors } from "@deputy/core"
import type { Event } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as childProcess from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  awaitNoLeftovers,
  codexVersions,
  isTurnEnd,
  pinnedBinary,
  provideNode,
  reader,
  spawnScripted,
  tempDir,
  text
} from "./utils.js"

type Json = Record<string, any>

/** A git working directory (Codex trusts a git project's root when a thread starts with a writable sandbox). */
const gitDir = Effect.tap(tempDir, (dir) => Effect.sync(() => childProcess.execFileSync("git", ["init", "-q", dir])))

/** A Codex home for the built-in OpenAI provider (no scripted model) and no credentials in it. */
const homeWithoutCredentials = Effect.tap(tempDir, (dir) =>
  Effect.sync(() =>
    fs.writeFileSync(
      path.join(dir, "config.toml"),
      CodexHome.configToml({ baseUrl: "http://127.0.0.1:9/v1" })
        .replace("model_provider = \"scripted\"\n", "")
        .replace(/\[model_providers\.scripted\][\s\S]*$/, "")
    )
  ))

/** A script standing in for `codex app-server`: answers `initialize` and `account/read`, then `thread/start` with `threadStart`. */
const fakeAppServer = (dir: string, threadStart: string) => {
  const file = path.join(dir, "fake-codex")
  fs.writeFileSync(
    file,
    `#!/usr/bin/env node
const rl = require("node:readline").createInterface({ input: process.stdin })
const send = (message) => process.stdout.write(JSON.stringify(message) + "\\n")
rl.on("line", (line) => {
  const message = JSON.parse(line)
  if (message.method === "initialize") send({ id: message.id, result: { userAgent: "fake" } })
  if (message.method === "account/read") send({ id: message.id, result: { account: null, requiresOpenaiAuth: false } })
  if (message.method === "thread/start") send({ id: message.id, ...${threadStart} })
})
`,
    { mode: 0o755 }
  )
  return file
}

describe.each(codexVersions)("Codex $version changes nothing unasked and fails fast", ({ binary }) => {
  const run = (options: CodexAgent.Options) =>
    Effect.gen(function*() {
      const cwd = yield* gitDir
      const model = yield* ScriptedModel.make(
        ScriptedModel.scenario([ScriptedModel.exec("echo hi > out.txt"), ScriptedModel.message("done")])
      )
      const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
      const file = path.join(home.path, "config.toml")
      const before = fs.readFileSync(file)
      const agent = yield* CodexAgent.spawn(
        { binary, codexHome: home.path, ...options, env: home.env },
        { source: "review", cwd }
      )
      const events = yield* reader(agent)
      yield* agent.submit(text("write it"))
      const seen = yield* events.until(isTurnEnd, (event) =>
        event.msg.type === "exec_approval_request"
          ? { type: "exec_approval", id: String(event.msg.call_id), turn_id: event.id, decision: "approved" }
          : undefined)
      assert.strictEqual(seen.at(-1)?.msg.type, "task_complete")
      assert.strictEqual(fs.readFileSync(path.join(cwd, "out.txt"), "utf8"), "hi\n")
      yield* agent.submit({ type: "shutdown" })
      yield* events.rest
      return { before, after: fs.readFileSync(file), cwd, rolloutPath: agent.rolloutPath, home: home.path }
    })

  it.scopedLive("a run in a git directory leaves config.toml byte-identical; the thread is stored in the real home", () =>
    Effect.gen(function*() {
      const { after, before, home, rolloutPath } = yield* run({})
      assert.isTrue(before.equals(after), `config.toml changed:\n${after.toString("utf8").slice(before.length)}`)
      assert.isDefined(rolloutPath)
      assert.isTrue(rolloutPath!.startsWith(fs.realpathSync(home) + path.sep), rolloutPath)
      assert.isTrue(fs.existsSync(rolloutPath!))
    }).pipe(provideNode))

  it.scopedLive("writeCodexConfig: true lets Codex append its trust entry (what the overlay prevents)", () =>
    Effect.gen(function*() {
      const { after, before, cwd } = yield* run({ writeCodexConfig: true })
      assert.isFalse(before.equals(after))
      assert.include(after.toString("utf8"), `[projects."${fs.realpathSync(cwd)}"]`)
    }).pipe(provideNode))

  it.scopedLive("no credentials: a SpawnError at once that says `codex login` or OPENAI_API_KEY", () =>
    Effect.gen(function*() {
      const codexHome = yield* homeWithoutCredentials
      const entries = fs.readdirSync(codexHome)
      const started = Date.now()
      const error = yield* Effect.flip(
        CodexAgent.spawn({ binary, codexHome, env: { OPENAI_API_KEY: "", CODEX_API_KEY: "" } }, {
          source: "review",
          cwd: yield* tempDir
        })
      )
      const wallMs = Date.now() - started
      assert.instanceOf(error, Errors.SpawnError)
      assert.include(error.reason, "codex login")
      assert.include(error.reason, "OPENAI_API_KEY")
      assert.include(error.reason, `CODEX_HOME ${fs.realpathSync(codexHome)}`)
      assert.deepStrictEqual(fs.readdirSync(codexHome), entries, "the spawn that failed changed the home")
      // The figure for the report; speed is not asserted here.
      console.log(`no-credentials spawn failure: ${wallMs} ms`)
      assert.deepStrictEqual(yield* awaitNoLeftovers, [])
    }).pipe(provideNode))

  it.scopedLive("an API key in the environment counts as credentials (the spawn goes on)", () =>
    Effect.gen(function*() {
      const codexHome = yield* homeWithoutCredentials
      const agent = yield* CodexAgent.spawn({ binary, codexHome, env: { OPENAI_API_KEY: "sk-deputy-test" } }, {
        source: "review",
        cwd: yield* tempDir
      })
      assert.isString(agent.threadId)
    }).pipe(provideNode))
})

describe("CodexAgent: a stalled model stream", () => {
  it.scopedLive("the turn ends with an error naming the stall once turnTimeout passes without progress", () =>
    Effect.gen(function*() {
      const { agent } = yield* spawnScripted(ScriptedModel.scenario([ScriptedModel.stall]), {
        binary: pinnedBinary,
        turnTimeout: "1 second"
      })
      const events = yield* reader(agent)
      yield* agent.submit(text("think"))
      const seen = yield* events.until(isTurnEnd)
      const end = seen.at(-1)!.msg as Json
      assert.strictEqual(end.type, "task_complete")
      assert.match(end.error.message, /no progress for 1s: the model stream stalled or the network is down/)
      const errors = seen.filter((event: Event.Event) => event.msg.type === "error")
      assert.lengthOf(errors, 1)
      // The agent goes on: the next turn works.
      yield* agent.submit(text("again"))
      assert.strictEqual((yield* events.until(isTurnEnd)).at(-1)?.msg.type, "task_complete")
    }).pipe(provideNode))
})

describe("CodexAgent: the network is down", () => {
  it.scopedLive("Codex's retries are bounded by turnTimeout: the turn ends with an error that counts them", () =>
    Effect.gen(function*() {
      // A provider on a port nobody listens on, with Codex's own retries on (as for a real provider).
      const home = yield* CodexHome.make({ baseUrl: "http://127.0.0.1:9/v1" })
      const file = path.join(home.path, "config.toml")
      fs.writeFileSync(
        file,
        fs.readFileSync(file, "utf8").replace("request_max_retries = 0", "request_max_retries = 100")
          .replace("stream_max_retries = 0", "stream_max_retries = 100")
      )
      const agent = yield* CodexAgent.spawn(
        { binary: pinnedBinary, codexHome: home.path, env: home.env, turnTimeout: "2 seconds" },
        { source: "review", cwd: yield* tempDir }
      )
      const events = yield* reader(agent)
      yield* agent.submit(text("hello"))
      const seen = yield* events.until(isTurnEnd)
      const end = seen.at(-1)!.msg as Json
      assert.strictEqual(end.type, "task_complete")
      assert.match(end.error.message, /no progress for 2s: the model stream stalled or the network is down/)
      console.log(`network down: ${seen.filter((event) => event.msg.type === "stream_error").length} retry notices`)
    }).pipe(provideNode))
})

describe("CodexAgent: a Codex that will not run the approval policy", () => {
  it.scopedLive("thread/start refused for `untrusted`: a SpawnError that says so, not a hang", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const binary = fakeAppServer(
        dir,
        `{ error: { code: -32600, message: "unknown variant \`untrusted\`, expected one of \`on-request\`, \`never\`" } }`
      )
      const error = yield* Effect.flip(
        CodexAgent.spawn({ binary, writeCodexConfig: true }, { source: "review", cwd: dir })
      )
      assert.instanceOf(error, Errors.SpawnError)
      assert.include(error.reason, "this Codex refuses the approval policy \"untrusted\"")
    }).pipe(provideNode))

  it.scopedLive("a thread opened with a looser policy than asked: a SpawnError (fail closed)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const binary = fakeAppServer(dir, `{ result: { thread: { id: "t1" }, approvalPolicy: "on-request" } }`)
      const error = yield* Effect.flip(
        CodexAgent.spawn({ binary, writeCodexConfig: true }, { source: "review", cwd: dir })
      )
      assert.instanceOf(error, Errors.SpawnError)
      assert.include(error.reason, "approval policy \"on-request\" instead of \"untrusted\"")
    }).pipe(provideNode))
})
