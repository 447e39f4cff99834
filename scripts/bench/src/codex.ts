/**
 * Real Codex: wall time per turn through Deputy (`Delegate.interactive` over `CodexAgent`) vs a minimal
 * direct JSON-RPC client (`codexDirect.ts`) driving the same `codex app-server` binary with the same
 * configuration and the same scripted model. Turns alternate: a message-only turn, then a turn that runs one
 * command (`echo hi > out.txt`: Codex asks for approval under `untrusted`, both clients approve at once;
 * no sandbox, so the command costs what the command costs). The two clients take turns, turn by turn, so
 * both see the same machine load; the first pair of turns of each session is the warm-up.
 */
import { CodexAgent, CodexBinary, CodexHome, ScriptedModel } from "@deputy/codex"
import { AgentSpawner, Approvals, Delegate } from "@deputy/core"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { DirectClient } from "./codexDirect.js"
import { check, median, type SectionResult, series, type Size } from "./stats.js"

const approvalPolicy = "untrusted"
const sandbox = "danger-full-access"
const command = "echo hi > out.txt"

type Kind = "message" | "command"

const scenarioOf = (kinds: ReadonlyArray<Kind>) =>
  ScriptedModel.scenario(
    ...kinds.map((kind) =>
      kind === "message"
        ? [ScriptedModel.message("Hello from the scripted model.")]
        : [ScriptedModel.exec(command), ScriptedModel.message("Wrote out.txt.")]
    )
  )

const prompt = (kind: Kind) => kind === "message" ? "Say hello." : "Write hi to out.txt."

/** Processes whose parent is this one (a check that every Codex process is gone after a session). */
const ownChildren = (): Array<string> =>
  fs.readdirSync("/proc").filter((entry) => {
    if (!/^\d+$/.test(entry)) return false
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return Number(fields[1]) === process.pid && fields[0] !== "Z"
    } catch {
      return false
    }
  })

