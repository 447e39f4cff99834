/**
 * Finding the Codex executable.
 */
import { CodexBinary } from "@deputy/codex"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as childProcess from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { provideNode, tempDir } from "./utils.js"

const repoRoot = path.resolve(__dirname, "../../..")

describe("CodexBinary", () => {
  it.effect("each bundled version resolves its own native binary (the npm alias finds its nested copy)", () =>
    Effect.gen(function*() {
      assert.strictEqual(CodexBinary.bundledVersion, "0.171.0")
      for (
        const version of Object.keys(CodexBinary.bundledPackages) as Array<keyof typeof CodexBinary.bundledPackages>
      ) {
        const found = yield* CodexBinary.bundledBinary(version)
        assert.strictEqual(found.source, "bundled")
        const printed = childProcess.execFileSync(found.path, ["--version"], { encoding: "utf8" }).trim()
        assert.strictEqual(printed, `codex-cli ${version}`)
      }
      const pinned = yield* CodexBinary.resolve(undefined, "")
      assert.strictEqual(pinned.path, (yield* CodexBinary.bundledBinary()).path)
    }))

  it.effect("the bundled native binary of the pinned package, when PATH has none", () =>
    Effect.gen(function*() {
      const found = yield* CodexBinary.resolve(undefined, "")
      assert.strictEqual(found.source, "bundled")
      assert.match(found.path, /@openai\/codex-linux-x64\/vendor\/x86_64-unknown-linux-musl\/bin\/codex$/)
    }))

  it.effect("npm's Node launcher on PATH (node_modules/.bin/codex) is skipped for the native binary", () =>
    Effect.gen(function*() {
      const found = yield* CodexBinary.resolve(undefined, path.join(repoRoot, "node_modules", ".bin"))
      assert.strictEqual(found.source, "bundled")
    }))

  it.scoped("a user's own `codex` on PATH wins", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const own = path.join(dir, "codex")
      fs.writeFileSync(own, "#!/bin/sh\n", { mode: 0o755 })
      assert.deepStrictEqual(yield* CodexBinary.resolve(undefined, `/nonexistent:${dir}`), {
        path: own,
        source: "path"
      })
      assert.deepStrictEqual(yield* CodexBinary.resolve(own, ""), { path: own, source: "explicit" })
    }).pipe(provideNode))

  it.effect("an explicit path that is not there fails, naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(CodexBinary.resolve("/nonexistent/codex"))
      assert.include(error.message, "/nonexistent/codex")
    }))

  it("the native package of each platform Codex ships for", () => {
    assert.deepStrictEqual(CodexBinary.nativePackage("darwin", "arm64"), {
      name: "@openai/codex-darwin-arm64",
      triple: "aarch64-apple-darwin",
      executable: "codex"
    })
    assert.strictEqual(CodexBinary.nativePackage("win32", "x64")?.executable, "codex.exe")
    assert.isUndefined(CodexBinary.nativePackage("aix", "ppc64"))
  })
})
