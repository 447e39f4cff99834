import { type ApprovalRequest, Approvals } from "@deputy/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, beforeEach } from "vitest"

const provenance = (kind: string) => ({
  id: `d/${kind}/c`,
  delegateId: "d",
  turnId: "t",
  callId: "c",
  source: "review" as const
})

type Changes = ApprovalRequest.PatchApproval["event"]["changes"]

const patch = (changes: Changes, grantRoot?: string): ApprovalRequest.PatchApproval => ({
  ...provenance("patch"),
  kind: "patch",
  event: {
    type: "apply_patch_approval_request",
    call_id: "c",
    changes,
    ...(grantRoot === undefined ? {} : { grant_root: grantRoot })
  }
})

const permissions = (
  profile: ApprovalRequest.PermissionsRequest["event"]["permissions"],
  cwd?: string
): ApprovalRequest.PermissionsRequest => ({
  ...provenance("permissions"),
  kind: "permissions",
  event: { type: "request_permissions", call_id: "c", permissions: profile, ...(cwd === undefined ? {} : { cwd }) }
})

const add = { type: "add" as const, content: "x" }
const move = (to: string) => ({ type: "update" as const, unified_diff: "", move_path: to })

/** A scratch tree: `<base>/work` with `docs/assets -> ../../outside`; `nest` levels below the temp root. */
const makeTree = (nest = 0) => {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "deputy-policy-paths-")))
  const base = path.join(root, ...Array.from({ length: nest }, (_, index) => `n${index}`))
  const workspace = path.join(base, "work")
  fs.mkdirSync(path.join(workspace, "docs"), { recursive: true })
  fs.mkdirSync(path.join(base, "outside"))
  fs.symlinkSync("../../outside", path.join(workspace, "docs", "assets"))
  return { root, workspace }
}

describe("policy on paths: every path a request touches, resolved", () => {
  let root: string
  let workspace: string
  beforeEach(() => {
    ;({ root, workspace } = makeTree())
  })
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }))

  const decide = (rules: ReadonlyArray<Approvals.PolicyRule>, request: ApprovalRequest.ApprovalRequest) =>
    Option.match(Approvals.firstMatch(rules, request, { workspace }), {
      onNone: () => "fallback",
      onSome: (rule) => rule.action
    })
  const docs: ReadonlyArray<Approvals.PolicyRule> = [{ kind: "patch", pathGlob: "**/docs/**", action: "approve" }]

  it("a docs rule approves patches that stay in docs", () => {
    assert.strictEqual(decide(docs, patch({ "docs/a.md": add })), "approve")
    assert.strictEqual(decide(docs, patch({ [path.join(workspace, "docs/b.md")]: add })), "approve")
    assert.strictEqual(decide(docs, patch({ "docs/a.md": move("docs/b.md") })), "approve")
  })

  it("a docs rule does not approve a patch that leaves the workspace in any way", () => {
    const hostile: ReadonlyArray<[string, ApprovalRequest.PatchApproval]> = [
      ["move_path out", patch({ "docs/a.md": move("../../etc/cron.d/x") })],
      ["move_path absolute", patch({ "docs/a.md": move("/etc/docs/x") })],
      ["symlinked directory", patch({ "docs/assets/x.md": add })],
      ["symlink then ..", patch({ "docs/assets/../x.md": add })],
      ["dot-dot", patch({ "docs/../../../etc/cron.d/x": add })],
      ["absolute docs elsewhere", patch({ "/etc/docs/x": add })],
      ["grant_root", patch({ "docs/a.md": add }, "/")],
      ["one of several", patch({ "docs/a.md": add, "src/b.ts": add })],
      // a missing directory is created by the applier; its `..` is back where symlinks count again
      ["missing, .., then a symlink", patch({ "nothere/../docs/assets/x.md": add })],
      ["move_path: missing, .., then a symlink", patch({ "docs/a.md": move("deep/../docs/assets/a.md") })],
      ["two missing, two .., then a symlink", patch({ "docs/x/y/../../assets/z.md": add })]
    ]
    for (const [name, request] of hostile) assert.strictEqual(decide(docs, request), "fallback", name)
  })

  it("a dangling symlink counts where a write through it would land", () => {
    fs.symlinkSync(path.join(root, "outside", "new.md"), path.join(workspace, "docs", "link.md"))
    assert.strictEqual(decide(docs, patch({ "docs/link.md": add })), "fallback")
  })

  it("a deny glob matches if any path matches; an absolute glob matches resolved paths", () => {
    const rules: ReadonlyArray<Approvals.PolicyRule> = [
      { kind: "patch", pathGlob: "**/*.lock", action: "deny" },
      { kind: "patch", pathGlob: `${root}/outside/**`, action: "approve" }
    ]
    assert.strictEqual(decide(rules, patch({ "docs/a.md": add, "x.lock": add })), "deny")
    assert.strictEqual(decide(rules, patch({ "docs/assets/x.md": add })), "approve")
  })

  it("a permissions pathGlob approve never grants network", () => {
    const read: ReadonlyArray<Approvals.PolicyRule> = [{ kind: "permissions", pathGlob: "docs/**", action: "approve" }]
    assert.strictEqual(decide(read, permissions({ file_system: { read: ["docs"] } })), "fallback") // docs itself
    assert.strictEqual(decide(read, permissions({ file_system: { read: ["docs/a", "docs/b"] } })), "approve")
    assert.strictEqual(
      decide(read, permissions({ network: { enabled: true }, file_system: { read: ["docs/a"] } })),
      "fallback"
    )
    assert.strictEqual(decide(read, permissions({ file_system: { write: ["docs/assets/x"] } })), "fallback")
    assert.strictEqual(decide(read, permissions({ file_system: { read: ["a"] } }, "docs")), "approve") // cwd
    const network: ReadonlyArray<Approvals.PolicyRule> = [
      { kind: "permissions", network: true, pathGlob: "docs/**", action: "approve" },
      { kind: "permissions", network: true, action: "approve" }
    ]
    assert.strictEqual(
      decide(network, permissions({ network: { enabled: true }, file_system: { read: ["docs/a"] } })),
      "approve"
    )
    assert.strictEqual(decide(network, permissions({ network: { enabled: true } })), "approve")
    assert.strictEqual(
      decide(network.slice(1), permissions({ network: { enabled: true }, file_system: { write: ["/"] } })),
      "fallback",
      "a network rule alone does not grant paths"
    )
  })
})

