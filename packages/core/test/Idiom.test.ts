// This file spells the 0.1 names on purpose: they must still compile (flat aliases) or fail (the Tags).
import { AgentSpawner, ApprovalInbox, Approvals, Errors, TestAgent } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const here = path.dirname(fileURLToPath(import.meta.url))

// The 0.2 spellings type-check (this file is compiled by `tsc -b`); the 0.1 Tag spellings do not.
const program = Effect.gen(function*() {
  const approvals = yield* Approvals.Approvals
  const inbox = yield* ApprovalInbox.ApprovalInbox
  const child = yield* TestAgent.TestAgent
  return { approvals, inbox, child }
})
const layers: Layer.Layer<
  Approvals.Approvals | ApprovalInbox.ApprovalInbox | TestAgent.TestAgent | AgentSpawner.AgentSpawner
> = Layer.mergeAll(ApprovalInbox.layer, TestAgent.layer())
const rules: ReadonlyArray<Approvals.PolicyRule> = [{ kind: "command", commandPrefix: ["ls"], action: "approve" }]
const policy: Layer.Layer<Approvals.Approvals, never, Approvals.Approvals> = Approvals.layerPolicy(rules)
const service: Approvals.ApprovalsService = Effect.runSync(
  Effect.provide(Approvals.Approvals, Approvals.layerDenyAll)
)

const oldTag = Effect.gen(function*() {
  // @ts-expect-error `Approvals` is the module now: its Tag is `Approvals.Approvals`
  return yield* Approvals
})
// @ts-expect-error a namespace is not a type
type OldType = Approvals
// @ts-expect-error `ApprovalInbox.Service` went with the `declare namespace`: `ApprovalInbox.ApprovalInboxService`
type OldService = ApprovalInbox.Service

describe("one public idiom", () => {
  it.effect("module-level layers build what the Tags ask for", () =>
    Effect.gen(function*() {
      const { approvals } = yield* program.pipe(Effect.provide(Layer.merge(layers, Approvals.layerApproveAll)))
      assert.strictEqual(typeof approvals.command, "function")
      assert.isDefined(policy)
      assert.strictEqual(typeof service.patch, "function")
      assert.strictEqual(new Errors.SpawnError({ agent: "a", reason: "r" })._tag, "SpawnError")
      void oldTag
    }))

  it("the 0.1 flat names still resolve, marked deprecated; a module is also a subpath", () => {
    const file = path.join(here, "idiom-deprecated-snippet.ts")
    const text = [
      `import { PolicyRule, SpawnError, TestApprovals } from "@deputy/core"`,
      `import { ExecApprovalRequest } from "@deputy/protocol"`,
      `import { layerTest } from "@deputy/core/Approvals"`,
      `export const rule: PolicyRule = { kind: "command", commandPrefix: ["ls"], action: "approve" }`,
      `export const used = [SpawnError, TestApprovals, ExecApprovalRequest, layerTest]`
    ].join("\n")
    const options: ts.CompilerOptions = {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      skipLibCheck: true,
      types: []
    }
    const service = ts.createLanguageService({
      getScriptFileNames: () => [file],
      getScriptVersion: () => "1",
      getScriptSnapshot: (name) => {
        const content = name === file ? text : ts.sys.readFile(name)
        return content === undefined ? undefined : ts.ScriptSnapshot.fromString(content)
      },
      getCurrentDirectory: () => here,
      getCompilationSettings: () => options,
      getDefaultLibFileName: ts.getDefaultLibFilePath,
      fileExists: (name) => name === file || ts.sys.fileExists(name),
      readFile: (name) => name === file ? text : ts.sys.readFile(name)
    }, ts.createDocumentRegistry())
    const errors = service.getSemanticDiagnostics(file).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"))
    assert.deepStrictEqual(errors, [], "the old flat names still compile")
    const deprecated = service.getSuggestionDiagnostics(file)
      .filter((d) => d.code === 6385)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"))
    for (const name of ["PolicyRule", "SpawnError", "TestApprovals", "ExecApprovalRequest"]) {
      assert.include(deprecated, `'${name}' is deprecated.`)
    }
    service.dispose()
  }, 60_000)
})

export type { OldService, OldType }
