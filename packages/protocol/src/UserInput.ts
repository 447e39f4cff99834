/**
 * Items of a user turn (`Op.user_input.items`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { opaque, optional, tagged, typeNames } from "./internal/schema.js"

const knownItems = [
  tagged("text", { text: Schema.String, text_elements: optional(Schema.Array(Schema.Unknown)) }),
  tagged("image", { image_url: Schema.String }),
  tagged("local_image", { path: Schema.String }),
  tagged("skill", { name: Schema.String, path: Schema.String }),
  tagged("mention", { name: Schema.String, path: Schema.String })
] as const

/**
 * One item of user input: `text`, `image`, `local_image`, `skill`, `mention`; other types pass through.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserInput = Schema.Union(...knownItems, opaque("UserInput", typeNames(knownItems)))
  .annotations({ identifier: "UserInput" })

/**
 * @since 0.1.0
 * @category models
 */
export type UserInput = typeof UserInput.Type

/**
 * A text item, the usual way to start a turn.
 *
 * @since 0.1.0
 * @category constructors
 */
export const textInput = (text: string): UserInput => ({ type: "text", text, text_elements: [] })
