/**
 * Permission requests and grants (`request_permissions` / `request_permissions_response`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { optional, optionalNullable, struct } from "./internal/schema.js"

/**
 * How long a permission grant lasts: this turn (the default) or the whole session.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PermissionGrantScope = Schema.Literal("turn", "session").annotations({
  identifier: "PermissionGrantScope"
})

/**
 * @since 0.1.0
 * @category models
 */
export type PermissionGrantScope = typeof PermissionGrantScope.Type

/**
 * The permissions a child asks for, or the parent grants: network access and file-system paths.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RequestPermissionProfile = struct({
  network: optionalNullable(struct({ enabled: optionalNullable(Schema.Boolean) })),
  file_system: optionalNullable(struct({
    read: optionalNullable(Schema.Array(Schema.String)),
    write: optionalNullable(Schema.Array(Schema.String))
  }))
}).annotations({ identifier: "RequestPermissionProfile" })

/**
 * @since 0.1.0
 * @category models
 */
export type RequestPermissionProfile = typeof RequestPermissionProfile.Type

/**
 * The parent's answer to a permissions request: what is granted and for how long.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RequestPermissionsResponse = struct({
  permissions: RequestPermissionProfile,
  scope: optional(PermissionGrantScope)
}).annotations({ identifier: "RequestPermissionsResponse" })

/**
 * @since 0.1.0
 * @category models
 */
export type RequestPermissionsResponse = typeof RequestPermissionsResponse.Type

/**
 * The answer sent when the parent gives none (cancelled, no answer): nothing granted, for this turn.
 *
 * @since 0.1.0
 * @category constructors
 */
export const noPermissionsGranted: RequestPermissionsResponse = { permissions: {}, scope: "turn" }
