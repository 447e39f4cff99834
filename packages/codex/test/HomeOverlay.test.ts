/**
 * The scratch overlay of a Codex home: what Codex writes into `config.toml` is dropped, what it writes
 * through the links lands in the real home, a file it replaces (a refreshed `auth.json`) is copied back.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import * as HomeOverlay from "../src/internal/homeOverlay.js"
import { provideNode, tempDir } from "./utils.js"

describe("HomeOverlay", () => {
  it.scoped("config.toml stays byte-identical; links write through; a replaced file is copied back", () =>
    Effect.gen(function*() {
      const real = fs.realpathSync(yield* tempDir)
      fs.writeFileSync(path.join(real, "config.toml"), "model = \"m\"\n")
      fs.writeFileSync(path.join(real, "auth.json"), "{\"old\":true}", { mode: 0o600 })
      fs.mkdirSync(path.join(real, "rules"))
      const before = fs.readFileSync(path.join(real, "config.toml"))
      const scope = yield* Scope.make()
      const overlay = yield* HomeOverlay.make({ CODEX_HOME: real }, true).pipe(Scope.extend(scope))
      const dir = overlay.env.CODEX_HOME!
      assert.notStrictEqual(dir, real)
      assert.strictEqual(overlay.env.CODEX_SQLITE_HOME, dir)
      assert.isFalse(fs.existsSync(path.join(real, "sessions")), "nothing is created before ensureSessions")
      overlay.ensureSessions()
      // What Codex does: append a trust entry, store a thread, write a rule, refresh its login by rename.
      fs.appendFileSync(path.join(dir, "config.toml"), "[projects.\"/w\"]\ntrust_level = \"trusted\"\n")
      fs.writeFileSync(path.join(dir, "sessions", "rollout.jsonl"), "{}\n")
      fs.writeFileSync(path.join(dir, "rules", "default.rules"), "prefix_rule()\n")
      fs.writeFileSync(path.join(dir, "auth.json.tmp"), "{\"new\":true}")
      fs.renameSync(path.join(dir, "auth.json.tmp"), path.join(dir, "auth.json"))
      fs.writeFileSync(path.join(dir, "state_5.sqlite"), "x")
      assert.strictEqual(
        overlay.toReal(path.join(dir, "sessions", "rollout.jsonl")),
        path.join(real, "sessions", "rollout.jsonl")
      )
      assert.strictEqual(overlay.toReal(dir), real)
      assert.strictEqual(overlay.toReal("/elsewhere"), "/elsewhere")
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(fs.existsSync(dir))
      assert.isTrue(fs.readFileSync(path.join(real, "config.toml")).equals(before))
      assert.strictEqual(fs.readFileSync(path.join(real, "sessions", "rollout.jsonl"), "utf8"), "{}\n")
      assert.strictEqual(fs.readFileSync(path.join(real, "rules", "default.rules"), "utf8"), "prefix_rule()\n")
      assert.strictEqual(fs.readFileSync(path.join(real, "auth.json"), "utf8"), "{\"new\":true}")
      assert.strictEqual(fs.statSync(path.join(real, "auth.json")).mode & 0o777, 0o600)
      assert.isFalse(fs.existsSync(path.join(real, "state_5.sqlite")))
      assert.isFalse(fs.existsSync(path.join(real, "auth.json.tmp")))
    }).pipe(provideNode))

  it.scoped("a home that does not exist is left alone (Codex reports it)", () =>
    Effect.gen(function*() {
      const missing = path.join(yield* tempDir, "nope")
      const overlay = yield* HomeOverlay.make({ CODEX_HOME: missing }, true)
      assert.deepStrictEqual(overlay.env, {})
      assert.isFalse(fs.existsSync(missing))
    }).pipe(provideNode))
})
