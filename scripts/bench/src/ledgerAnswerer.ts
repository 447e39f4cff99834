/**
 * The other process of the ledger's cross-process bench: answers every request that shows up pending
 * in the ledger, and reports, per request, the instant (epoch ms, sub-ms) just before it answered.
 *
 *   node build/ledgerAnswerer.js sqlite <file> | node build/ledgerAnswerer.js pg <url> <prefix>
 */
import { ApprovalInbox } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import * as Effect from "effect/Effect"

const [kind, target, prefix] = process.argv.slice(2)
const layer = kind === "sqlite"
  ? ApprovalLedger.layerSqlite({ filename: target })
  : ApprovalLedger.layerPg({ url: target, tablePrefix: prefix })

const program = Effect.gen(function*() {
  const ledger = yield* ApprovalLedger.ApprovalLedger
  process.stdout.write("ready\n")
  while (true) {
    const pending = yield* ledger.pending()
    for (const entry of pending) {
      const at = performance.timeOrigin + performance.now()
      yield* Effect.ignore(ledger.answer(entry.request.id, ApprovalInbox.decision("approved"), {
        _tag: "InboxClient",
        client: "bench"
      }))
      process.stdout.write(`${JSON.stringify({ id: entry.request.id, at })}\n`)
    }
    yield* Effect.sleep(1)
  }
}).pipe(Effect.provide(layer))

Effect.runPromise(program).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`)
  process.exit(1)
})
