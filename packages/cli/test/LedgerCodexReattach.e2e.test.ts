/**
 * Reattaching to a Codex that outlived its parent, on the pinned binary (offline, the scripted model):
 * `codex app-server --listen unix://PATH` serves WebSocket on the socket; a first client starts a turn,
 * its command request is recorded pending in the SQLite ledger, and the client dies (the parent killed).
 * The request is answered with `deputy approve` (another process). A second client connects,
 * `thread/resume` replays the pending request (same JSON-RPC id), and the decision already in the
 * ledger is sent without asking anyone (`LedgerSetup.resending`): the command runs exactly once.
 *
 * The clients are this test's own (a minimal WebSocket client): `CodexAgent` speaks stdio only, so this
 * shows the ledger's side of a reattach on the real binary, not a `deputy` that reattaches by itself.
 */
import { CodexBinary, CodexHome, ScriptedModel } from "@deputy/codex"
import type { ApprovalRequest } from "@deputy/core"
import { DecidedBy } from "@deputy/core"
import { ApprovalLedger } from "@deputy/ledger"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterEach } from "vitest"
import * as LedgerSetup from "../src/LedgerSetup.js"
import * as Cli from "./utils/cli.js"

type Message = Record<string, any>

/** A minimal WebSocket client over a unix socket: text frames, one JSON-RPC message each. */
const connect = (socketPath: string) =>
  new Promise<{
    readonly send: (message: Message) => void
    readonly next: (match: (message: Message) => boolean, timeout?: number) => Promise<Message>
    readonly close: () => void
  }>((resolve, reject) => {
    const socket = net.createConnection(socketPath)
    const seen: Array<Message> = []
    const waiters: Array<{ match: (message: Message) => boolean; resolve: (message: Message) => void }> = []
    let buffer = Buffer.alloc(0)
    let upgraded = false
    const deliver = (message: Message) => {
      const waiter = waiters.find((candidate) => candidate.match(message))
      if (waiter === undefined) return void seen.push(message)
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve(message)
    }
    const frames = () => {
      while (buffer.length >= 2) {
        let length = buffer[1]! & 0x7f
        let offset = 2
        if (length === 126) [length, offset] = [buffer.readUInt16BE(2), 4]
        else if (length === 127) [length, offset] = [Number(buffer.readBigUInt64BE(2)), 10]
        if (buffer.length < offset + length) return
        const opcode = buffer[0]! & 0x0f
        const payload = buffer.subarray(offset, offset + length)
        buffer = buffer.subarray(offset + length)
        if (opcode === 1) deliver(JSON.parse(payload.toString("utf8")) as Message)
      }
    }
    const send = (message: Message) => {
      const payload = Buffer.from(JSON.stringify(message))
      const mask = randomBytes(4)
      const header = payload.length < 126
        ? Buffer.from([0x81, 0x80 | payload.length])
        : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
      const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!))
      socket.write(Buffer.concat([header, mask, masked]))
    }
    socket.on("error", reject)
    socket.on("connect", () =>
      socket.write(
        "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`
      ))
    socket.on("data", (data) => {
      buffer = Buffer.concat([buffer, data])
      if (!upgraded) {
        const end = buffer.indexOf("\r\n\r\n")
        if (end === -1) return
        if (!buffer.subarray(0, end).toString().startsWith("HTTP/1.1 101")) return reject(new Error("no upgrade"))
        upgraded = true
        buffer = buffer.subarray(end + 4)
        resolve({
          send,
          next: (match, timeout = 20_000) =>
            new Promise((found, failed) => {
              const earlier = seen.findIndex(match)
              if (earlier !== -1) return found(seen.splice(earlier, 1)[0]!)
              const timer = setTimeout(() => failed(new Error("no such message in time")), timeout)
              waiters.push({ match, resolve: (message) => (clearTimeout(timer), found(message)) })
            }),
          close: () => socket.destroy()
        })
      }
      frames()
    })
  })

const initialize = async (client: Awaited<ReturnType<typeof connect>>) => {
  client.send({
    method: "initialize",
    id: 0,
    params: { clientInfo: { name: "reattach-test", title: "t", version: "0" }, capabilities: { experimentalApi: true } }
  })
  await client.next((message) => message.id === 0 && "result" in message)
  client.send({ method: "initialized" })
}

const isApprovalRequest = (message: Message) => message.method === "item/commandExecution/requestApproval"

/** The request as a delegate would route it (a new delegate id per parent). */
const routed = (message: Message, delegateId: string): ApprovalRequest.CommandApproval => ({
  kind: "command",
  id: `${delegateId}/command/${message.params.itemId}`,
  delegateId,
  turnId: message.params.turnId,
  callId: message.params.itemId,
  source: "review",
  event: {
    type: "exec_approval_request",
    call_id: message.params.itemId,
    turn_id: message.params.turnId,
    command: ["bash", "-c", String(message.params.command)],
    cwd: message.params.cwd,
    reason: message.params.reason ?? undefined
  }
})

