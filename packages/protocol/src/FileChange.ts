/**
 * One file's change in a patch (`apply_patch_approval_request.changes`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { optionalNullable, tagged } from "./internal/schema.js"

/**
 * `add` (with the new content), `delete` (with the old content) or `update` (a unified diff, maybe a move).
 *
 * @since 0.1.0
 * @category schemas
 */
export const FileChange = Schema.Union(
  tagged("add", { content: Schema.String }),
  tagged("delete", { content: Schema.String }),
  tagged("update", { unified_diff: Schema.String, move_path: optionalNullable(Schema.String) })
).annotations({ identifier: "FileChange" })

/**
 * @since 0.1.0
 * @category models
 */
export type FileChange = typeof FileChange.Type
