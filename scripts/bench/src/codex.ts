/**
 * Real Codex: wall time per turn through Deputy vs a minimal direct JSON-RPC client (placeholder until
 * `@deputy/codex` exports its spawner, scripted model and CODEX_HOME writer).
 */
import type { SectionResult, Size } from "./stats.js"

export const run = async (_size: Size): Promise<SectionResult> => ({
  metrics: {},
  notes: [],
  skipped: "skipped: @deputy/codex does not export its AgentSpawner, scripted model and CODEX_HOME writer yet"
})