const deadPid = () => Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout)

describe("deputy: a decision in the ledger reaches a Codex reattached after its parent died", () => {
  afterEach(Cli.stopAll)

  it.live(
    "thread/resume replays the pending request; the ledger's answer is sent, nobody asked; it runs once",
    () =>
      Effect.gen(function*() {
        const dir = Cli.tempDir()
        const ledgerFile = path.join(dir, "ledger.db")
        const work = path.join(dir, "work")
        fs.mkdirSync(work)
        const socketPath = path.join(dir, "codex.sock")
        const model = yield* ScriptedModel.make(ScriptedModel.scenario([
          ScriptedModel.exec("echo once >> out.txt", { justification: "to test reattaching" })
        ]))
        const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
        const binary = yield* CodexBinary.resolve()
        // The Codex a dead parent left behind: its own session, not a child of the parent's pipes.
        const codex = spawn(binary.path, ["app-server", "--listen", `unix://${socketPath}`], {
          env: { ...process.env, ...home.env },
          stdio: "ignore",
          detached: true
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => codex.kill("SIGKILL")))
        yield* Effect.promise(async () => {
          for (let i = 0; i < 400 && !fs.existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 25))
        })

        // Parent 1: starts the turn, records the request pending, dies.
        const parent1 = { host: os.hostname(), pid: deadPid(), runId: "parent-1" }
        const first = yield* Effect.promise(() => connect(socketPath))
        yield* Effect.promise(() => initialize(first))
        first.send({
          method: "thread/start",
          id: 1,
          params: { cwd: work, approvalPolicy: "on-request", sandbox: "read-only", ephemeral: false }
        })
        const thread = yield* Effect.promise(() => first.next((message) => message.id === 1))
        const threadId = String(thread.result.thread.id)
        first.send({
          method: "turn/start",
          id: 2,
          params: { threadId, input: [{ type: "text", text: "go", text_elements: [] }] }
        })
        const asked = yield* Effect.promise(() => first.next(isApprovalRequest))
        const request1 = routed(asked, "parent-1-delegate")
        yield* Effect.scoped(
          Effect.flatMap(
            ApprovalLedger,
            (ledger) => ledger.recordPending(request1)
          ).pipe(Effect.provide(ApprovalLedger.layerSqlite({ filename: ledgerFile, process: parent1 })))
        )
        first.close()

        // Answered from another process while no parent runs.
        const approved = yield* Effect.promise(() =>
          Cli.run(["approve", request1.id, "--as", "dana", "--ledger", `sqlite:${ledgerFile}`])
        )
        assert.strictEqual(approved.code, 0, approved.stderr)
        assert.isFalse(fs.existsSync(path.join(work, "out.txt")))

        // Parent 2: reattaches; the replayed request is answered from the ledger.
        const second = yield* Effect.promise(() => connect(socketPath))
        yield* Effect.promise(() => initialize(second))
        second.send({ method: "thread/resume", id: 1, params: { threadId } })
        const replayed = yield* Effect.promise(() => second.next(isApprovalRequest))
        assert.strictEqual(replayed.id, asked.id, "the same JSON-RPC request, replayed")
        const request2 = routed(replayed, "parent-2-delegate")
        assert.strictEqual(LedgerSetup.questionKey(request2), LedgerSetup.questionKey(request1))
        let askedAgain = 0
        const answer = yield* Effect.gen(function*() {
          const ledger = yield* ApprovalLedger
          const found = yield* LedgerSetup.undelivered(0)
          const nobody = {
            command: () => Effect.sync(() => ++askedAgain).pipe(Effect.as("denied" as const)),
            patch: () => Effect.die("unused"),
            permissions: () => Effect.die("unused"),
            userInput: () => Effect.die("unused")
          }
          const approvals = ledger.approvals(yield* LedgerSetup.resending(found, nobody))
          return DecidedBy.split(yield* approvals.command(request2), "test")
        }).pipe(Effect.scoped, Effect.provide(ApprovalLedger.layerSqlite({ filename: ledgerFile })))
        assert.strictEqual(answer.value, "approved")
        assert.deepInclude(answer.decidedBy, { _tag: "Person", name: "dana" })
        assert.strictEqual(askedAgain, 0, "nobody was asked again")
        second.send({ id: replayed.id, result: { decision: "accept" } })
        yield* Effect.promise(() => second.next((message) => message.method === "turn/completed"))
        second.close()
        assert.strictEqual(fs.readFileSync(path.join(work, "out.txt"), "utf8"), "once\n")

        const verified = yield* Effect.promise(() => Cli.run(["log", "--verify", "--ledger", `sqlite:${ledgerFile}`]))
        assert.strictEqual(verified.code, 0, verified.stdout)
      }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)),
    90_000
  )
})
