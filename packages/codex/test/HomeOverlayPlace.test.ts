/**
 * Where the scratch overlay of a Codex home lives: in the home's own scratch directory (`tmp`), not in the
 * system's temporary directory. Codex refuses to make its `codex-linux-sandbox` helper link under the
 * temporary directory, and a system bubblewrap without `--argv0` (older than 0.9, e.g. Debian 12's 0.8.0)
 * then cannot start any sandboxed command ("bwrap: execvp codex-linux-sandbox: No such file or directory");
 * `/tmp` is also one of the sandbox's writable roots, so a sandboxed command could rewrite the overlay's
 * `config.toml`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as HomeOverlay from "../src/internal/homeOverlay.js"
import { provideNode, tempDir } from "./utils.js"

/** A real home outside the temporary directory: `base/home`, with TMPDIR set to `base/tmp` meanwhile. */
const homeOutsideTemp = Effect.gen(function*() {
  const base = fs.realpathSync(yield* tempDir)
  const home = path.join(base, "home")
  const temp = path.join(base, "tmp")
  fs.mkdirSync(home)
  fs.mkdirSync(temp)
  fs.writeFileSync(path.join(home, "config.toml"), "model = \"m\"\n")
  const previous = process.env.TMPDIR
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      process.env.TMPDIR = temp
    }),
    () =>
      Effect.sync(() => {
        if (previous === undefined) delete process.env.TMPDIR
        else process.env.TMPDIR = previous
      })
  )
  return { home, temp }
})

describe("HomeOverlay: where the overlay lives", () => {
  it.scoped("in the home's own tmp, not the temporary directory; nothing is left after", () =>
    Effect.gen(function*() {
      const { home, temp } = yield* homeOutsideTemp
      assert.strictEqual(os.tmpdir(), temp)
      const scope = yield* Scope.make()
      const overlay = yield* HomeOverlay.make({ CODEX_HOME: home }, false).pipe(Scope.extend(scope))
      const dir = overlay.env.CODEX_HOME!
      assert.isTrue(dir.startsWith(path.join(home, "tmp") + path.sep), dir)
      assert.deepStrictEqual(fs.readdirSync(temp), [])
      assert.strictEqual(fs.readFileSync(path.join(dir, "config.toml"), "utf8"), "model = \"m\"\n")
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(fs.existsSync(dir))
      assert.deepStrictEqual(fs.readdirSync(home), ["config.toml"], "the tmp it made is removed again")
    }).pipe(provideNode))

  it.scoped("a home's own tmp is kept, and an overlay left by a process that is gone is removed", () =>
    Effect.gen(function*() {
      const { home } = yield* homeOutsideTemp
      const scratch = path.join(home, "tmp")
      fs.mkdirSync(path.join(scratch, "arg0-linux"), { recursive: true })
      // A pid no process has (above the kernel's pid_max limit).
      const left = path.join(scratch, "deputy-overlay-4194305-abcdef")
      fs.mkdirSync(left)
      fs.symlinkSync(path.join(home, "config.toml"), path.join(left, "config.toml"))
      const scope = yield* Scope.make()
      yield* HomeOverlay.make({ CODEX_HOME: home }, false).pipe(Scope.extend(scope))
      assert.isFalse(fs.existsSync(left))
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(fs.readdirSync(scratch), ["arg0-linux"])
      assert.strictEqual(fs.readFileSync(path.join(home, "config.toml"), "utf8"), "model = \"m\"\n")
    }).pipe(provideNode))
})
