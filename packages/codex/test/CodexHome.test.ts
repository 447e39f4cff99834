import { CodexHome } from "@deputy/codex"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"

describe("CodexHome", () => {
  it.live("the home, and what Codex wrote in it, is removed when its scope closes", () =>
    Effect.gen(function*() {
      const home = yield* CodexHome.make({ baseUrl: "http://127.0.0.1:1" }).pipe(
        Effect.tap((home) =>
          Effect.sync(() => {
            fs.mkdirSync(path.join(home.path, "sessions", "2026"), { recursive: true })
            fs.writeFileSync(path.join(home.path, "sessions", "2026", "rollout.jsonl"), "{}\n")
          })
        ),
        Effect.scoped
      )
      assert.isTrue(home.path.includes("deputy-codex-home-"))
      assert.isFalse(fs.existsSync(home.path), `${home.path} was left behind`)
    }).pipe(Effect.provide(NodeContext.layer)))
})
