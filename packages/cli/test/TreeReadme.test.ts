/**
 * The "Run many sub-agents" example of the root README, run against the reference agent: the text
 * between the markers must appear verbatim in README.md.
 */
import { ProcessAgent } from "@deputy/agent-process"
import { ApprovalInbox, Supervisor } from "@deputy/core"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const referenceAgent = fileURLToPath(new URL("../../agent-process/examples/reference-agent.mjs", import.meta.url))

// --- README example (keep in sync) ---
const agent = ProcessAgent.layerNode({ command: "node", args: [referenceAgent] })

const fanOut = (cwd: string) =>
  Effect.gen(function*() {
    const tree = yield* Supervisor.make({ limits: { maxConcurrent: 4 }, budget: { approvals: 10 } })
    const review = yield* tree.spawn({ name: "review", source: "review", input: "run:sleep 1", cwd })
    yield* review.spawn({ name: "tests", source: "review", input: "run:echo ok", cwd }) // root/review/tests
    yield* tree.spawn({ name: "docs", source: "review", input: "patch:NOTES.md hello", cwd })
    // One inbox for the whole tree; each request says where it comes from (request.path, request.chain).
    yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
      const { request } = yield* tree.inbox.awaitPending()
      const decision = request.kind === "command" ? "approved" : "denied"
      yield* Effect.log(`${request.chain?.map((link) => link.name).join(" › ")} asks: ${decision}`)
      yield* Effect.ignore(tree.inbox.respond(request.id, ApprovalInbox.decision(decision)))
    })))
    return yield* tree.awaitIdle // the receipt: each node's end reason, last message, usage, pids stopped
  }).pipe(Effect.scoped)
// --- end of README example ---

it.live("README: run many sub-agents (a tree, one inbox, a receipt)", () =>
  Effect.gen(function*() {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "deputy-readme-tree-"))
    const receipt = yield* fanOut(cwd).pipe(Effect.provide(agent))
    const reasons = Object.fromEntries(receipt.nodes.map((node) => [node.path, node.reason]))
    assert.deepInclude(reasons, {
      "root/review": "completed",
      "root/review/tests": "completed",
      "root/docs": "completed"
    })
    const last = Object.fromEntries(receipt.nodes.map((node) => [node.path, node.lastAgentMessage]))
    assert.include(last["root/review/tests"], "I ran `echo ok`")
    assert.include(last["root/docs"], "did not")
    assert.isFalse(fs.existsSync(path.join(cwd, "NOTES.md")), "the patch was denied")
    fs.rmSync(cwd, { recursive: true, force: true })

    const source = fs.readFileSync(fileURLToPath(import.meta.url), "utf8")
    const example = source.slice(
      source.indexOf("// --- README example (keep in sync) ---\n") + 41,
      source.indexOf("// --- end of README example ---")
    ).replace("[referenceAgent]", "[\"packages/agent-process/examples/reference-agent.mjs\"]")
    const readme = fs.readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8")
    assert.include(readme, example.trim(), "the README shows the example as it runs here")
  }), 30_000)
