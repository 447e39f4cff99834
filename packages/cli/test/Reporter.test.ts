import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Reporter from "../src/internal/Reporter.js"
import { Output } from "../src/Output.js"
import * as RecordingOutput from "./utils/RecordingOutput.js"
import * as Requests from "./utils/requests.js"

describe("Reporter", () => {
  it.scoped("text output says who decided as the settlement carries it, not as a caller guesses", () =>
    Effect.gen(function*() {
      const recorded = yield* RecordingOutput.make()
      const reporter = yield* Reporter.Reporter.pipe(
        Effect.provide(Reporter.layerHuman({ cwd: "/repo", interactive: false })),
        Effect.provideService(Output, recorded.output)
      )
      const request = Requests.command()
      const answer = { type: "exec_approval", id: "call-1", decision: "denied" } as const
      // The 0.1 caller still passes its re-derived guess ("you"); the end of input decided.
      yield* reporter.settled(
        { request, outcome: "denied", decidedBy: { _tag: "Default", why: "end of input" }, waitedMs: 3, answer },
        { _tag: "User" }
      )
      yield* reporter.settled({
        request: Requests.command(["sh", "-c", "rm -rf ~\nls"]),
        outcome: "approved",
        decidedBy: { _tag: "Person", channel: "terminal", key: "a" },
        waitedMs: 3,
        answer: { ...answer, decision: "approved" }
      })
      assert.strictEqual(
        recorded.stdout(),
        "✘ denied by the default (end of input): run `npm test` in /repo\n" +
          "✔ approved by you (key a): run `rm -rf ~\\nls` in /repo\n"
      )
    }))
})
