/**
 * Where a run's events, settled requests and end go: text for a person (`layerHuman`) or JSON lines
 * (`layerJson`), both through `Output`.
 *
 * @since 0.1.0
 */
import type { ApprovalRequest } from "@deputy/core"
import type { Event } from "@deputy/protocol"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Decider } from "../ApprovalSetup.js"
import * as JsonOutput from "../JsonOutput.js"
import { Output } from "../Output.js"
import * as Render from "../Render.js"
import type * as NodeLabel from "./NodeLabel.js"

/**
 * @since 0.1.0
 * @category tags
 */
export class Reporter extends Context.Tag("@deputy/cli/Reporter")<Reporter, {
  /** A forwarded event. */
  readonly event: (event: Event.Event) => Effect.Effect<void>
  /**
   * A request that settled; who decided it is `settlement.decidedBy`. `decider` is the 0.1 attribution,
   * still passed on to the `--json` record until that reads `decidedBy` too; text output ignores it.
   */
  readonly settled: (
    settlement: ApprovalRequest.ApprovalSettlement,
    decider?: Decider | undefined
  ) => Effect.Effect<void>
  /** The end of the run. */
  readonly ended: (summary: Render.Summary) => Effect.Effect<void>
  /** The sub-agent could not be started (the error itself is reported by the caller). */
  readonly startFailed: (message: string, elapsedMs: number) => Effect.Effect<void>
}>() {}

/**
 * A node of a tree of tasks, as a reporter shows it: its path (in `--json` records) and its label (in
 * front of every line of text).
 *
 * @since 0.2.0
 * @category models
 */
export interface ReporterNode {
  readonly path: string
  readonly label: NodeLabel.NodeLabel
  /** Where the node's status goes (the tree shares one status line); default `Output.status`. */
  readonly status?: ((text: string | undefined) => Effect.Effect<void>) | undefined
}

/**
 * Builds a text reporter; with `node`, every line is prefixed with the node's label.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeHuman = (
  options: {
    readonly cwd?: string | undefined
    readonly interactive: boolean
    readonly node?: ReporterNode | undefined
  }
): Effect.Effect<Context.Tag.Service<typeof Reporter>, never, Output> =>
  Effect.gen(function*() {
    const output = yield* Output
    const style = output.style
    const node = options.node
    const renderer = Render.make({ style, cwd: options.cwd, perTurnSummary: options.interactive })
    const prefixed = node === undefined ? (text: string) => text : node.label.lines
    const status = node?.status ?? output.status
    const printAll = (lines: ReadonlyArray<string>) =>
      lines.length === 0 ? Effect.void : output.print(prefixed(lines.join("\n")))
    return Reporter.of({
      event: (event) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const lines = renderer.event(event, now)
          return Effect.zipRight(status(renderer.status()), printAll(lines))
        }),
      settled: (settlement) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          renderer.answered(settlement.request.callId, now)
          return output.print(prefixed(Render.settlement(style, settlement, options.cwd)))
        }),
      ended: (summary) => Effect.zipRight(status(undefined), printAll(Render.summary(style, summary))),
      startFailed: () => status(undefined)
    })
  })

/**
 * Text for a person: see `Render`. The status line follows what the sub-agent is doing.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHuman = (
  options: { readonly cwd?: string | undefined; readonly interactive: boolean }
): Layer.Layer<Reporter, never, Output> => Layer.effect(Reporter, makeHuman(options))

/**
 * Builds a JSON-lines reporter; with `node`, every record carries `"node": PATH`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeJson = (
  options: { readonly node?: string | undefined } = {}
): Effect.Effect<Context.Tag.Service<typeof Reporter>, never, Output> =>
  Effect.map(Output, (output) => {
    const node = options.node
    const at = node === undefined ? {} : { node }
    return Reporter.of({
      event: (event) => Effect.flatMap(JsonOutput.eventLine(event, node), output.print),
      settled: (settlement) => {
        // The settlement's request is the delegate's own: a root-level node's place is the node itself.
        const record = JsonOutput.approvalRecord(settlement)
        return output.print(
          JsonOutput.approvalLine(
            node === undefined || record.node !== undefined ? record : { ...record, node, chain: [node] }
          )
        )
      },
      ended: (summary) => {
        const { ended } = summary
        return output.print(JsonOutput.endedLine({
          deputy: "ended",
          reason: ended.reason,
          ...(ended.message === undefined ? {} : { message: ended.message }),
          ...(ended.code === undefined ? {} : { agent_exit_code: ended.code }),
          ...(ended.signal === undefined ? {} : { agent_signal: ended.signal }),
          ...(ended.lastAgentMessage === undefined ? {} : { last_agent_message: ended.lastAgentMessage }),
          drain_timed_out: ended.drainTimedOut,
          turns: summary.turns,
          ...(summary.turnMs === undefined ? {} : { turn_ms: Math.round(summary.turnMs) }),
          elapsed_ms: Math.round(summary.elapsedMs),
          usage: summary.usage,
          ...at
        }))
      },
      startFailed: (message, elapsedMs) =>
        output.print(JsonOutput.endedLine({
          deputy: "ended",
          reason: "spawn_failed",
          message,
          drain_timed_out: false,
          turns: 0,
          elapsed_ms: Math.round(elapsedMs),
          usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
          ...at
        }))
    })
  })

/**
 * JSON lines on stdout: events as the protocol encodes them, `approval` records, and the `ended` record
 * (also when the sub-agent could not be started, with reason `spawn_failed`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerJson: Layer.Layer<Reporter, never, Output> = Layer.effect(Reporter, makeJson())

/**
 * The reporter for a run's output format: JSON lines with `--json`, else text.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFor = (
  options: { readonly json: boolean; readonly cwd?: string | undefined; readonly interactive: boolean }
): Layer.Layer<Reporter, never, Output> =>
  options.json ? layerJson : layerHuman({ cwd: options.cwd, interactive: options.interactive })