/** One session per client, `pairs` measured (message, command) pairs after one warm-up pair. */
const runSession = (pairs: number, session: number) =>
  Effect.gen(function*() {
    const kinds: Array<Kind> = []
    for (let i = 0; i <= pairs; i++) kinds.push("message", "command")
    const model = yield* ScriptedModel.make(scenarioOf(kinds))
    const home = yield* CodexHome.make({ baseUrl: model.baseUrl })
    const files = yield* FileSystem.FileSystem
    const deputyDir = yield* files.makeTempDirectoryScoped({ prefix: "deputy-bench-" })
    const directDir = yield* files.makeTempDirectoryScoped({ prefix: "deputy-bench-direct-" })
    const binary = yield* CodexBinary.resolve()

    // Deputy: the delegate over the Codex spawner, approving everything.
    const spawner = yield* CodexAgent.make({
      binary: binary.path,
      codexHome: home.path,
      env: home.env,
      approvalPolicy,
      sandbox,
      ephemeral: true
    })
    let deputyApprovals = 0
    const startDeputy = Effect.gen(function*() {
      const started = performance.now()
      const handle = yield* Delegate.interactive({
        source: "review",
        cwd: deputyDir,
        onSettled: (settlement) =>
          Effect.sync(() => {
            check(settlement.outcome === "approved", `approval settled ${settlement.outcome}`)
            deputyApprovals++
          })
      }).pipe(Effect.provideService(AgentSpawner.AgentSpawner, spawner), Effect.provide(Approvals.layerApproveAll))
      return { handle, ms: performance.now() - started }
    })
    // Direct: the minimal JSON-RPC client, same binary, home, policy and sandbox.
    const startDirect = Effect.gen(function*() {
      const started = performance.now()
      const client = yield* Effect.acquireRelease(
        Effect.promise(() =>
          DirectClient.start({ binary: binary.path, cwd: directDir, env: home.env, approvalPolicy, sandbox })
        ),
        (client) => Effect.promise(() => client.close())
      )
      return { client, ms: performance.now() - started }
    })
    // The first Codex process in a fresh CODEX_HOME may do one-off set-up: alternate who starts first.
    const [deputy, directStart] = session % 2 === 0
      ? yield* Effect.zip(startDeputy, startDirect)
      : yield* Effect.map(Effect.zip(startDirect, startDeputy), ([b, a]) => [a, b] as const)
    const handle = deputy.handle
    const direct = directStart.client
    const deputySpawnMs = deputy.ms
    const directSpawnMs = directStart.ms

    const deputyTurn = (kind: Kind) =>
      Effect.gen(function*() {
        const started = performance.now()
        yield* handle.submit({ type: "user_input", items: [{ type: "text", text: prompt(kind), text_elements: [] }] })
        let commandEnded = false
        while (true) {
          const next = yield* handle.nextEvent
          check(next._tag === "Some", `the delegate ended during a ${kind} turn`)
          if (next._tag === "None") break
          const msg = next.value.msg
          if (msg.type === "exec_command_end") commandEnded = msg.exit_code === 0
          if (msg.type === "error" || msg.type === "turn_aborted") {
            check(false, `Codex ${msg.type} in a ${kind} turn through Deputy: ${JSON.stringify(msg)}`)
          }
          if (msg.type === "task_complete") break
        }
        const elapsed = performance.now() - started
        check(kind === "message" || commandEnded, "the command did not run through Deputy")
        return elapsed
      })

    const directTurn = (kind: Kind) =>
      Effect.promise(async () => {
        const started = performance.now()
        const turn = await direct.turn(prompt(kind))
        const elapsed = performance.now() - started
        check(turn.status === "completed", `direct ${kind} turn ended ${turn.status}: ${JSON.stringify(turn.error)}`)
        return elapsed
      })

    const times: Record<Kind, { deputy: Array<number>; direct: Array<number> }> = {
      message: { deputy: [], direct: [] },
      command: { deputy: [], direct: [] }
    }
    for (let i = 0; i < kinds.length; i++) {
      const kind = kinds[i]
      // Alternate who goes first, pair by pair, so neither side always runs right after the other.
      const deputyFirst = ((i >> 1) & 1) === 0
      const a = yield* (deputyFirst ? deputyTurn(kind) : directTurn(kind))
      const b = yield* (deputyFirst ? directTurn(kind) : deputyTurn(kind))
      if (i < 2) continue // warm-up pair
      times[kind].deputy.push(deputyFirst ? a : b)
      times[kind].direct.push(deputyFirst ? b : a)
    }
    const commandTurns = pairs + 1
    check(deputyApprovals === commandTurns, `Deputy routed ${deputyApprovals} approvals, expected ${commandTurns}`)
    check(
      direct.approvals === commandTurns,
      `the direct client got ${direct.approvals} approvals, expected ${commandTurns}`
    )
    check(fs.existsSync(`${deputyDir}/out.txt`) && fs.existsSync(`${directDir}/out.txt`), "out.txt was not written")

    const mean = (values: ReadonlyArray<number>) => values.reduce((sum, value) => sum + value, 0) / values.length
    const deputyAll = [...times.message.deputy, ...times.command.deputy]
    const directAll = [...times.message.direct, ...times.command.direct]
    const m = {
      deputyMsPerMessageTurn: median(times.message.deputy),
      directMsPerMessageTurn: median(times.message.direct),
      deputyMsPerCommandTurn: median(times.command.deputy),
      directMsPerCommandTurn: median(times.command.direct),
      deputyMsPerTurn: mean(deputyAll),
      directMsPerTurn: mean(directAll)
    }
    return {
      ...m,
      overheadMsPerTurn: m.deputyMsPerTurn - m.directMsPerTurn,
      overheadPct: ((m.deputyMsPerTurn - m.directMsPerTurn) / m.directMsPerTurn) * 100,
      overheadPctMessageTurn: ((m.deputyMsPerMessageTurn - m.directMsPerMessageTurn) / m.directMsPerMessageTurn) * 100,
      overheadPctCommandTurn: ((m.deputyMsPerCommandTurn - m.directMsPerCommandTurn) / m.directMsPerCommandTurn) * 100,
      deputySpawnMs,
      directSpawnMs
    }
  }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))

export const run = async (size: Size): Promise<SectionResult> => {
  const pairs = size.quick ? 2 : 6
  const sessions = size.quick ? 1 : size.runs
  const metrics = await series({ ...size, warmups: 0, runs: sessions }, async (run) => {
    const result = await Effect.runPromise(runSession(pairs, run))
    const left = ownChildren()
    check(left.length === 0, `processes left after the session: ${left.join(", ")}`)
    return result
  })
  return {
    metrics,
    notes: [
      `${sessions} session(s) per client, each ${pairs} message + ${pairs} command turns after a warm-up pair; approval ${approvalPolicy}, sandbox ${sandbox}; per turn = mean over both kinds`
    ]
  }
}
