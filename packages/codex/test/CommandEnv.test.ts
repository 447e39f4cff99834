/** What the commands Codex runs inherit: the prefixed variables of the parent are named in an exclude list. */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { commandEnvPolicy, configuredExcludes } from "../src/internal/commandEnv.js"

const withConfig = (text: string | undefined, f: (file: string) => void) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-command-env-"))
  try {
    const file = path.join(dir, "config.toml")
    if (text !== undefined) fs.writeFileSync(file, text)
    f(file)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

describe("the commands' environment policy", () => {
  it("excludes by name what came by the prefixes, keeps what was passed on purpose, merges the config's list", () =>
    withConfig("[shell_environment_policy]\nexclude = [\"AWS_*\"]\n", (configFile) => {
      const { args, env } = commandEnvPolicy({
        env: { PATH: "/bin", OPENAI_API_KEY: "k", CODEX_X: "x", CODEX_ON_PURPOSE: "p" },
        prefixes: ["OPENAI_", "CODEX_"],
        explicit: new Set(["CODEX_ON_PURPOSE"]),
        configFile
      })
      assert.deepStrictEqual(env, { PATH: "/bin", OPENAI_API_KEY: "k", CODEX_X: "x", CODEX_ON_PURPOSE: "p" })
      assert.deepStrictEqual(args, [
        "-c",
        "shell_environment_policy.exclude=[\"AWS_*\",\"CODEX_X\",\"OPENAI_API_KEY\"]"
      ])
    }))

  it("a prefixed name no pattern can name (a wildcard in it) is not given to Codex at all", () =>
    withConfig(undefined, (configFile) => {
      const { args, env } = commandEnvPolicy({
        env: { "OPENAI_*": "a", "CODEX_[x]": "b", "OPENAI_A?": "c", OPENAI_OK: "d" },
        prefixes: ["OPENAI_", "CODEX_"],
        explicit: new Set(),
        configFile
      })
      assert.deepStrictEqual(env, { OPENAI_OK: "d" })
      assert.deepStrictEqual(args, ["-c", "shell_environment_policy.exclude=[\"OPENAI_OK\"]"])
    }))

  it("nothing prefixed from the parent: no override (the config's own policy as it is)", () =>
    withConfig(undefined, (configFile) => {
      const { args } = commandEnvPolicy({
        env: { PATH: "/bin" },
        prefixes: ["OPENAI_"],
        explicit: new Set(),
        configFile
      })
      assert.deepStrictEqual(args, [])
    }))

  it("a missing, invalid or odd config gives no patterns of its own", () => {
    withConfig(undefined, (file) => assert.deepStrictEqual(configuredExcludes(file), []))
    withConfig("this is = = not toml", (file) => assert.deepStrictEqual(configuredExcludes(file), []))
    withConfig(
      "[shell_environment_policy]\nexclude = \"A\"\n",
      (file) => assert.deepStrictEqual(configuredExcludes(file), [])
    )
    withConfig(
      "[shell_environment_policy]\nexclude = [\"A\", 3]\n",
      (file) => assert.deepStrictEqual(configuredExcludes(file), ["A"])
    )
  })
})
