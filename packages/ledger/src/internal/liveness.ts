/**
 * Whether the process that wrote an entry still runs, from the identity it recorded: the facts of this
 * process and machine (Linux `/proc`), the probe of a pid, and the one rule that decides alive / dead /
 * unknown. Rows are untrusted: every recorded field is checked before it is believed.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import type { Liveness, LivenessOptions, MachineFacts, ProcessIdentity } from "../ApprovalLedger.js"

const readTrimmed = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "latin1").trim()
  } catch {
    return undefined
  }
}

const uuid = /^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/
const namespace = /^pid:\[\d{1,20}\]$/
const machine = /^[0-9a-f]{32}$/

const isBootId = (value: unknown): value is string => typeof value === "string" && uuid.test(value)
const isNamespace = (value: unknown): value is string => typeof value === "string" && namespace.test(value)
const isMachineId = (value: unknown): value is string => typeof value === "string" && machine.test(value)
const isTicks = (value: unknown): value is number =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0
const isPid = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value > 0

/** The fields of `/proc/<pid>/stat` after the command name (field 3, the state, first). */
const statFields = (pid: number | "self"): Array<string> | undefined => {
  const stat = readTrimmed(`/proc/${pid}/stat`)
  return stat === undefined ? undefined : stat.slice(stat.lastIndexOf(")") + 2).split(" ")
}

/** When a process started, in clock ticks after boot (`/proc/<pid>/stat` field 22), if Linux can tell. */
export const startTicks = (pid: number | "self"): number | undefined => {
  if (process.platform !== "linux" || (pid !== "self" && !isPid(pid))) return undefined
  const ticks = Number(statFields(pid)?.[19])
  return isTicks(ticks) ? ticks : undefined
}

/** Whether a pid runs in this pid namespace (as any user); a zombie has ended. */
export const processRuns = (pid: number): boolean => {
  if (!isPid(pid)) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    // EPERM: it runs, as another user.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  if (process.platform !== "linux") return true
  const state = statFields(pid)?.[0]
  // unreadable (/proc mounted hidepid): it answered the signal, so it runs
  return state !== "Z" && state !== "X"
}

/** The boot time of this kernel, epoch ms (`/proc/stat` `btime`: whole seconds of the wall clock). */
const bootedAt = (): number | undefined => {
  const boot = /^btime (\d+)$/m.exec(readTrimmed("/proc/stat") ?? "")
  return boot === null ? undefined : Number(boot[1]) * 1000
}

/** When a process started, epoch ms to about a second (boot time + start ticks; USER_HZ is 100). */
export const startedAt = (pid: number): number | undefined => {
  const ticks = startTicks(pid)
  const boot = bootedAt()
  return ticks === undefined || boot === undefined ? undefined : boot + ticks * 10
}

let facts: Omit<MachineFacts, "host" | "pid"> | undefined

/**
 * This machine and process. The file facts are read once: they cannot change while a process lives, but
 * for `bootedAt`, which moves with a step of the wall clock (it only ever narrows when a row is `dead`).
 */
export const thisMachine = (): MachineFacts => {
  if (facts === undefined) {
    const linux = process.platform === "linux"
    const bootId = linux ? readTrimmed("/proc/sys/kernel/random/boot_id") : undefined
    let pidNamespace: string | undefined
    try {
      pidNamespace = linux ? fs.readlinkSync("/proc/self/ns/pid") : undefined
    } catch {
      pidNamespace = undefined
    }
    const machineId = linux ? readTrimmed("/etc/machine-id") : undefined
    const boot = linux ? bootedAt() : undefined
    facts = {
      ...(isBootId(bootId) ? { bootId } : {}),
      ...(isNamespace(pidNamespace) ? { pidNamespace } : {}),
      ...(isMachineId(machineId) ? { machineId } : {}),
      ...(boot === undefined ? {} : { bootedAt: boot })
    }
  }
  return { host: os.hostname(), pid: process.pid, ...facts }
}

/** The identity fields of this process as a ledger records them (none off Linux). */
export const ownFields = (): Pick<ProcessIdentity, "bootId" | "pidNamespace" | "startTicks" | "machineId"> => {
  const { bootId, machineId, pidNamespace } = thisMachine()
  const ticks = startTicks("self")
  // without the boot id and namespace the start ticks say nothing: record none (the old rule applies)
  if (bootId === undefined || pidNamespace === undefined || ticks === undefined) return {}
  return { bootId, pidNamespace, startTicks: ticks, ...(machineId === undefined ? {} : { machineId }) }
}

/** The rule of rows written before the identity fields: this host's pids, the wall clock for reuse. */
const legacy = (writer: ProcessIdentity, here: MachineFacts, options: LivenessOptions): Liveness => {
  if (writer.host !== here.host) return "unknown"
  if (writer.pid === here.pid) return "alive"
  if (!(options.runs ?? processRuns)(writer.pid)) return "dead"
  const started = options.at === undefined ? undefined : startedAt(writer.pid)
  // `btime` counts whole seconds: allow for it.
  return started !== undefined && started > options.at! + 2000 ? "dead" : "alive"
}

/** Alive, dead or unknown (see `ApprovalLedger.liveness`). */
export const judge = (writer: ProcessIdentity, options: LivenessOptions = {}): Liveness => {
  if (typeof writer !== "object" || writer === null) return "unknown"
  const here = options.machine ?? thisMachine()
  const { bootId, machineId, pidNamespace, startTicks: ticks } = writer
  if (bootId === undefined && pidNamespace === undefined && ticks === undefined && machineId === undefined) {
    return legacy(writer, here, options)
  }
  if (writer.host !== here.host || !isPid(writer.pid) || !isBootId(bootId) || !isNamespace(pidNamespace)) {
    return "unknown"
  }
  if (!isTicks(ticks) || (machineId !== undefined && !isMachineId(machineId))) return "unknown"
  if (bootId === here.bootId) {
    // another container on this kernel: its pids are not ours to see
    if (pidNamespace !== here.pidNamespace) return "unknown"
    if (!(options.runs ?? processRuns)(writer.pid)) return "dead"
    const now = startTicks(writer.pid)
    // it runs but cannot be read (/proc hidepid): not ours to declare dead
    if (now === undefined) return "unknown"
    return now === ticks ? "alive" : "dead"
  }
  // another boot of this machine (same machine id) is over, if the row was written before this boot began;
  // written after it, or with no machine id on either side, it is another machine of the same name
  return machineId !== undefined && machineId === here.machineId && here.bootedAt !== undefined &&
      options.at !== undefined && options.at < here.bootedAt
    ? "dead"
    : "unknown"
}
