/**
 * Who wrote an entry, and whether that process still runs: the identity a ledger records (boot id, pid
 * namespace, start ticks, machine id) and `liveness`, which tells alive / dead / unknown from it. A live
 * writer is never taken for dead: another container or machine with the same hostname is `unknown`; a
 * reused pid is told exactly by its start ticks (no clock); rows are untrusted (malformed fields: unknown).
 * A ledger made before these fields existed (a fixture written by that code) migrates, and its rows keep
 * the old rule.
 */
import { ApprovalLedger } from "@deputy/ledger"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { commandRequest } from "./helpers.js"
import { dropTables, exec, pgUrl, runPrefix, skipPg } from "./pgSetup.js"
import { ensureBuilt } from "./processes.js"

/** Temporary directories made by this file's tests, removed when they have run. */
const madeDirs: Array<string> = []
const madeDir = (prefix: string): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  madeDirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of madeDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

const linux = process.platform === "linux"
const read = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "latin1").trim()
  } catch {
    return undefined
  }
}

/** What this machine is, read here independently of the code under test. */
const bootId = read("/proc/sys/kernel/random/boot_id")!
const pidNamespace = linux ? fs.readlinkSync("/proc/self/ns/pid") : undefined
const machineId = read("/etc/machine-id")
const ticksOf = (pid: number): number => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19])
}
const host = os.hostname()
/** Above Linux's largest pid (`PID_MAX_LIMIT`, 2^22): never runs anywhere. */
const neverPid = 4_194_305

/** A `sleep` child of this test, and its start ticks; killed when the scope closes. */
const sleeper = Effect.acquireRelease(
  Effect.sync(() => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" })
    return { pid: child.pid!, ticks: ticksOf(child.pid!), child }
  }),
  ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
)

const exited = (child: ReturnType<typeof spawn>) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

/** A row of a writer on this machine, in this pid namespace. */
const here = (pid: number, startTicks: number): ApprovalLedger.ProcessIdentity => ({
  host,
  pid,
  runId: "r",
  bootId,
  pidNamespace: pidNamespace!,
  startTicks,
  ...(machineId === undefined ? {} : { machineId })
})

const tempDir = () => madeDir("deputy-identity-")

/** How `unshare` makes a pid namespace here (as root, else in a user namespace), if it can. */
const unshareArgs = [["--pid", "--fork", "--mount-proc"], [
  "--user",
  "--map-root-user",
  "--pid",
  "--fork",
  "--mount-proc"
]]
  .find((args) => {
    try {
      execFileSync("unshare", [...args, "true"], { stdio: "ignore", timeout: 10_000 })
      return true
    } catch {
      return false
    }
  })
if (linux && unshareArgs === undefined) {
  console.warn("\n⚠ the real pid-namespace test is SKIPPED: `unshare --pid --fork --mount-proc` fails here\n")
}

const pendingWriter = path.join(__dirname, "fixtures", "pendingWriter.mjs")

/** A real writer process that recorded one pending request; its entry's identity once it said it. */
const startWriter = async (command: ReadonlyArray<string>) => {
  const child = spawn(command[0]!, command.slice(1), { stdio: ["pipe", "pipe", "pipe"] })
  let stderr = ""
  child.stderr!.on("data", (data) => (stderr += data))
  const line = await new Promise<string>((resolve, reject) => {
    let out = ""
    const timer = setTimeout(() => reject(new Error(`no entry within 30 s: ${stderr}`)), 30_000)
    child.stdout!.on("data", (data) => {
      out += data
      if (out.includes("\n")) {
        clearTimeout(timer)
        resolve(out.split("\n")[0]!)
      }
    })
    child.on("exit", (code) => reject(new Error(`the writer exited (${code}): ${stderr}`)))
  })
  const { at, process: identity } = JSON.parse(line) as { at: number; process: ApprovalLedger.ProcessIdentity }
  return { child, at, identity }
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.stdin!.end()
  })

