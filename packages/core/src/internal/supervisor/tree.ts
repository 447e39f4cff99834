/** The supervised tree (see `Supervisor.ts`). */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { AgentSpawner } from "../../AgentSpawner.js"
import type { SupervisorOptions, SupervisorService } from "../../Supervisor.js"

/** Builds a supervisor in the current scope. */
export const make = (
  _options: SupervisorOptions = {}
): Effect.Effect<SupervisorService, never, Scope.Scope | AgentSpawner> => Effect.dieMessage("not implemented yet")
