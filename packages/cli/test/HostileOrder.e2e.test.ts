/**
 * The CLI's order against a child that does not wait for its answers (a hostile agent; or Codex with several
 * threads, one waiting on a request while the others go on): each request must be shown where the child
 * put it, before the events the child wrote after it.
 */
import { assert, describe, it } from "@effect/vitest"
import { fileURLToPath } from "node:url"
import { afterEach } from "vitest"
import * as Cli from "./utils/cli.js"

/** 50 rounds of 20 agent messages and a request that does not wait for its answer. */
const floodAgent = fileURLToPath(
  new URL("../../agent-process/test/fixtures/request-flood-agent.mjs", import.meta.url)
)

describe("deputy: requests in the child's order", () => {
  afterEach(Cli.stopAll)

  // Found by the review of issue #14: a request waited until the events before it were shown, but the
  // display did not wait for the request: the decision came hundreds of events late (`echo r0`, written
  // after m19, shown after m257). The display now stops at a request's position until it settled.
  it("a decision is shown after the events before its request and before those after it", async () => {
    const { code, stdout } = await Cli.run(
      [
        "run",
        "--ledger",
        "off",
        "--approval",
        "deny",
        ...["FLOOD_REQUESTS", "FLOOD_MESSAGES", "FLOOD_PAD"].flatMap((name) => ["--env", name]),
        "--agent-command",
        `node ${floodAgent}`,
        "go"
      ],
      { env: { FLOOD_REQUESTS: "50", FLOOD_MESSAGES: "20", FLOOD_PAD: "0" } }
    )
    assert.strictEqual(code, 0)
    const lines = Cli.plain(stdout).split("\n")
    const at = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line))
    for (let round = 0; round < 50; round++) {
      const decision = at(new RegExp(`denied .*echo r${round}\\b`))
      assert.isAbove(decision, at(new RegExp(`m${round * 20 + 19}$`)), `r${round} before the events before it`)
      assert.isBelow(decision, at(new RegExp(`m${round * 20 + 20}$`)) >>> 0, `r${round} after the events after it`)
    }
  }, 60_000)
})
