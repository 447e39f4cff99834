// Bundles the compiled CLI (build/src/Main.js and the workspace packages and libraries it imports) into one
// ES module, build/deputy.mjs, which bin/deputy.js runs: Node's ES module loader pays per module (≈800 of them:
// effect, fast-check, @effect/*), and one file loads ≈4 times faster. Run it after `tsc -b` (`npm run bundle`).
//
// Left out, loaded from node_modules as usual: native and WebAssembly modules (found next to their own files),
// and @deputy/web (its page's files are read next to its own module; `deputy serve` imports it lazily).
//
// Also writes build/deputy.inputs.json: the files whose change makes the bundle stale (each workspace
// package's tsbuildinfo, which `tsc -b` rewrites when it emits, and npm's record of node_modules). The bin runs
// the unbundled build instead of a stale bundle.
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const build = path.join(root, "build")
const entry = path.join(build, "src", "Main.js")
const outfile = path.join(build, "deputy.mjs")

if (!fs.existsSync(entry)) {
  process.stderr.write(`bundle: ${entry} is missing; build first (npx tsc -b)\n`)
  process.exit(1)
}

const result = await esbuild.build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3", "pg-native", "web-tree-sitter", "tree-sitter-bash", "@deputy/web"],
  // The CommonJS libraries in the bundle (pg, ...) call `require` for Node's modules and the externals.
  banner: {
    js: "import { createRequire as __deputyCreateRequire } from \"node:module\";\n" +
      "const require = __deputyCreateRequire(import.meta.url);"
  },
  // Mapped back to the TypeScript sources (through tsc's maps); Node reads it with --enable-source-maps.
  sourcemap: "linked",
  sourcesContent: false,
  metafile: true,
  write: false,
  logLevel: "warning"
})

/** The package directory (the one with package.json) a bundled file belongs to. */
const packageOf = (file) => {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir
  }
  return undefined
}

const inputs = new Set()
for (const input of Object.keys(result.metafile.inputs)) {
  const file = path.resolve(process.cwd(), input)
  if (file.split(path.sep).includes("node_modules")) continue
  const info = path.join(packageOf(file) ?? root, "build", "tsconfig.src.tsbuildinfo")
  if (fs.existsSync(info)) inputs.add(info)
}
for (let dir = root; dir !== path.dirname(dir); dir = path.dirname(dir)) {
  const lock = path.join(dir, "node_modules", ".package-lock.json")
  if (fs.existsSync(lock)) inputs.add(lock)
}

// Written aside and renamed, so that a `deputy` starting meanwhile reads the old files or the new ones.
const write = (file, contents) => {
  const temporary = `${file}.${process.pid}.tmp`
  fs.writeFileSync(temporary, contents)
  fs.renameSync(temporary, file)
}
for (const output of result.outputFiles) write(output.path, output.contents)
write(
  path.join(build, "deputy.inputs.json"),
  `${
    JSON.stringify(
      { inputs: [...inputs].map((file) => path.relative(build, file).split(path.sep).join("/")).sort() },
      null,
      2
    )
  }\n`
)
