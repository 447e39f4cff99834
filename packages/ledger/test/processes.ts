import { execFile, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const packageDir = path.join(__dirname, "..")
const writer = path.join(__dirname, "fixtures", "writer.mjs")

/** The writer processes import the built package: build it if the build is older than the sources. */
export const ensureBuilt = () => {
  const built = path.join(packageDir, "build", "src", "index.js")
  const newest = (dir: string): number =>
    Math.max(
      ...fs.readdirSync(dir, { withFileTypes: true }).map((entry) =>
        entry.isDirectory() ? newest(path.join(dir, entry.name)) : fs.statSync(path.join(dir, entry.name)).mtimeMs
      )
    )
  if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < newest(path.join(packageDir, "src"))) {
    execFileSync("npx", ["tsc", "-b", packageDir], { stdio: "inherit", cwd: path.join(packageDir, "..", "..") })
  }
}

/** Runs one writer process to its end. */
export const runWriter = (args: ReadonlyArray<string>) =>
  new Promise<{ readonly name: string; readonly count: number; readonly failed: number }>((resolve, reject) => {
    execFile(process.execPath, [writer, ...args], { timeout: 240_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`writer ${args.join(" ")} failed: ${error.message}\n${stderr}`))
      else resolve(JSON.parse(stdout.trim().split("\n").pop()!))
    })
  })
