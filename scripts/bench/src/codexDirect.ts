/**
 * The baseline for the Codex section: a minimal JSON-RPC client for `codex app-server` in plain Node (no
 * Effect, no Deputy) — spawn, `initialize`/`initialized`, `thread/start`, then `turn/start` and wait for
 * `turn/completed`, approving every command or file change Codex asks about.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process"
import * as readline from "node:readline"
import type { Readable, Writable } from "node:stream"

type Json = Record<string, any>

export interface DirectOptions {
  readonly binary: string
  readonly cwd: string
  readonly env: Readonly<Record<string, string>>
  readonly approvalPolicy: string
  readonly sandbox: string
}

export class DirectClient {
  /** Approval requests Codex sent (and this client accepted). */
  approvals = 0
  private nextId = 0
  private readonly replies = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>()
  private turnDone: ((turn: Json) => void) | undefined = undefined
  private threadId = ""
  private exited: Promise<void>
  private exitStatus: string | undefined = undefined

  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, Readable>) {
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.exitStatus = signal ?? `code ${code}`
        for (const reply of this.replies.values()) reply.reject(new Error(`codex exited (${this.exitStatus})`))
        resolve()
      })
    )
    child.stderr.resume()
    readline.createInterface({ input: child.stdout }).on("line", (line) => this.onLine(line))
  }

  static async start(options: DirectOptions): Promise<DirectClient> {
    const child = spawn(options.binary, ["app-server"], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true
    })
    const client = new DirectClient(child)
    try {
      await client.request("initialize", {
        clientInfo: { name: "deputy-bench-direct", title: "Deputy bench (direct)", version: "0.1.0" },
        capabilities: { experimentalApi: false }
      })
      client.send({ method: "initialized" })
      const opened = await client.request("thread/start", {
        cwd: options.cwd,
        approvalPolicy: options.approvalPolicy,
        sandbox: options.sandbox,
        ephemeral: true
      }) as Json
      client.threadId = String(opened.thread.id)
      return client
    } catch (error) {
      await client.close()
      throw error
    }
  }

  /** Runs one turn: `turn/start` → `turn/completed`; returns the completed turn. */
  async turn(text: string): Promise<Json> {
    const done = new Promise<Json>((resolve) => (this.turnDone = resolve))
    await this.request("turn/start", { threadId: this.threadId, input: [{ type: "text", text, text_elements: [] }] })
    const turn = await Promise.race([
      done,
      this.exited.then(() => Promise.reject(new Error(`codex exited during a turn (${this.exitStatus})`)))
    ])
    this.turnDone = undefined
    return turn
  }

  /** Closes stdin and waits for the exit; SIGKILLs the process group after 5 s. */
  async close(): Promise<void> {
    if (this.exitStatus === undefined) {
      this.child.stdin.end()
      const timer = setTimeout(() => {
        try {
          process.kill(-this.child.pid!, "SIGKILL")
        } catch {
          // already gone
        }
      }, 5000)
      await this.exited
      clearTimeout(timer)
    }
  }

  private send(message: Json): void {
    this.child.stdin.write(`${JSON.stringify(message)}\n`)
  }

  private request(method: string, params: Json): Promise<unknown> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.replies.set(id, { resolve, reject })
      this.send({ method, id, params })
    })
  }

  private onLine(line: string): void {
    if (line.length === 0) return
    const message = JSON.parse(line) as Json
    if (message.method === undefined) {
      const reply = this.replies.get(message.id)
      if (reply === undefined) return
      this.replies.delete(message.id)
      if (message.error) reply.reject(new Error(`${JSON.stringify(message.error)}`))
      else reply.resolve(message.result)
    } else if (message.id !== undefined) {
      if (
        message.method === "item/commandExecution/requestApproval" ||
        message.method === "item/fileChange/requestApproval"
      ) {
        this.approvals++
        this.send({ id: message.id, result: { decision: "accept" } })
      } else {
        this.send({ id: message.id, error: { code: -32601, message: `not supported: ${message.method}` } })
      }
    } else if (message.method === "turn/completed") {
      this.turnDone?.(message.params.turn)
    }
  }
}
