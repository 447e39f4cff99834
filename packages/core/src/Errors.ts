/**
 * The typed errors of agents and delegates.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * An agent could not be started: which agent, and why.
 *
 * @since 0.1.0
 * @category errors
 */
export class SpawnError extends Schema.TaggedError<SpawnError>("@deputy/core/SpawnError")("SpawnError", {
  agent: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `could not start ${this.agent}: ${this.reason}`
  }
}

/**
 * A submission was made to an agent that has already ended.
 *
 * @since 0.1.0
 * @category errors
 */
export class AgentClosed extends Schema.TaggedError<AgentClosed>("@deputy/core/AgentClosed")("AgentClosed", {
  reason: Schema.String
}) {
  override get message(): string {
    return `the sub-agent no longer accepts submissions: ${this.reason}`
  }
}

/**
 * The agent's events ended without a clean end: the child exited, crashed or broke the protocol.
 * `code` / `signal` are the process's, when there is a process; `stderrTail` is the end of its stderr.
 *
 * @since 0.1.0
 * @category errors
 */
export class AgentExited extends Schema.TaggedError<AgentExited>("@deputy/core/AgentExited")("AgentExited", {
  code: Schema.optional(Schema.NullOr(Schema.Number)),
  signal: Schema.optional(Schema.NullOr(Schema.String)),
  reason: Schema.String,
  stderrTail: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const how = this.signal
      ? ` (signal ${this.signal})`
      : typeof this.code === "number"
      ? ` (exit code ${this.code})`
      : ""
    const tail = this.stderrTail
      ? `\n  stderr: ${this.stderrTail.trimEnd().split("\n").slice(-5).join("\n          ")}`
      : ""
    return `the sub-agent exited${how}: ${this.reason}${tail}`
  }
}

/**
 * A submission was made to a delegate whose submit side is closed (one-shot, or ended).
 *
 * @since 0.1.0
 * @category errors
 */
export class DelegateClosed extends Schema.TaggedError<DelegateClosed>("@deputy/core/DelegateClosed")(
  "DelegateClosed",
  { reason: Schema.String }
) {
  override get message(): string {
    return `the delegate does not accept submissions: ${this.reason}`
  }
}

/**
 * A reader waited for something (an event, the end of a turn) and the delegate ended first: `reason` is
 * its `EndReason`, `detail` its message, if any.
 *
 * @since 0.2.0
 * @category errors
 */
export class DelegateStopped extends Schema.TaggedError<DelegateStopped>("@deputy/core/DelegateStopped")(
  "DelegateStopped",
  { awaited: Schema.String, reason: Schema.String, detail: Schema.optional(Schema.String) }
) {
  override get message(): string {
    return `the delegate ended (${this.reason}) before ${this.awaited}${this.detail ? `: ${this.detail}` : ""}`
  }
}
