/**
 * What `deputy inbox` and `deputy approve` say of a request whose `deputy` runs in another container with
 * this hostname (same host string, a pid that does not run here, another pid namespace): that its
 * liveness is unknown (`process_state`, `process_alive: null`, `asker_alive: null`), never that it is gone.
 */
import { ApprovalLedger } from "@deputy/ledger"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach } from "vitest"
import * as Cli from "./utils/cli.js"
import * as Requests from "./utils/requests.js"
import { jsonLines } from "./utils/serve.js"

const linux = process.platform === "linux"

describe.skipIf(!linux)("deputy: a request of another container with this hostname", () => {
  afterEach(Cli.stopAll)

  it.scopedLive("inbox shows its deputy as unknown, approve does not call it gone", () =>
    Effect.gen(function*() {
      const filename = path.join(Cli.tempDir(), "ledger.db")
      const bootId = fs.readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim()
      const writer = yield* Effect.map(
        Layer.build(ApprovalLedger.layerSqlite({
          filename,
          process: {
            host: os.hostname(),
            pid: 4_194_305,
            runId: "pod-b",
            bootId,
            pidNamespace: "pid:[4026532999]",
            startTicks: 12_345
          }
        })),
        Context.get(ApprovalLedger.ApprovalLedger)
      )
      const first = { ...Requests.command(["ls"], "c-1"), id: "pod-b/command/1" }
      const second = { ...Requests.command(["ls", "-l"], "c-2"), id: "pod-b/command/2" }
      yield* writer.recordPending(first)
      yield* writer.recordPending(second)
      const ledger = ["--ledger", `sqlite:${filename}`]
      const run = (args: ReadonlyArray<string>) => Effect.promise(() => Cli.run([...args, ...ledger]))

      const json = yield* run(["inbox", "--json"])
      assert.strictEqual(json.code, 0, json.stderr)
      const records = jsonLines(json.stdout)
      assert.deepStrictEqual(records.map((record) => [record.process_state, record.process_alive]), [
        ["unknown", null],
        ["unknown", null]
      ])
      const text = yield* run(["inbox"])
      assert.include(text.stdout, "cannot be told from here")
      assert.notInclude(text.stdout, "is gone")

      const approved = yield* run(["approve", first.id, "--json"])
      assert.strictEqual(approved.code, 0, approved.stderr)
      assert.strictEqual(jsonLines(approved.stdout)[0]!.asker_alive, null)
      const plain = yield* run(["approve", second.id])
      assert.strictEqual(plain.code, 0, plain.stderr)
      assert.include(plain.stderr, "another container or machine of this name")
      assert.notInclude(plain.stderr, "is gone")
      // nothing settled it lost: the answers wait for their deputy
      assert.deepStrictEqual((yield* writer.list({ outcome: "lost" })).length, 0)
    }), 120_000)
})
