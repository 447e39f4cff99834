/**
 * Helpers for supervising a child process, shared by every spawner that runs one (`ProcessAgent`, and
 * `@deputy/codex`'s `CodexAgent`): how it ended, the end of its stderr, and forking its pumps.
 *
 * @since 0.1.0
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as PlatformError from "@effect/platform/Error"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"

/**
 * How a process ended: an exit code, or the signal that killed it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExitStatus {
  readonly code: number | null
  readonly signal: string | null
}

/**
 * Waits for a process to end. The platform's executor reports a death by signal only as an error text
 * ("Process interrupted due to receipt of signal: SIGTERM"); the signal name is read back from it.
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const exitStatus = (process: CommandExecutor.Process): Effect.Effect<ExitStatus> =>
  process.exitCode.pipe(
    Effect.map((code): ExitStatus => ({ code, signal: null })),
    Effect.catchAll((error: PlatformError.PlatformError) =>
      Effect.succeed<ExitStatus>({
        code: null,
        signal: /signal: (\w+)/.exec(error._tag === "SystemError" ? error.description ?? "" : error.message)?.[1] ??
          "unknown signal"
      })
    )
  )

/**
 * Forks into the scope, interruptible even when started from an uninterruptible region (a spawn is one,
 * and forked fibers inherit it): the scope's close must be able to interrupt what it forked.
 *
 * @since 0.1.0
 * @category lifecycle
 */
export const forkInterruptible = <A, E>(
  effect: Effect.Effect<A, E>
): Effect.Effect<Fiber.RuntimeFiber<A, E>, never, Scope.Scope> => Effect.forkScoped(Effect.interruptible(effect))

/**
 * A bounded tail of a byte stream (a child's stderr), kept for error reports.
 *
 * @since 0.1.0
 * @category models
 */
export class StderrTail {
  private buffer = new Uint8Array(0)

  constructor(private readonly maxBytes: number) {}

  /** Appends a chunk of bytes, keeping only the last `maxBytes`. */
  push(bytes: Uint8Array): void {
    if (this.maxBytes <= 0) return
    if (bytes.length >= this.maxBytes) {
      this.buffer = bytes.slice(bytes.length - this.maxBytes)
      return
    }
    const keep = Math.min(this.buffer.length, this.maxBytes - bytes.length)
    const next = new Uint8Array(keep + bytes.length)
    next.set(this.buffer.subarray(this.buffer.length - keep), 0)
    next.set(bytes, keep)
    this.buffer = next
  }

  /** The tail as text (a character cut at the start shows as U+FFFD), or `undefined` when empty. */
  text(): string | undefined {
    return this.buffer.length === 0 ? undefined : new TextDecoder().decode(this.buffer)
  }
}
