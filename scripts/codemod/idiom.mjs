#!/usr/bin/env node
// Issue #14 item 6, "one public idiom": rewrites usages of the 0.1 flat exports and Tag statics to the
// namespace idiom (`Approvals.layerPolicy(…)`, `yield* Approvals.Approvals`), and moves the CLI's non-API
// modules into `packages/cli/src/internal`. Idempotent: a second run changes nothing.
//
//   node scripts/codemod/idiom.mjs            rewrite, `git mv`, print the changed files
//   node scripts/codemod/idiom.mjs --check    print what would change, exit 1 if anything would
//
// Then format what it printed: `npx eslint --fix <files>` (dprint wraps lines that grew).
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..")
const check = process.argv.includes("--check")
const changed = new Set()
const warnings = []

// The 0.1 Tag classes that carried their layers and constructors as statics.
const staticTags = {
  core: ["Approvals", "ApprovalInbox", "TestAgent"],
  ledger: ["ApprovalLedger"],
  web: ["WebServer"]
}
// Types of the removed `declare namespace` blocks whose names differ from the module's exports.
const renamedTypes = {
  "core/Approvals": { Service: "ApprovalsService" },
  "core/ApprovalInbox": { Service: "ApprovalInboxService" },
  "core/TestAgent": { Options: "TestAgentOptions", Service: "TestAgentService", Child: "TestAgentChild" }
}
// Members every `Context.Tag` class has: an access to one of them is an access to the Tag.
const tagMembers = new Set(["key", "of", "context", "pipe", "Service", "Identifier", "stack", "name", "toString"])

// CLI modules a user embedding Deputy needs; every other top-level module moves to `src/internal`.
const cliApi = new Set([
  "Agents",
  "ApprovalSetup",
  "Errors",
  "JsonOutput",
  "LedgerSetup",
  "Main",
  "Output",
  "PolicyFile",
  "Render",
  "StdioTerminal",
  "TerminalApprovals",
  "Version"
])

const rel = (file) => path.relative(root, file)
const read = (file) => fs.readFileSync(file, "utf8")

// ---------------------------------------------------------------------------------------------------
// Package model: modules and their top-level export names, read from today's sources.

const exportNames = (file) => {
  const source = ts.createSourceFile(file, read(file), ts.ScriptTarget.Latest, true)
  const names = new Set()
  const exported = (node) => ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Export
  for (const statement of source.statements) {
    if (ts.isVariableStatement(statement) && exported(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name)) names.add(declaration.name.text)
      }
    } else if (
      (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement) ||
        ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement)) &&
      statement.name !== undefined && exported(statement)
    ) {
      names.add(statement.name.text)
    } else if (ts.isExportDeclaration(statement) && statement.exportClause !== undefined) {
      if (ts.isNamedExports(statement.exportClause)) {
        for (const element of statement.exportClause.elements) names.add(element.name.text)
      } else names.add(statement.exportClause.name.text)
    }
  }
  return names
}

const packagesDir = path.join(root, "packages")
const packages = new Map()
for (const dir of fs.readdirSync(packagesDir).sort()) {
  const src = path.join(packagesDir, dir, "src")
  if (!fs.existsSync(path.join(src, "index.ts"))) continue
  const modules = new Map()
  for (const file of fs.readdirSync(src).sort()) {
    if (!file.endsWith(".ts") || file === "index.ts" || !/^[A-Z]/.test(file)) continue
    modules.set(file.slice(0, -3), exportNames(path.join(src, file)))
  }
  if (dir === "cli") {
    const internal = path.join(src, "internal")
    for (const file of fs.existsSync(internal) ? fs.readdirSync(internal).sort() : []) {
      if (/^[A-Z].*\.ts$/.test(file)) modules.set(file.slice(0, -3), exportNames(path.join(internal, file)))
    }
  }
  // The 0.1 flat name -> the module that defines it (`RequestUserInput` was the event, in `EventMsg`).
  const origin = new Map()
  const ambiguous = new Set()
  for (const [module, names] of modules) {
    for (const name of names) {
      if (origin.has(name) && origin.get(name) !== module) ambiguous.add(name)
      else origin.set(name, module)
    }
  }
  for (const [module, names] of modules) if (names.has(module)) origin.set(module, module)
  for (const name of ambiguous) if (!modules.has(name) || !modules.get(name).has(name)) origin.delete(name)
  packages.set(`@deputy/${dir}`, {
    dir,
    modules,
    origin,
    prefix: dir[0].toUpperCase() + dir.slice(1).replace(/-(.)/g, (_, c) => c.toUpperCase())
  })
}
const packageOfSrcFile = (file) => {
  const match = /^packages\/([^/]+)\/src\/(?:internal\/)?([A-Z][^/]*)\.ts$/.exec(rel(file))
  if (match === null) return undefined
  const pkg = packages.get(`@deputy/${match[1]}`)
  return pkg !== undefined && pkg.modules.has(match[2]) ? { pkg, module: match[2] } : undefined
}

