/**
 * Questions a child asks the user (`request_user_input`) and the answers (`user_input_answer`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { optional, optionalNullable, struct } from "./internal/schema.js"

/**
 * One choice offered with a question.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserInputQuestionOption = struct({ label: Schema.String, description: Schema.String })
  .annotations({ identifier: "UserInputQuestionOption" })

/**
 * One question of a `request_user_input` event.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserInputQuestion = struct({
  id: Schema.String,
  header: Schema.String,
  question: Schema.String,
  isOther: optional(Schema.Boolean),
  isSecret: optional(Schema.Boolean),
  options: optionalNullable(Schema.Array(UserInputQuestionOption))
}).annotations({ identifier: "UserInputQuestion" })

/**
 * @since 0.1.0
 * @category models
 */
export type UserInputQuestion = typeof UserInputQuestion.Type

/**
 * The answers to one question.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserInputAnswer = struct({ answers: Schema.Array(Schema.String) })
  .annotations({ identifier: "UserInputAnswer" })

/**
 * The parent's answer to a user-input request: answers by question id.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RequestUserInputResponse = struct({
  answers: Schema.Record({ key: Schema.String, value: UserInputAnswer })
}).annotations({ identifier: "RequestUserInputResponse" })

/**
 * @since 0.1.0
 * @category models
 */
export type RequestUserInputResponse = typeof RequestUserInputResponse.Type

/**
 * The answer sent when the parent gives none (cancelled, no answer): no answers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const noAnswers: RequestUserInputResponse = { answers: {} }