describe.skipIf(!linux)("process identity and liveness", () => {
  it("a ledger records who writes: host, pid, run id, boot id, pid namespace, its start ticks, machine id", () => {
    const ledger = Effect.runSync(Effect.map(
      Effect.scoped(Layer.build(ApprovalLedger.layerMemory())),
      Context.get(ApprovalLedger.ApprovalLedger)
    ))
    assert.deepStrictEqual(ledger.process, {
      ...here(process.pid, ticksOf(process.pid)),
      runId: ledger.process.runId
    })
    // given another pid, the facts of this process are not claimed for it
    const other = Effect.runSync(Effect.map(
      Effect.scoped(Layer.build(ApprovalLedger.layerMemory({ process: { pid: neverPid } }))),
      Context.get(ApprovalLedger.ApprovalLedger)
    )).process
    assert.strictEqual(other.pid, neverPid)
    assert.isUndefined(other.startTicks)
    assert.isUndefined(other.bootId)
  })

  it.scoped("a live process is alive by its start ticks; the same pid with other ticks (reused) and an exited one are dead", () =>
    Effect.gen(function*() {
      const { child, pid, ticks } = yield* sleeper
      assert.strictEqual(ApprovalLedger.liveness(here(pid, ticks)), "alive")
      // no clock: an entry written "before" or "after" the process started does not matter
      assert.strictEqual(ApprovalLedger.liveness(here(pid, ticks), { at: 0 }), "alive")
      assert.strictEqual(ApprovalLedger.liveness(here(pid, ticks), { at: Date.now() + 3_600_000 }), "alive")
      assert.strictEqual(ApprovalLedger.liveness(here(pid, ticks + 1)), "dead", "the pid was reused")
      assert.strictEqual(ApprovalLedger.liveness(here(pid, ticks - 1), { at: Date.now() }), "dead")
      assert.strictEqual(ApprovalLedger.liveness(here(process.pid, ticksOf(process.pid))), "alive", "this process")
      child.kill("SIGKILL")
      yield* exited(child)
      assert.strictEqual(ApprovalLedger.liveness(here(pid, ticks)), "dead")
      assert.strictEqual(ApprovalLedger.liveness(here(neverPid, 1)), "dead")
    }))

  it("another container with the same hostname (another pid namespace) is unknown, never dead", () => {
    const row = { ...here(neverPid, 12345), pidNamespace: "pid:[4026532999]" }
    assert.notStrictEqual(row.pidNamespace, pidNamespace)
    assert.strictEqual(ApprovalLedger.liveness(row), "unknown")
    assert.strictEqual(ApprovalLedger.liveness(row, { at: 0 }), "unknown")
    // its pid may even run here: still not ours to judge
    assert.strictEqual(ApprovalLedger.liveness({ ...row, pid: process.pid }), "unknown")
    // another machine of the same name: another boot id, another (or no) machine id
    const elsewhere = { ...here(neverPid, 1), bootId: "0f0e0d0c-0b0a-4908-8706-050403020100" }
    assert.strictEqual(ApprovalLedger.liveness({ ...elsewhere, machineId: "ab".repeat(16) }, { at: 0 }), "unknown")
    const { machineId: _, ...noMachine } = elsewhere
    assert.strictEqual(ApprovalLedger.liveness(noMachine, { at: 0 }), "unknown")
    // and another host name is unknown whatever the rest says
    assert.strictEqual(ApprovalLedger.liveness({ ...here(neverPid, 1), host: `not-${host}` }), "unknown")
  })

  it.skipIf(machineId === undefined)("the same machine id with another boot id: the writer died in the reboot", () => {
    const before = { ...here(neverPid, 1), bootId: "0f0e0d0c-0b0a-4908-8706-050403020100" }
    assert.strictEqual(ApprovalLedger.liveness(before, { at: 0 }), "dead")
    // written after this boot began, it cannot be of an earlier boot of this machine: a copied machine id
    assert.strictEqual(ApprovalLedger.liveness(before, { at: Date.now() }), "unknown")
    assert.strictEqual(ApprovalLedger.liveness(before), "unknown", "no time: cannot tell")
  })

  it("rows without the new fields (written before them) keep the old rule", () => {
    const legacy = { host, pid: neverPid, runId: "r" }
    assert.strictEqual(ApprovalLedger.liveness(legacy), "dead")
    assert.strictEqual(ApprovalLedger.liveness({ ...legacy, pid: process.pid }), "alive")
    assert.strictEqual(ApprovalLedger.liveness({ ...legacy, pid: process.ppid }, { at: Date.now() }), "alive")
    // a pid that runs a process started well after the entry was reused (the wall clock, 2 s slack)
    assert.strictEqual(ApprovalLedger.liveness({ ...legacy, pid: process.ppid }, { at: 0 }), "dead")
    assert.strictEqual(ApprovalLedger.liveness({ ...legacy, host: `not-${host}` }), "unknown")
    assert.strictEqual(ApprovalLedger.processAlive(legacy), false)
    assert.strictEqual(ApprovalLedger.processAlive({ ...legacy, host: "elsewhere" }), undefined)
  })

  it("forged rows: a malformed identity field is unknown, never dead, never a crash", () => {
    const valid = here(neverPid, 1) as unknown as Record<string, unknown>
    const formats: Record<string, (value: unknown) => boolean> = {
      bootId: (value) => typeof value === "string" && /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/.test(value),
      pidNamespace: (value) => typeof value === "string" && /^pid:\[\d{1,20}\]$/.test(value),
      startTicks: (value) => typeof value === "number" && Number.isSafeInteger(value) && value >= 0,
      machineId: (value) => typeof value === "string" && /^[0-9a-f]{32}$/.test(value),
      pid: (value) => typeof value === "number" && Number.isSafeInteger(value) && value > 0
    }
    FastCheck.assert(
      FastCheck.property(
        FastCheck.constantFrom(...Object.keys(formats)),
        FastCheck.oneof(
          FastCheck.anything(),
          FastCheck.string(),
          FastCheck.double(),
          FastCheck.constantFrom(`${bootId} `, bootId.toUpperCase(), "pid:[]", -1, 1.5, Number.NaN, "1")
        ),
        (field, value) => {
          FastCheck.pre(!formats[field]!(value) && value !== undefined)
          const forged = { ...valid, [field]: value } as unknown as ApprovalLedger.ProcessIdentity
          return ApprovalLedger.liveness(forged, { at: 0 }) === "unknown"
        }
      ),
      { numRuns: 500 }
    )
    // nothing at all in the fields, or junk in the old ones, never throws
    for (const junk of [{}, { host: 1, pid: "x" }, { host, pid: null, bootId: null }, null, "row"]) {
      assert.oneOf(ApprovalLedger.liveness(junk as unknown as ApprovalLedger.ProcessIdentity), [
        "alive",
        "dead",
        "unknown"
      ])
    }
  })

  it.scoped("SQLite: the identity is stored and read back whole, in the hash chain", () =>
    Effect.gen(function*() {
      const filename = path.join(tempDir(), "ledger.db")
      const ledger = yield* Effect.map(
        Layer.build(ApprovalLedger.layerSqlite({ filename })),
        Context.get(ApprovalLedger.ApprovalLedger)
      )
      const entry = yield* ledger.recordPending(commandRequest(1))
      assert.deepStrictEqual(entry.process, ledger.process)
      const [read] = yield* ledger.list()
      assert.deepStrictEqual(read!.process, ledger.process)
      assert.strictEqual(read!.process.startTicks, ticksOf(process.pid))
      assert.strictEqual((yield* ledger.verify)._tag, "Intact")
    }))

  it.scoped("SQLite: junk written into the identity columns reads back as unknown, and breaks the chain", () =>
    Effect.gen(function*() {
      const filename = path.join(tempDir(), "ledger.db")
      const ledger = yield* Effect.map(
        Layer.build(ApprovalLedger.layerSqlite({ filename, anchor: false })),
        Context.get(ApprovalLedger.ApprovalLedger)
      )
      yield* ledger.recordPending(commandRequest(1))
      yield* ledger.recordPending(commandRequest(2))
      yield* Effect.sync(() => {
        const Sqlite = createRequire(import.meta.url)("better-sqlite3")
        const db = new Sqlite(filename)
        try {
          db.prepare("UPDATE deputy_ledger_entries SET start_ticks = 'soon', pid = 4194305 WHERE seq = 1").run()
          db.prepare("UPDATE deputy_ledger_entries SET boot_id = 7, pid = 4194305 WHERE seq = 2").run()
        } finally {
          db.close()
        }
      })
      const entries = yield* ledger.list()
      assert.deepStrictEqual(entries.map((entry) => ApprovalLedger.liveness(entry.process, { at: entry.at })), [
        "unknown",
        "unknown"
      ])
      assert.strictEqual((yield* ledger.verify)._tag, "Broken")
    }))

  it.scoped("a ledger made before these fields migrates; its old rows read back with the old rule and verify", () =>
    Effect.gen(function*() {
      // made by the ledger of commit 12a0b94 (schema 1): writers host "old-host", pids 4194305 and 1
      const dir = tempDir()
      const filename = path.join(dir, "ledger.db")
      fs.copyFileSync(path.join(__dirname, "fixtures", "ledger-before-identity.db"), filename)
      const ledger = yield* Effect.map(
        Layer.build(ApprovalLedger.layerSqlite({ filename, anchor: false })),
        Context.get(ApprovalLedger.ApprovalLedger)
      )
      const verified = yield* ledger.verify
      assert.isTrue(verified._tag === "Intact" && verified.entries === 4, JSON.stringify(verified))
      const old = yield* ledger.list()
      assert.deepStrictEqual(old.map((entry) => entry.process), [
        { host: "old-host", pid: neverPid, runId: "dead-run" },
        { host: "old-host", pid: neverPid, runId: "dead-run" },
        { host: "old-host", pid: neverPid, runId: "dead-run" },
        { host: "old-host", pid: 1, runId: "init-run" }
      ])
      const machine = { ...ApprovalLedger.thisMachine(), host: "old-host" }
      assert.deepStrictEqual(old.map((entry) => ApprovalLedger.liveness(entry.process, { at: entry.at, machine })), [
        "dead",
        "dead",
        "dead",
        "alive"
      ])
      // appends after the migration carry the new fields; the chain holds across both
      const added = yield* ledger.recordPending(commandRequest(9))
      assert.strictEqual(added.process.bootId, bootId)
      const again = yield* ledger.verify
      assert.isTrue(again._tag === "Intact" && again.entries === 5, JSON.stringify(again))
      const columns = yield* Effect.sync(() => {
        const Sqlite = createRequire(import.meta.url)("better-sqlite3")
        const db = new Sqlite(filename, { readonly: true })
        try {
          return (db.prepare("PRAGMA table_info(deputy_ledger_entries)").all() as Array<{ name: string }>).map((c) =>
            c.name
          )
        } finally {
          db.close()
        }
      })
      assert.includeMembers(columns, ["boot_id", "pid_ns", "start_ticks", "machine_id"])
    }))

  describe.skipIf(unshareArgs === undefined)("real processes, one of them in another pid namespace", () => {
    beforeAll(() => ensureBuilt(), 120_000)

    it(
      "a writer here is alive, then dead when it ends; one in another namespace is unknown, alive or not",
      async () => {
        const filename = path.join(tempDir(), "ledger.db")
        const mine = await startWriter([process.execPath, pendingWriter, filename, "here/command/1"])
        const theirs = await startWriter([
          "unshare",
          ...unshareArgs!,
          process.execPath,
          pendingWriter,
          filename,
          "ns/command/1"
        ])
        try {
          // the ledger read the other namespace's identity itself: same kernel and hostname, another namespace
          assert.strictEqual(theirs.identity.host, host)
          assert.strictEqual(theirs.identity.bootId, bootId)
          assert.notStrictEqual(theirs.identity.pidNamespace, pidNamespace)
          assert.strictEqual(mine.identity.pidNamespace, pidNamespace)
          assert.strictEqual(ApprovalLedger.liveness(mine.identity, { at: mine.at }), "alive")
          assert.strictEqual(ApprovalLedger.liveness(theirs.identity, { at: theirs.at }), "unknown")
        } finally {
          await Promise.all([stop(mine.child), stop(theirs.child)])
        }
        assert.strictEqual(ApprovalLedger.liveness(mine.identity, { at: mine.at }), "dead")
        assert.strictEqual(ApprovalLedger.liveness(theirs.identity, { at: theirs.at }), "unknown")
      },
      180_000
    )
  })

  describe.skipIf(skipPg)("PostgreSQL", () => {
    it.scopedLive("a ledger of schema 1 migrates; old rows read back without the fields, new ones with them", () =>
      Effect.gen(function*() {
        const tablePrefix = `${runPrefix}identity_`
        yield* Effect.addFinalizer(() => Effect.promise(() => dropTables(tablePrefix)))
        // schema 1, as its migration made it, with one row of that time
        yield* Effect.promise(() =>
          exec(`CREATE TABLE ${tablePrefix}migrations (migration_id integer primary key,
            created_at timestamp with time zone not null default now(), name text not null);
          INSERT INTO ${tablePrefix}migrations (migration_id, name) VALUES (1, 'create_ledger');
          CREATE TABLE ${tablePrefix}entries (seq BIGINT PRIMARY KEY, at_ms BIGINT NOT NULL, type TEXT NOT NULL,
            request_id TEXT NOT NULL, entry_key TEXT UNIQUE, delegate_id TEXT NOT NULL, kind TEXT NOT NULL,
            outcome TEXT, decided_by TEXT, decided_by_tag TEXT, host TEXT NOT NULL, pid INTEGER NOT NULL,
            run_id TEXT NOT NULL, trace_id TEXT, digest TEXT NOT NULL, data TEXT NOT NULL, prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL);
          CREATE TABLE ${tablePrefix}head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
          INSERT INTO ${tablePrefix}head (id, seq, hash) VALUES (1, 0, '${"0".repeat(64)}')`)
        )
        const ledger = yield* Effect.map(
          Layer.build(ApprovalLedger.layerPg({ url: pgUrl, tablePrefix })),
          Context.get(ApprovalLedger.ApprovalLedger)
        )
        const entry = yield* ledger.recordPending(commandRequest(1))
        const [read] = yield* ledger.list()
        assert.deepStrictEqual(read!.process, entry.process)
        assert.strictEqual(read!.process.pidNamespace, pidNamespace)
        assert.strictEqual((yield* ledger.verify)._tag, "Intact")
      }))
  })
})
