/**
 * A hostile patch's paths: `RequestPaths.touched` on a 50,000-file patch (5,000 with `--quick`) in a real
 * scratch workspace (two real directories, one symlink out), next to the floor any check pays in the same
 * run: a plain `path.resolve` plus one `lstat` per file. The approval prompt, the page and the policy all
 * read `touched`, and it runs on the event loop, so this is how long one hostile request holds the parent.
 */
import { RequestPaths } from "@deputy/core"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type SectionResult, series, type Size } from "./stats.js"

export const run = async (size: Size): Promise<SectionResult> => {
  const files = size.quick ? 5_000 : 50_000
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-bench-paths-"))
  try {
    for (const dir of ["src/a", "src/b", "docs"]) fs.mkdirSync(path.join(workspace, dir), { recursive: true })
    fs.symlinkSync("/etc", path.join(workspace, "docs", "etc"))
    const changes: Record<string, { type: "add"; content: string }> = {}
    for (let i = 0; i < files; i++) changes[`src/${i % 2 ? "a" : "b"}/file${i}.ts`] = { type: "add", content: "" }
    changes["docs/etc/passwd"] = { type: "add", content: "" }
    const request = {
      id: "bench/patch/c1",
      delegateId: "bench",
      turnId: "t",
      callId: "c1",
      source: "review",
      kind: "patch",
      event: { type: "apply_patch_approval_request", call_id: "c1", changes }
    } as const
    const metrics = await series(size, async () => {
      const started = performance.now()
      const touched = RequestPaths.touched(request, workspace)
      const touchedMs = performance.now() - started
      if (touched.filter((touchedPath) => !touchedPath.inside).length !== 1) throw new Error("the symlink was missed")
      const plainStarted = performance.now()
      for (const file of Object.keys(changes)) {
        try {
          fs.lstatSync(path.resolve(workspace, file))
        } catch {
          // missing: a file the patch adds
        }
      }
      return { touchedMs, plainMs: performance.now() - plainStarted }
    })
    return {
      metrics,
      notes: [`${files.toLocaleString("en")}-file patch (+1 through a symlink out), resolved component by component`]
    }
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true })
  }
}
