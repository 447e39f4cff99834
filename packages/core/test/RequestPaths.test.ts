import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach, beforeEach } from "vitest"
import type { PatchApproval, PermissionsRequest } from "../src/ApprovalRequest.js"
import * as RequestPaths from "../src/RequestPaths.js"

const provenance = { id: "d/patch/c1", delegateId: "d", turnId: "t", callId: "c1", source: "review" as const }

const patch = (changes: PatchApproval["event"]["changes"], grantRoot?: string): PatchApproval => ({
  ...provenance,
  kind: "patch",
  event: {
    type: "apply_patch_approval_request",
    call_id: "c1",
    changes,
    ...(grantRoot === undefined ? {} : { grant_root: grantRoot })
  }
})

describe("RequestPaths", () => {
  let root: string
  let workspace: string
  beforeEach(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "deputy-paths-")))
    workspace = path.join(root, "work")
    fs.mkdirSync(path.join(workspace, "docs"), { recursive: true })
    fs.mkdirSync(path.join(root, "outside"))
    fs.symlinkSync("../../outside", path.join(workspace, "docs", "assets"))
  })
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }))

  const add = { type: "add" as const, content: "x" }

  it("keeps plain relative and absolute paths inside the workspace inside", () => {
    const paths = RequestPaths.touched(patch({ "docs/a.md": add, [path.join(workspace, "b.md")]: add }), workspace)
    assert.deepStrictEqual(paths.map((p) => [p.inside, p.relative]), [[true, "docs/a.md"], [true, "b.md"]])
  })

  it("flags `..`, absolute paths elsewhere, symlinked parents, moves and grant roots", () => {
    const paths = RequestPaths.touched(
      patch({
        "docs/../../../etc/cron.d/x": add,
        "/etc/docs/x": add,
        "docs/assets/new.md": add,
        "docs/moved.md": { type: "update", unified_diff: "", move_path: "../outside/moved.md" }
      }, "/"),
      workspace
    )
    assert.deepStrictEqual(paths.map((p) => [p.role, p.inside]), [
      ["patch_file", false],
      ["patch_file", false],
      ["patch_file", false],
      ["patch_file", true],
      ["move_to", false],
      ["grant_root", false]
    ])
    assert.strictEqual(paths[2]!.resolved, path.join(root, "outside", "new.md"))
    assert.include(paths[2]!.note, "symlink")
    assert.include(paths[0]!.note, "..")
  })

  it("resolves permission paths against the request's cwd and treats a NUL byte as outside", () => {
    const request: PermissionsRequest = {
      ...provenance,
      kind: "permissions",
      event: {
        type: "request_permissions",
        call_id: "c1",
        cwd: path.join(workspace, "docs"),
        permissions: { file_system: { read: ["."], write: ["assets/x", "a\0b"] } }
      }
    }
    assert.deepStrictEqual(RequestPaths.touched(request, workspace).map((p) => [p.role, p.inside]), [
      ["read", true],
      ["write", false],
      ["write", false]
    ])
  })
})
