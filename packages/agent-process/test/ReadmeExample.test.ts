/**
 * The "Embed Deputy in an Effect app" example of the README, run against the reference agent.
 */
import { ProcessAgent } from "@deputy/agent-process"
import { ApprovalInbox, Approvals, Delegate } from "@deputy/core"
import { assert, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const referenceAgent = path.join(__dirname, "..", "examples", "reference-agent.mjs")

// --- README example (keep in sync) ---
const rules: ReadonlyArray<Approvals.PolicyRule> = [
  { commandPrefix: ["git", "status"], action: "approve" },
  { commandPrefix: ["rm"], action: "deny" },
  { kind: "patch", pathGlob: "**/*.md", action: "approve" }
  // anything else goes to the inbox below, where a UI (or a fiber) answers it
]

const AppLayer = Layer.mergeAll(
  ProcessAgent.layerNode({ command: "node", args: [referenceAgent] }),
  Approvals.layerPolicy(rules).pipe(
    Layer.provideMerge(ApprovalInbox.layerWith({ deadlines: { command: "5 minutes" } }))
  )
)

const review = (cwd: string) =>
  Effect.gen(function*() {
    const handle = yield* Delegate.oneShot({
      source: "review",
      input: "run:rm -rf build",
      cwd,
      drainTimeout: "2 seconds"
    })
    yield* handle.events.pipe(
      Stream.runForEach((event) => Effect.log(`${event.msg.type} ${JSON.stringify(event.msg).slice(0, 80)}`))
    )
    return yield* handle.ended // { reason: "completed", lastAgentMessage, ... }
  }).pipe(Effect.scoped)
// --- end of README example ---

it.live("README: embed Deputy in an Effect app", () =>
  Effect.gen(function*() {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-readme-"))
    fs.mkdirSync(path.join(cwd, "build"))
    const ended = yield* review(cwd).pipe(Effect.provide(AppLayer))
    assert.strictEqual(ended.reason, "completed")
    assert.isTrue(fs.existsSync(path.join(cwd, "build")), "the policy denied rm: build/ must still exist")
    fs.rmSync(cwd, { recursive: true, force: true })
  }))
