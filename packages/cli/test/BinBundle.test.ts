/**
 * Which program the `deputy` bin runs: the bundle (build/deputy.mjs) only when it is newer than every file it was
 * made from (build/deputy.inputs.json), else the unbundled build — a stale bundle would run old code. Checked on a
 * copy of the bin next to stand-in programs that say which one ran.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "./utils/cli.js"

/** A copy of the bin in a layout of its own: `deputy x` prints which program it ran. */
const layout = () => {
  const dir = Cli.tempDir()
  fs.mkdirSync(path.join(dir, "bin"))
  fs.mkdirSync(path.join(dir, "build", "src", "internal"), { recursive: true })
  fs.copyFileSync(Cli.bin, path.join(dir, "bin", "deputy.js"))
  fs.writeFileSync(path.join(dir, "package.json"), "{\"type\":\"module\"}\n")
  fs.writeFileSync(
    path.join(dir, "build", "src", "internal", "commandLine.js"),
    "export const check = () => ({ _tag: \"Valid\" })\nexport const seeHelp = () => \"\"\n"
  )
  const program = (name: string) => `export const main = () => process.stdout.write(${JSON.stringify(name)})\n`
  fs.writeFileSync(path.join(dir, "build", "src", "Main.js"), program("unbundled"))
  fs.writeFileSync(path.join(dir, "build", "deputy.mjs"), program("bundle"))
  fs.writeFileSync(path.join(dir, "build", "core.tsbuildinfo"), "")
  fs.writeFileSync(
    path.join(dir, "build", "deputy.inputs.json"),
    JSON.stringify({ inputs: ["core.tsbuildinfo", "../../no-such-package/build/tsconfig.src.tsbuildinfo"] })
  )
  const at = (file: string, seconds: number) => fs.utimesSync(path.join(dir, "build", file), seconds, seconds)
  const ran = () => {
    const result = spawnSync(process.execPath, [path.join(dir, "bin", "deputy.js"), "run", "x"], { encoding: "utf8" })
    assert.strictEqual(result.status, 0, result.stderr)
    return result.stdout
  }
  return { dir, at, ran }
}

describe("the deputy bin", () => {
  afterEach(Cli.stopAll)

  it("runs the bundle when it is newer than its inputs (a missing input does not count)", () => {
    const { at, ran } = layout()
    at("core.tsbuildinfo", 1_000)
    at("deputy.mjs", 2_000)
    assert.strictEqual(ran(), "bundle")
  })

  it("runs the unbundled build when an input is newer than the bundle (a rebuild after the bundle)", () => {
    const { at, ran } = layout()
    at("deputy.mjs", 1_000)
    at("core.tsbuildinfo", 2_000)
    assert.strictEqual(ran(), "unbundled")
  })

  it("runs the unbundled build without the bundle's list of inputs, or without the bundle", () => {
    const { at, dir, ran } = layout()
    at("core.tsbuildinfo", 1_000)
    at("deputy.mjs", 2_000)
    fs.rmSync(path.join(dir, "build", "deputy.inputs.json"))
    assert.strictEqual(ran(), "unbundled")
    fs.rmSync(path.join(dir, "build", "deputy.mjs"))
    assert.strictEqual(ran(), "unbundled")
  })
})
