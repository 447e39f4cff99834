/**
 * A hostile look at the environment of the commands the real Codex runs: variables of the parent that are
 * not secrets by name but run code or leak credentials (`NODE_OPTIONS`, `LD_PRELOAD`, `BASH_ENV`, a
 * proxy URL with a password, `CODEX_*` names that are not Codex's), and what the allow-list lets through.
 */
import { ScriptedModel } from "@deputy/codex"
import type { Event, Op } from "@deputy/protocol"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { isTurnEnd, pinnedBinary, provideNode, reader, spawnScripted, text } from "./utils.js"

const approve = (event: Event.Event): Op.Op | undefined =>
  event.msg.type === "exec_approval_request"
    ? {
      type: "exec_approval",
      id: String(event.msg.approval_id ?? event.msg.call_id),
      turn_id: event.id,
      decision: "approved"
    }
    : undefined

/** Variables a hostile or careless parent environment holds: none may reach a command Codex runs. */
const hostile: Record<string, string> = {
  NODE_OPTIONS: "--require /tmp/deputy-review-evil.js",
  LD_PRELOAD: "/tmp/deputy-review-evil.so",
  BASH_ENV: "/tmp/deputy-review-evil.sh",
  ENV: "/tmp/deputy-review-evil.sh",
  PYTHONPATH: "/tmp/deputy-review-evil",
  GIT_SSH_COMMAND: "deputy-review-evil-ssh",
  npm_config_registry: "https://deputy-review-evil.invalid",
  npm_config__authToken: "deputy-review-npm-token",
  PGPASSWORD: "deputy-review-pg-password"
}

const withParentEnv = (vars: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const before = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]))
      Object.assign(process.env, vars)
      return before
    }),
    (before) =>
      Effect.sync(() => {
        for (const [name, value] of Object.entries(before)) {
          if (value === undefined) delete process.env[name]
          else process.env[name] = value
        }
      })
  )

const envSeenByCommand = Effect.gen(function*() {
  const { agent, cwd } = yield* spawnScripted(
    ScriptedModel.scenario([ScriptedModel.exec("env > env.txt"), ScriptedModel.message("done")]),
    { binary: pinnedBinary }
  )
  const events = yield* reader(agent)
  yield* agent.submit(text("show the environment"))
  yield* events.until(isTurnEnd, approve)
  return fs.readFileSync(path.join(cwd, "env.txt"), "utf8")
})

describe("CodexAgent against a hostile parent environment", () => {
  it.scopedLive("code-running and credential variables of the parent never reach a command Codex runs", () =>
    Effect.gen(function*() {
      yield* withParentEnv(hostile)
      const seen = yield* envSeenByCommand
      for (const [name, value] of Object.entries(hostile)) {
        assert.notMatch(seen, new RegExp(`^${name}=`, "m"), `${name} reached the command`)
        assert.notInclude(seen, value)
      }
    }).pipe(provideNode))

  // KNOWN HOLE (found by the review of issue #14; the fix belongs in CodexAgent.ts, not reviewed here): the
  // allow-list gives Codex every `OPENAI_*` / `CODEX_*` variable of the parent, its model key included, and
  // Codex (0.171.0) passes its whole environment to the commands it runs: a command the model asks for reads
  // `OPENAI_API_KEY`. `-c shell_environment_policy.ignore_default_excludes=false` (Codex's *KEY*/*SECRET*/
  // *TOKEN* filter) makes this test pass, but also drops what the caller passes on purpose (`--env
  // GITHUB_TOKEN`); `shell_environment_policy.exclude` with the names that came in by the prefixes only does
  // not. Remove `.fails` with the fix.
  it.scopedLive.fails("allow-listed names do not carry the parent's secrets to Codex's commands", () =>
    Effect.gen(function*() {
      yield* withParentEnv({
        OPENAI_API_KEY: "sk-deputy-review-openai-api-key",
        CODEX_API_KEY: "deputy-review-codex-api-key",
        CODEX_DEPUTY_REVIEW_SECRET: "deputy-review-codex-prefixed-secret",
        OPENAI_DEPUTY_REVIEW_SECRET: "deputy-review-openai-prefixed-secret"
      })
      const seen = yield* envSeenByCommand
      assert.notInclude(seen, "sk-deputy-review-openai-api-key")
      assert.notInclude(seen, "deputy-review-codex-api-key")
      assert.notInclude(seen, "deputy-review-codex-prefixed-secret")
      assert.notInclude(seen, "deputy-review-openai-prefixed-secret")
    }).pipe(provideNode))
})