// ---------------------------------------------------------------------------------------------------
// Usage rewrite of one TypeScript text.

const isTypePosition = (node) => {
  for (let current = node.parent; current !== undefined; current = current.parent) {
    if (ts.isTypeNode(current) && !ts.isExpressionWithTypeArguments(current)) return true
    if (ts.isHeritageClause(current)) {
      return current.token === ts.SyntaxKind.ImplementsKeyword || ts.isInterfaceDeclaration(current.parent)
    }
    if (ts.isExpression(current) || ts.isStatement(current) || ts.isSourceFile(current)) return false
  }
  return false
}

const applyEdits = (text, edits) => {
  edits.sort((a, b) => b.start - a.start || b.end - a.end)
  let out = text
  let last = Infinity
  for (const edit of edits) {
    if (edit.end > last) continue
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end)
    last = edit.start
  }
  return out
}

const scriptKind = (file) => /\.[cm]?js$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS

const rewriteSource = (fileName, text, resolveModule) => {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, scriptKind(fileName))
  const host = {
    getSourceFile: (name) => name === fileName ? source : undefined,
    writeFile: () => {},
    getDefaultLibFileName: () => "lib.d.ts",
    useCaseSensitiveFileNames: () => true,
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => root,
    getNewLine: () => "\n",
    fileExists: (name) => name === fileName,
    readFile: () => undefined
  }
  const program = ts.createProgram([fileName], { noResolve: true, noLib: true, types: [], allowJs: true }, host)
  const checker = program.getTypeChecker()

  const declared = new Set()
  const visitNames = (node) => {
    if (
      (ts.isIdentifier(node) && node.parent !== undefined && node.parent.name === node) || ts.isImportSpecifier(node)
    ) {
      declared.add(ts.isImportSpecifier(node) ? node.name.text : node.text)
    }
    ts.forEachChild(node, visitNames)
  }
  visitNames(source)

  const identifiers = []
  const collect = (node) => {
    if (ts.isIdentifier(node)) identifiers.push(node)
    ts.forEachChild(node, collect)
  }
  collect(source)

  const edits = []
  const replace = (node, textOut) => edits.push({ start: node.getStart(source), end: node.getEnd(), text: textOut })

  // binding symbol -> { local, pkg, module, kind, ... }
  //   kind "flat": a 0.1 flat name `name` of module `module`; every reference N -> NS.name
  //   kind "ns":   a namespace of `module`; `N.m` stays when m is the module's, else N was the 0.1 Tag or
  //                schema named after the module (defined in `flatOrigin`): N -> NS.N
  const bindings = new Map()
  const symbolOf = (node) => checker.getSymbolAtLocation(node)
  // Named imports of package indexes, by specifier: all of them are re-emitted as one declaration when the
  // file's imports of that specifier change.
  const plans = new Map() // specifier -> { statements, specs: Map(local -> { text, typeOnly }), changed }
  const planFor = (specifier) => plans.get(specifier)

  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue
    const specifier = statement.moduleSpecifier.text
    const clause = statement.importClause
    if (clause === undefined || clause.namedBindings === undefined || clause.name !== undefined) continue
    const target = resolveModule(specifier)
    if (target === undefined) continue
    const named = clause.namedBindings
    if (ts.isNamespaceImport(named)) {
      if (target.kind === "module") {
        bindings.set(symbolOf(named.name), {
          local: named.name.text,
          pkg: target.pkg,
          module: target.module,
          kind: "ns"
        })
      }
      continue
    }
    if (target.kind === "index") {
      const pkg = target.pkg
      let plan = plans.get(specifier)
      if (plan === undefined) {
        plan = { statements: [], specs: new Map(), changed: false }
        plans.set(specifier, plan)
      }
      plan.statements.push(statement)
      for (const element of named.elements) {
        const imported = (element.propertyName ?? element.name).text
        const local = element.name.text
        const typeOnly = clause.isTypeOnly || element.isTypeOnly
        const text = element.propertyName === undefined ? local : `${imported} as ${local}`
        const previous = plan.specs.get(local)
        plan.specs.set(local, { text, typeOnly: previous === undefined ? typeOnly : previous.typeOnly && typeOnly })
        if (plan.statements.length > 1) plan.changed = true
        const symbol = symbolOf(element.name)
        if (pkg.modules.has(imported)) {
          bindings.set(symbol, {
            local,
            pkg,
            module: imported,
            kind: "ns",
            flatOrigin: pkg.origin.get(imported),
            specifier
          })
          continue
        }
        const module = pkg.origin.get(imported)
        if (module === undefined) continue
        bindings.set(symbol, { local, pkg, module, kind: "flat", name: imported, specifier })
        plan.specs.delete(local)
        plan.changed = true
      }
    } else if (target.kind === "module") {
      // `import { Approvals } from "./Approvals.js"` and `Approvals.layerPolicy`: becomes a namespace import.
      const tags = staticTags[target.pkg.dir] ?? []
      if (!tags.includes(target.module)) continue
      const element = named.elements.find((element) => (element.propertyName ?? element.name).text === target.module)
      if (element === undefined) continue
      const symbol = symbolOf(element.name)
      const exports = target.pkg.modules.get(target.module)
      const renames = renamedTypes[`${target.pkg.dir}/${target.module}`] ?? {}
      const needed = identifiers.some((id) =>
        id.text === element.name.text && id !== element.name && symbolOf(id) === symbol &&
        (ts.isPropertyAccessExpression(id.parent) && id.parent.expression === id &&
            (exports.has(id.parent.name.text) || id.parent.name.text in renames) &&
            !tagMembers.has(id.parent.name.text) ||
          ts.isQualifiedName(id.parent) && id.parent.left === id &&
            (id.parent.right.text in renames || exports.has(id.parent.right.text)))
      )
      if (!needed) continue
      const local = element.name.text
      if (element.propertyName !== undefined) {
        warnings.push(`${fileName}: aliased import of ${target.module}; not rewritten`)
        continue
      }
      bindings.set(symbol, { local, pkg: target.pkg, module: target.module, kind: "ns", flatOrigin: target.module })
      for (const other of named.elements) {
        if (other === element) continue
        bindings.set(symbolOf(other.name), {
          local,
          pkg: target.pkg,
          module: target.module,
          kind: "flat",
          name: (other.propertyName ?? other.name).text,
          direct: true
        })
      }
      edits.push({
        start: statement.getStart(source),
        end: statement.getEnd(),
        text: `import ${clause.isTypeOnly ? "type " : ""}* as ${local} from ${
          statement.moduleSpecifier.getText(source)
        }`
      })
    }
  }
  // `import("@deputy/core").AgentSpawner` -> `import("@deputy/core").AgentSpawner.AgentSpawner`.
  const importTypes = (node) => {
    if (
      ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal) &&
      node.qualifier !== undefined && ts.isIdentifier(node.qualifier)
    ) {
      const target = resolveModule(node.argument.literal.text)
      const name = node.qualifier.text
      if (target?.kind === "index") {
        const module = target.pkg.origin.get(name)
        if (module !== undefined) {
          replace(node.qualifier, `${module}.${name}`)
        }
      }
    }
    ts.forEachChild(node, importTypes)
  }
  importTypes(source)
  if (bindings.size === 0) return applyEdits(text, edits)

  // The local name of `module`'s namespace from the binding's package index, added when missing; a value
  // use turns a type-only import of it into a value import.
  const needNamespace = (binding, module, typeOnly) => {
    if (binding.direct) return binding.local
    const plan = planFor(binding.specifier)
    for (const [local, spec] of plan.specs) {
      if (spec.text === module || spec.text === `${module} as ${local}`) {
        if (spec.typeOnly && !typeOnly) {
          spec.typeOnly = false
          plan.changed = true
        }
        return local
      }
    }
    const local = declared.has(module) ? `${binding.pkg.prefix}${module}` : module
    plan.specs.set(local, { text: local === module ? module : `${module} as ${local}`, typeOnly })
    plan.changed = true
    return local
  }

  const kept = new Map() // ns binding -> references left as they are
  for (const id of identifiers) {
    const parent = id.parent
    if (ts.isImportSpecifier(parent) || ts.isNamespaceImport(parent)) continue
    if (ts.isPropertyAccessExpression(parent) && parent.name === id) continue
    if (ts.isQualifiedName(parent) && parent.right === id) continue
    if (ts.isPropertyAssignment(parent) && parent.name === id) continue
    let symbol
    if (ts.isShorthandPropertyAssignment(parent)) symbol = checker.getShorthandAssignmentValueSymbol(parent)
    else if (ts.isExportSpecifier(parent)) symbol = checker.getExportSpecifierLocalTargetSymbol(parent)
    else symbol = symbolOf(id)
    const binding = symbol === undefined ? undefined : bindings.get(symbol)
    if (binding === undefined) continue
    if (ts.isExportSpecifier(parent)) {
      warnings.push(`${fileName}: re-export of ${id.text}; not rewritten`)
      continue
    }
    const typeOnly = isTypePosition(id)
    const withShorthand = (replacement) =>
      ts.isShorthandPropertyAssignment(parent) ? `${id.text}: ${replacement}` : replacement
    if (binding.kind === "flat") {
      replace(id, withShorthand(`${needNamespace(binding, binding.module, typeOnly)}.${binding.name}`))
      continue
    }
    const exports = binding.pkg.modules.get(binding.module)
    const renames = renamedTypes[`${binding.pkg.dir}/${binding.module}`] ?? {}
    const tags = staticTags[binding.pkg.dir] ?? []
    const member = ts.isPropertyAccessExpression(parent) && parent.expression === id
      ? parent.name
      : ts.isQualifiedName(parent) && parent.left === id
      ? parent.right
      : undefined
    const keep = () => kept.set(binding, (kept.get(binding) ?? 0) + 1)
    if (member !== undefined) {
      const name = member.text
      if (name in renames && !exports.has(name) && ts.isQualifiedName(parent)) {
        replace(member, renames[name])
        keep()
        continue
      }
      if (exports.has(name) && !(binding.flatOrigin === binding.module && tagMembers.has(name))) {
        // `WebServer.WebServer.layer` (a static reached through the namespace) -> `WebServer.layer`.
        const outer = parent.parent
        const third = ts.isPropertyAccessExpression(outer) && outer.expression === parent
          ? outer.name
          : ts.isQualifiedName(outer) && outer.left === parent
          ? outer.right
          : undefined
        if (
          third !== undefined && name === binding.module && tags.includes(binding.module) &&
          exports.has(third.text) && !tagMembers.has(third.text)
        ) {
          edits.push({ start: member.getStart(source), end: third.getStart(source), text: "" })
        }
        keep()
        continue
      }
    }
    if (binding.flatOrigin === undefined) {
      keep()
      continue
    }
    if (binding.flatOrigin === binding.module) {
      replace(id, withShorthand(`${id.text}.${binding.module}`))
      keep()
      continue
    }
    replace(id, withShorthand(`${needNamespace(binding, binding.flatOrigin, typeOnly)}.${binding.module}`))
  }
  // `import { RequestUserInput }` (the 0.1 event, now `EventMsg.RequestUserInput`) that nothing else uses.
  for (const binding of bindings.values()) {
    if (binding.kind !== "ns" || binding.specifier === undefined || binding.flatOrigin === binding.module) continue
    if (binding.flatOrigin === undefined || kept.has(binding)) continue
    const plan = planFor(binding.specifier)
    if (plan.specs.delete(binding.local)) plan.changed = true
  }

  const removeStatement = (statement) => {
    let end = statement.getEnd()
    if (text[end] === "\n") end += 1
    edits.push({ start: statement.getStart(source), end, text: "" })
  }
  for (const [specifier, plan] of plans) {
    if (!plan.changed) continue
    const specs = [...plan.specs.values()]
    const allTypes = specs.every((spec) => spec.typeOnly)
    const list = specs.map((spec) => allTypes || !spec.typeOnly ? spec.text : `type ${spec.text}`).join(", ")
    const [first, ...rest] = plan.statements
    if (specs.length === 0) removeStatement(first)
    else {
      edits.push({
        start: first.getStart(source),
        end: first.getEnd(),
        text: `import ${allTypes ? "type " : ""}{ ${list} } from ${JSON.stringify(specifier)}`
      })
    }
    for (const statement of rest) removeStatement(statement)
  }
  return applyEdits(text, edits)
}

