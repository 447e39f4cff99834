/**
 * `deputy run` with the real Codex and no credentials (a scratch HOME and CODEX_HOME without a login, no API
 * key): it fails at once with exit code 1 (the help's "could not start"), saying what to do, and leaves the
 * Codex home as it was. How fast it fails is a bench row (cliStartup), not asserted here.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "./utils/cli.js"

const scratch = () => {
  const dir = Cli.tempDir()
  const home = path.join(dir, "home")
  const codexHome = path.join(dir, "codex-home")
  const cwd = path.join(dir, "work")
  for (const made of [home, codexHome, cwd]) fs.mkdirSync(made)
  return { cwd, codexHome, env: { HOME: home, CODEX_HOME: codexHome, OPENAI_API_KEY: "", CODEX_API_KEY: "" } }
}

describe("deputy run without credentials", () => {
  afterEach(Cli.stopAll)

  it("exits with 1 and says `codex login` or OPENAI_API_KEY; the Codex home stays empty", async () => {
    const { codexHome, cwd, env } = scratch()
    const result = await Cli.run(["run", "say hi"], { cwd, env })
    assert.strictEqual(result.code, 1, result.stderr)
    assert.strictEqual(result.stdout, "")
    assert.match(result.stderr, /^deputy: could not start codex: Codex has no credentials/)
    assert.include(result.stderr, "run `codex login` (or set OPENAI_API_KEY)")
    assert.deepStrictEqual(fs.readdirSync(codexHome), [])
  })

  it("--json: the end record says spawn_failed with the same advice", async () => {
    const { cwd, env } = scratch()
    const result = await Cli.run(["run", "--json", "say hi"], { cwd, env })
    assert.strictEqual(result.code, 1, result.stderr)
    const lines = result.stdout.trimEnd().split("\n")
    assert.lengthOf(lines, 1)
    const ended = JSON.parse(lines[0]) as Record<string, unknown>
    assert.strictEqual(ended.deputy, "ended")
    assert.strictEqual(ended.reason, "spawn_failed")
    assert.include(String(ended.message), "run `codex login` (or set OPENAI_API_KEY)")
  })
})
