/**
 * `@deputy/protocol`: Effect Schemas of the Codex JSON wire format and a JSON-lines codec.
 * Every schema decodes with `Schema.decodeUnknown*` and encodes back to equal JSON; `Event`, `EventMsg`,
 * `Submission` and `Op` encode back to the same JSON text, key order included, and keep `__proto__` keys as
 * plain data (decode other schemas inside them, not alone, when the input is untrusted).
 *
 * @since 0.1.0
 */
export * from "./AgentStatus.js"
export * from "./Event.js"
export * from "./EventMsg.js"
export * from "./FileChange.js"
export * from "./InitialHistory.js"
export * as JsonLines from "./JsonLines.js"
export * from "./Op.js"
export * from "./Permissions.js"
export * from "./RequestUserInput.js"
export * from "./ReviewDecision.js"
export * from "./SessionSource.js"
export * from "./Submission.js"
export * from "./UserInput.js"
export * from "./W3cTraceContext.js"