// ---------------------------------------------------------------------------------------------------
// Module resolution for the rewrite: a package index, or one of a package's modules by relative path.

const resolverFor = (file) => (specifier) => {
  if (packages.has(specifier)) return { kind: "index", pkg: packages.get(specifier) }
  const sub = /^(@deputy\/[^/]+)\/([A-Z]\w*)$/.exec(specifier)
  if (sub !== null && packages.has(sub[1]) && packages.get(sub[1]).modules.has(sub[2])) {
    return { kind: "module", pkg: packages.get(sub[1]), module: sub[2] }
  }
  if (!specifier.startsWith(".")) return undefined
  const target = path.resolve(path.dirname(file), specifier).replace(/\.js$/, ".ts")
  const found = packageOfSrcFile(target)
  return found === undefined ? undefined : { kind: "module", pkg: found.pkg, module: found.module }
}

const write = (file, before, after) => {
  if (before === after) return
  changed.add(rel(file))
  if (!check) fs.writeFileSync(file, after)
}

// ---------------------------------------------------------------------------------------------------
// 1. Move the CLI's non-API modules into src/internal (git mv), before any import is fixed.

const cliSrc = path.join(packagesDir, "cli", "src")
for (const file of fs.readdirSync(cliSrc).sort()) {
  if (!/^[A-Z].*\.ts$/.test(file) || cliApi.has(file.slice(0, -3))) continue
  const from = path.join(cliSrc, file)
  const to = path.join(cliSrc, "internal", file)
  if (fs.existsSync(to)) {
    warnings.push(`${rel(from)} and ${rel(to)} both exist; not moved`)
    continue
  }
  changed.add(rel(to))
  if (!check) execFileSync("git", ["mv", from, to], { cwd: root })
}
if (!check) {
  const pkg = packages.get("@deputy/cli")
  // A moved module keeps its name in the model; its path is now internal.
  for (const file of fs.readdirSync(path.join(cliSrc, "internal"))) {
    if (/^[A-Z].*\.ts$/.test(file)) pkg.modules.set(file.slice(0, -3), exportNames(path.join(cliSrc, "internal", file)))
  }
}

