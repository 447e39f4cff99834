/**
 * The default approval policy (`untrusted`) on both bundled Codex versions: every command goes to the
 * parent, a plain `ls` included (measured: neither version runs one unasked through app-server).
 */
import { ScriptedModel } from "@deputy/codex"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { codexVersions, isTurnEnd, provideNode, reader, spawnScripted, text } from "./utils.js"

describe.each(codexVersions)("Codex $version with the default policy (untrusted)", ({ binary }) => {
  const asked = (command: string) =>
    Effect.gen(function*() {
      const { agent } = yield* spawnScripted(
        ScriptedModel.scenario([ScriptedModel.exec(command), ScriptedModel.message("done")]),
        { binary }
      )
      const events = yield* reader(agent)
      yield* agent.submit(text("run it"))
      const seen = yield* events.until(isTurnEnd, (event) =>
        event.msg.type === "exec_approval_request"
          ? { type: "exec_approval", id: String(event.msg.call_id), turn_id: event.id, decision: "denied" }
          : undefined)
      return seen.some((event) => event.msg.type === "exec_approval_request")
    })

  it.scopedLive("every command is asked of the parent: a write, a delete, a plain read", () =>
    Effect.gen(function*() {
      assert.isTrue(yield* asked("touch x.txt"))
      assert.isTrue(yield* asked("rm -rf build"))
      assert.isTrue(yield* asked("ls"))
    }).pipe(provideNode))
})
