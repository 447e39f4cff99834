import { ScriptedModel } from "@deputy/codex"
import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { isTurnEnd, leftovers, provideNode, reader, spawnScripted, text } from "./utils.js"

it.scopedLive("smoke", () =>
  Effect.gen(function*() {
    const t0 = Date.now()
    const { agent } = yield* spawnScripted(ScriptedModel.messageScenario("hi there"))
    console.log("spawned", Date.now() - t0)
    const events = yield* reader(agent)
    yield* agent.submit(text("hello"))
    const t1 = Date.now()
    const seen = yield* events.until(isTurnEnd)
    console.log("turn", Date.now() - t1)
    for (const e of seen) console.log(JSON.stringify(e).slice(0, 200))
    yield* agent.submit(text("again"))
    const t2 = Date.now()
    yield* events.until(isTurnEnd)
    console.log("turn2", Date.now() - t2)
    yield* agent.submit({ type: "shutdown" })
    const rest = yield* events.rest
    console.log("shutdown", Date.now() - t2, rest.map((e) => e.msg.type))
    assert.isTrue(true)
  }).pipe(provideNode))

it.live("no leftovers", () => Effect.sync(() => assert.deepStrictEqual(leftovers(), [])))