/**
 * What a patch applier does before it writes a file (Rust's `create_dir_all`, as Codex's apply_patch):
 * `mkdir` the parent as written, creating its own parent first when that is missing. `docs/x/../a.md`
 * creates `docs/x`, then lands in `docs/a.md`; no `..` is resolved before the kernel walks the path.
 */
const createDirAll = (dir: string): void => {
  try {
    fs.mkdirSync(dir)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === "ENOENT") {
      createDirAll(path.dirname(dir))
      createDirAll(dir)
    } else if (code !== "EEXIST" || !fs.statSync(dir).isDirectory()) throw error
  }
}

describe("policy on paths: generated path sets", () => {
  const segment = FastCheck.constantFrom("docs", "src", "assets", "..", ".", "docs/assets", "deep")
  const onePath = FastCheck.tuple(
    FastCheck.boolean(),
    FastCheck.array(segment, { maxLength: 4 }),
    FastCheck.constantFrom("a.md", "b.ts")
  )
  const entry = FastCheck.tuple(onePath, FastCheck.option(onePath, { nil: undefined }))

  it.effect.prop(
    "approved only when every path, as the file system resolves it, is under docs/ in the workspace",
    [FastCheck.array(entry, { minLength: 1, maxLength: 3 })],
    ([entries]) =>
      Effect.sync(() => {
        // nested deep enough that no generated path (at most 4 `..`) can leave the temp root
        const { root, workspace } = makeTree(6)
        try {
          const written = ([absolute, dirs, file]: readonly [boolean, ReadonlyArray<string>, string]) =>
            `${absolute ? `${workspace}/` : ""}${[...dirs, file].join("/")}`
          const changes: Record<string, Changes[string]> = {}
          for (const [from, to] of entries) changes[written(from)] = to === undefined ? add : move(written(to))
          const request = patch(changes)
          const approved = Option.isSome(
            Approvals.firstMatch([{ kind: "patch", pathGlob: "docs/**", action: "approve" }], request, { workspace })
          )
          // the oracle: write every file for real (inside the scratch root) and see where it landed
          const real = fs.realpathSync(workspace)
          let expected = true
          for (
            const given of [
              ...Object.keys(changes),
              ...Object.values(changes).flatMap((c) => c.type === "update" && c.move_path ? [c.move_path] : [])
            ]
          ) {
            const target = path.resolve(workspace, given)
            if (!target.startsWith(`${root}/`)) {
              expected = false
              continue
            }
            const full = path.isAbsolute(given) ? given : `${workspace}/${given}`
            let landed: string
            try {
              createDirAll(path.dirname(full))
              fs.writeFileSync(full, "x") // the kernel walks `full` as written: symlinks, then `..`
              landed = fs.realpathSync(full)
            } catch {
              expected = false
              continue
            }
            const relative = path.relative(real, landed)
            if (relative.startsWith("..") || !relative.startsWith("docs/")) expected = false
          }
          assert.strictEqual(approved, expected, JSON.stringify(changes))
        } finally {
          fs.rmSync(root, { recursive: true, force: true })
        }
      }),
    { timeout: 120_000, fastCheck: { numRuns: 100 } }
  )
})