// ---------------------------------------------------------------------------------------------------
// 2. Files to rewrite.

const walk = (dir, out = []) => {
  if (!fs.existsSync(dir)) return out
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "build") continue
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) walk(full, out)
    else if (/\.([cm]?ts|tsx|[cm]?js)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(full)
  }
  return out
}
const codeFiles = []
for (const dir of fs.readdirSync(packagesDir).sort()) {
  for (const sub of ["src", "test", "examples"]) codeFiles.push(...walk(path.join(packagesDir, dir, sub)))
}
codeFiles.push(...walk(path.join(root, "scripts", "bench", "src")))

// A relative import of a CLI module that moved (or of one next to a module that moved) is pointed at
// where the module is now: one `internal/` segment inserted or removed under packages/cli/src.
const cliInternal = path.join(cliSrc, "internal")
const fixCliImport = (file, specifier) => {
  if (!specifier.startsWith(".") || !specifier.endsWith(".js")) return specifier
  const target = path.resolve(path.dirname(file), specifier)
  const ts_ = target.replace(/\.js$/, ".ts")
  if (fs.existsSync(ts_) || fs.existsSync(target)) return specifier
  let moved
  if (path.dirname(ts_) === cliSrc) moved = path.join(cliInternal, path.basename(ts_))
  else if (path.dirname(ts_) === path.join(cliInternal, "internal")) moved = path.join(cliInternal, path.basename(ts_))
  else if (path.dirname(ts_) === cliInternal) moved = path.join(cliSrc, path.basename(ts_))
  else if (ts_.startsWith(path.join(cliInternal, "internal") + path.sep)) {
    moved = path.join(cliInternal, path.relative(path.join(cliInternal, "internal"), ts_))
  } else if (ts_.startsWith(cliInternal + path.sep)) moved = path.join(cliSrc, path.relative(cliInternal, ts_))
  if (moved === undefined || !fs.existsSync(moved)) return specifier
  let out = path.relative(path.dirname(file), moved).replace(/\.ts$/, ".js").split(path.sep).join("/")
  if (!out.startsWith(".")) out = `./${out}`
  return out
}
const fixImports = (file, text) => {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, scriptKind(file))
  const edits = []
  const visit = (node) => {
    let literal
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined) {
      literal = node.moduleSpecifier
    } else if (
      ts.isCallExpression(node) && node.arguments.length > 0 && ts.isStringLiteral(node.arguments[0]) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isPropertyAccessExpression(node.expression) &&
          ["mock", "doMock", "importActual"].includes(node.expression.name.text)))
    ) {
      literal = node.arguments[0]
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) literal = node.argument.literal
    if (literal !== undefined && ts.isStringLiteral(literal)) {
      const fixed = fixCliImport(file, literal.text)
      if (fixed !== literal.text) {
        edits.push({ start: literal.getStart(source) + 1, end: literal.getEnd() - 1, text: fixed })
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  let out = text
  for (const edit of edits.sort((a, b) => b.start - a.start)) {
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end)
  }
  return out
}

