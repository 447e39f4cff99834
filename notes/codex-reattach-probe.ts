// Probe (ledger-cli, 2026-12-02): does `codex app-server --listen unix://PATH` (0.169.0) let a second client
// reattach after the first dies, and does `thread/resume` replay the pending approval? Run: npx vite-node notes/codex-reattach-probe.ts
// Finding: yes. The unix socket speaks WebSocket (HTTP Upgrade, one JSON-RPC message per text frame), not JSONL.
import WebSocket from "/work/wt/ledger-cli/node_modules/ws/index.js"
import { CodexHome, ScriptedModel } from "/work/wt/ledger-cli/packages/codex/src/index.ts"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"

const B = "/work/wt/ledger-cli/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"
const t0 = Date.now()
const log = (...a: Array<unknown>) => console.log(`[${Date.now() - t0}ms]`, ...a)

const client = (sock: string, name: string) => {
  const ws = new WebSocket(`ws+unix://${sock}:/`)
  const s: any = {
    on: (ev: string, f: any) => ev === "data" ? ws.on("message", (d: any) => f(d.toString() + "\n")) : ws.on(ev, f),
    write: (x: string) => ws.send(x.trimEnd()),
    destroy: () => ws.terminate(),
    once: (ev: string, f: any) => ev === "connect" ? ws.once("open", f) : ws.once(ev, f)
  }
  let buf = ""
  const waiters: Array<{ pred: (m: any) => boolean; res: (m: any) => void }> = []
  const seen: Array<any> = []
  s.on("data", (d) => {
    buf += d.toString()
    let i
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      if (!line.trim()) continue
      let m: any
      try {
        m = JSON.parse(line)
      } catch {
        log(name, "NONJSON", line.slice(0, 200))
        continue
      }
      seen.push(m)
      const short = m.method ?? `reply ${m.id}`
      log(
        name,
        "<-",
        short,
        (m.method?.includes("Approval") || m.method === "deprecationNotice")
          ? JSON.stringify(m).slice(0, 300)
          : (m.error ? JSON.stringify(m.error) : "")
      )
      for (const w of [...waiters]) {
        if (w.pred(m)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.res(m)
        }
      }
    }
  })
  s.on("error", (e) => log(name, "socket error", e.message))
  s.on("close", () => log(name, "closed"))
  const send = (m: unknown) => {
    log(name, "->", (m as any).method ?? `reply ${(m as any).id}`)
    s.write(JSON.stringify(m) + "\n")
  }
  const wait = (pred: (m: any) => boolean, ms = 15000) =>
    new Promise<any>((res, rej) => {
      const f = seen.find(pred)
      if (f) return res(f)
      waiters.push({ pred, res })
      setTimeout(() => rej(new Error(name + " timeout")), ms)
    })
  return { s, send, wait, seen }
}

const program = Effect.gen(function*() {
  const model = yield* ScriptedModel.make(ScriptedModel.scenario([
    ScriptedModel.exec("echo reattached > out.txt", { justification: "needs it" })
  ]))
  const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
  const cwd = fs.mkdtempSync("/tmp/lc-exp/cwd-")
  const sock = `/tmp/lc-exp/codex-${process.pid}.sock`
  yield* Effect.promise(async () => {
    const child = spawn(B, ["app-server", "--listen", `unix://${sock}`], {
      env: { ...process.env, ...home.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    child.stderr.on("data", (d) => log("stderr", d.toString().slice(0, 300)))
    child.stdout.on("data", (d) => log("stdout", d.toString().slice(0, 300)))
    child.on("exit", (c, sig) => log("codex exit", c, sig))
    for (let i = 0; i < 200 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 25))
    log("socket exists", fs.existsSync(sock))
    const c1 = client(sock, "c1")
    await new Promise((r) => c1.s.once("connect", r))
    c1.send({
      method: "initialize",
      id: 0,
      params: { clientInfo: { name: "exp", title: "exp", version: "0" }, capabilities: { experimentalApi: true } }
    })
    await c1.wait((m) => m.id === 0)
    c1.send({ method: "initialized" })
    c1.send({
      method: "thread/start",
      id: 1,
      params: { cwd, approvalPolicy: "on-request", sandbox: "read-only", ephemeral: false }
    })
    const th = await c1.wait((m) => m.id === 1)
    const threadId = th.result.thread.id
    log("thread", threadId)
    c1.send({
      method: "turn/start",
      id: 2,
      params: { threadId, input: [{ type: "text", text: "go", text_elements: [] }] }
    })
    const req = await c1.wait((m) => typeof m.method === "string" && m.method.endsWith("requestApproval"))
    log("c1 got approval request id", req.id)
    c1.s.destroy()
    await new Promise((r) => setTimeout(r, 500))
    log("codex alive after c1 died:", child.exitCode === null)
    const c2 = client(sock, "c2")
    const connected = await new Promise((r) => {
      c2.s.once("connect", () => r(true))
      c2.s.once("error", () => r(false))
    })
    log("c2 connected", connected)
    if (!connected) {
      child.kill("SIGKILL")
      return
    }
    c2.send({
      method: "initialize",
      id: 0,
      params: { clientInfo: { name: "exp2", title: "exp2", version: "0" }, capabilities: { experimentalApi: true } }
    })
    await c2.wait((m) => m.id === 0)
    c2.send({ method: "initialized" })
    c2.send({ method: "thread/resume", id: 1, params: { threadId } })
    const r = await c2.wait((m) => m.id === 1).catch((e) => ({ error: String(e) }))
    log("resume reply", JSON.stringify(r).slice(0, 600))
    const replay = await c2.wait((m) => typeof m.method === "string" && m.method.endsWith("requestApproval"), 5000)
      .catch(() => undefined)
    log("replayed request?", replay ? JSON.stringify(replay).slice(0, 400) : "NO")
    if (replay) {
      c2.send({ id: replay.id, result: { decision: "accept" } })
      await c2.wait((m) => m.method === "turn/completed", 15000).catch(() => log("no turn/completed"))
      log("out.txt:", fs.existsSync(`${cwd}/out.txt`) ? fs.readFileSync(`${cwd}/out.txt`, "utf8") : "missing")
    }
    child.kill("SIGKILL")
    await new Promise((r) => setTimeout(r, 200))
  })
}).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
Effect.runPromise(program).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
