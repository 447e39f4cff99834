/**
 * A hostile look at the environment of the commands the real Codex runs: variables of the parent that are
 * not secrets by name but run code or leak credentials (`NODE_OPTIONS`, `LD_PRELOAD`, `BASH_ENV`, a
 * proxy URL with a password, `CODEX_*` names that are not Codex's), and what the allow-list lets through.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { envSeenByCommand, pinnedBinary, provideNode, withParentEnv } from "./utils.js"

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

describe("CodexAgent against a hostile parent environment", () => {
  it.scopedLive("code-running and credential variables of the parent never reach a command Codex runs", () =>
    Effect.gen(function*() {
      yield* withParentEnv(hostile)
      const seen = yield* envSeenByCommand({ binary: pinnedBinary })
      for (const [name, value] of Object.entries(hostile)) {
        assert.notMatch(seen, new RegExp(`^${name}=`, "m"), `${name} reached the command`)
        assert.notInclude(seen, value)
      }
    }).pipe(provideNode))

  // Found by the review of issue #14: the allow-list gives Codex every `OPENAI_*` / `CODEX_*` variable of
  // the parent, its model key included, and Codex (0.171.0) passes its whole environment to the commands it
  // runs. Those that came by the prefixes are now excluded from the commands by name (internal/commandEnv.ts).
  it.scopedLive("allow-listed names do not carry the parent's secrets to Codex's commands", () =>
    Effect.gen(function*() {
      yield* withParentEnv({
        OPENAI_API_KEY: "sk-deputy-review-openai-api-key",
        CODEX_API_KEY: "deputy-review-codex-api-key",
        CODEX_DEPUTY_REVIEW_SECRET: "deputy-review-codex-prefixed-secret",
        OPENAI_DEPUTY_REVIEW_SECRET: "deputy-review-openai-prefixed-secret"
      })
      const seen = yield* envSeenByCommand({ binary: pinnedBinary })
      assert.notInclude(seen, "sk-deputy-review-openai-api-key")
      assert.notInclude(seen, "deputy-review-codex-api-key")
      assert.notInclude(seen, "deputy-review-codex-prefixed-secret")
      assert.notInclude(seen, "deputy-review-openai-prefixed-secret")
    }).pipe(provideNode))

  it.scopedLive("what the caller passes on purpose still reaches the commands; the user's own excludes still hold", () =>
    Effect.gen(function*() {
      yield* withParentEnv({ OPENAI_DEPUTY_REVIEW_SECRET: "deputy-review-openai-prefixed-secret" })
      const seen = yield* envSeenByCommand(
        {
          binary: pinnedBinary,
          env: { CODEX_DEPUTY_ON_PURPOSE: "deputy-kept-on-purpose", DEPUTY_USER_EXCLUDED: "deputy-user-excluded" }
        },
        "\n[shell_environment_policy]\nexclude = [\"DEPUTY_USER_EXCLUDED\"]\n"
      )
      assert.include(seen, "CODEX_DEPUTY_ON_PURPOSE=deputy-kept-on-purpose", "an explicit variable is kept")
      assert.notInclude(seen, "deputy-user-excluded", "the config's own exclude list is merged, not replaced")
      assert.notInclude(seen, "deputy-review-openai-prefixed-secret")
    }).pipe(provideNode))
})
