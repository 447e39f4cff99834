/**
 * Why a command could not be started, in words a person can act on.
 */
import { Errors } from "@deputy/core"
import type * as PlatformError from "@effect/platform/Error"

/** Maps the executor's error for a failed start to a `SpawnError` naming the command and the cause. */
export const toSpawnError = (
  command: string,
  context: { readonly cwd: string | undefined; readonly path: string | undefined }
) =>
(error: PlatformError.PlatformError): Errors.SpawnError => {
  const detail = error._tag === "SystemError" ? error.description ?? error.reason : error.message
  let reason = `${detail}`
  if (error._tag === "SystemError" && error.method === "access") {
    reason = `its working directory ${context.cwd} is not accessible (${detail})`
  } else if (error._tag === "SystemError" && error.reason === "NotFound") {
    reason = command.includes("/")
      ? `${command} does not exist, or its interpreter (#! line) does not`
      : `not found on PATH (${context.path ?? "PATH is not set"}); install it or give its full path`
  } else if (error._tag === "SystemError" && error.reason === "PermissionDenied") {
    reason = `permission denied: ${command} is not executable, or a directory on the way is not searchable`
  }
  return new Errors.SpawnError({ agent: command, reason, cause: error })
}