for (const file of codeFiles) {
  if (/\/src\/index\.ts$/.test(file)) continue // hand-written: the public surface
  const before = read(file)
  if (before.startsWith("// idiom-codemod: skip")) continue
  let after = before
  if (!check || fs.existsSync(file)) after = fixImports(file, after)
  after = rewriteSource(file, after, resolverFor(file))
  write(file, before, after)
}

// ---------------------------------------------------------------------------------------------------
// 3. The TypeScript code blocks of the READMEs (they import from the package indexes).

const readmes = [
  path.join(root, "README.md"),
  ...fs.readdirSync(packagesDir).map((d) => path.join(packagesDir, d, "README.md"))
]
  .filter((file) => fs.existsSync(file))
for (const file of readmes) {
  const before = read(file)
  const after = before.replace(
    /(```(?:ts|typescript)\n)([\s\S]*?)(```)/g,
    (_, open, code, close) =>
      open + rewriteSource(path.join(root, "readme-block.ts"), code, resolverFor(path.join(root, "readme-block.ts"))) +
      close
  )
  write(file, before, after)
}

// ---------------------------------------------------------------------------------------------------
// 4. What is left for a person: statics and `declare namespace` scaffolding on Tag classes.

for (const file of codeFiles.filter((f) => /\/src\//.test(f))) {
  const text = read(file)
  if (
    /^export class \w+ extends Context\.Tag\([^)]*\)<[^>]*>\(\) \{\n  static readonly/m.test(text) ||
    /^export declare namespace /m.test(text)
  ) {
    warnings.push(`${rel(file)}: a Tag class still has statics or a declare namespace; move them to module level`)
  }
}

for (const warning of warnings) console.error(`idiom: ${warning}`)
for (const file of [...changed].sort()) console.log(file)
if (check && changed.size > 0) process.exit(1)
