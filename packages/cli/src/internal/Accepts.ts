/**
 * What a pending request accepts from another process (`deputy inbox --json`'s `accepts`), and the command
 * line that answers it, for people: one home for `deputy inbox` and the `--approval inbox` notice.
 *
 * @since 0.2.0
 */
import { ApprovalRequest } from "@deputy/core"
import * as Text from "./Text.js"

/**
 * What a pending request accepts, as `deputy inbox --json` shows it (`accepts`), by what it asks:
 * - `decision` (a command, a patch): `deputy approve [--for-session]` or `deputy deny [--reason]`; `decisions`:
 *   the decisions the child lists (`available_decisions`), when it lists them;
 * - `permissions`: `deputy approve [--for-session]` grants what it asks, `deputy deny` grants nothing;
 * - `questions` (`item/tool/requestUserInput`): `deputy answer ID --field QUESTION_ID=TEXT …` (a question with
 *   options and no free text takes one of its option labels, or its number), `deputy deny` sends no answers;
 * - `form` (an MCP elicitation): `deputy answer ID --field NAME=VALUE … | --data JSON`, `--decline`, `--cancel`;
 * - `tool_call` (an MCP tool-call approval): `deputy approve [--persist CHOICE]` with a `persist` choice it
 *   offers, `deputy deny` declines;
 * - `url` (an MCP URL elicitation; Deputy never opens it): `deputy approve` accepts, `deputy deny` declines;
 * - `refused` (an elicitation Deputy will not accept): `deputy deny` only.
 *
 * `commands` lists the commands that answer it.
 *
 * @since 0.2.0
 * @category models
 */
export type Accepts =
  | {
    readonly answer: "decision"
    readonly commands: ReadonlyArray<string>
    readonly decisions?: ReadonlyArray<unknown> | undefined
  }
  | { readonly answer: "permissions"; readonly commands: ReadonlyArray<string>; readonly permissions: unknown }
  | {
    readonly answer: "questions"
    readonly commands: ReadonlyArray<string>
    readonly blocking: boolean
    readonly questions: ReadonlyArray<{
      readonly id: string
      readonly header: string
      readonly question: string
      /** The option labels, if it offers options. */
      readonly options?: ReadonlyArray<string> | undefined
      /** Whether it takes a text of one's own (no options, or `isOther`). */
      readonly free_text: boolean
      readonly secret: boolean
    }>
  }
  | {
    readonly answer: "form"
    readonly commands: ReadonlyArray<string>
    readonly server: string
    readonly message: string
    readonly fields: ReadonlyArray<ApprovalRequest.ElicitationField>
  }
  | {
    readonly answer: "tool_call"
    readonly commands: ReadonlyArray<string>
    readonly server: string
    readonly message: string
    readonly tool_name?: string | undefined
    readonly persist: ReadonlyArray<ApprovalRequest.ElicitationPersist>
  }
  | {
    readonly answer: "url"
    readonly commands: ReadonlyArray<string>
    readonly server: string
    readonly message: string
    readonly url: string
  }
  | { readonly answer: "refused"; readonly commands: ReadonlyArray<string>; readonly problem: string }

/**
 * What a request accepts (see `Accepts`).
 *
 * @since 0.2.0
 * @category answers
 */
export const acceptsOf = (request: ApprovalRequest.ApprovalRequest): Accepts => {
  switch (request.kind) {
    case "command":
    case "patch": {
      const decisions = request.kind === "command" ? request.event.available_decisions : undefined
      return {
        answer: "decision",
        commands: ["approve", "deny"],
        ...(decisions === undefined || decisions === null ? {} : { decisions })
      }
    }
    case "permissions":
      return { answer: "permissions", commands: ["approve", "deny"], permissions: request.event.permissions }
    case "user_input":
      return {
        answer: "questions",
        commands: ["answer", "deny"],
        blocking: ApprovalRequest.isBlocking(request),
        questions: request.event.questions.map((question) => {
          const options = question.options ?? []
          return {
            id: question.id,
            header: question.header,
            question: question.question,
            ...(options.length === 0 ? {} : { options: options.map((option) => option.label) }),
            free_text: options.length === 0 || question.isOther === true,
            secret: question.isSecret === true
          }
        })
      }
    case "elicitation": {
      const view = ApprovalRequest.elicitation(request)
      switch (view._tag) {
        case "Form":
          return {
            answer: "form",
            commands: view.fields.length === 0 ? ["approve", "answer", "deny"] : ["answer", "deny"],
            server: view.serverName,
            message: view.message,
            fields: view.fields
          }
        case "ToolCall":
          return {
            answer: "tool_call",
            commands: ["approve", "deny"],
            server: view.serverName,
            message: view.message,
            ...(view.toolName === undefined ? {} : { tool_name: view.toolName }),
            persist: view.persist
          }
        case "Url":
          return {
            answer: "url",
            commands: ["approve", "deny"],
            server: view.serverName,
            message: view.message,
            url: view.url
          }
        case "Refused":
          return { answer: "refused", commands: ["deny"], problem: view.problem }
      }
    }
  }
}

/**
 * The command line that answers a request, for people (a form and questions name their fields).
 *
 * @since 0.2.0
 * @category answers
 */
export const answerHint = (request: ApprovalRequest.ApprovalRequest): string => {
  const id = Text.visible(request.id)
  const accepts = acceptsOf(request)
  switch (accepts.answer) {
    case "questions":
      return `deputy answer ${id} ${
        accepts.questions.map((question) =>
          `--field ${Text.visible(question.id)}=${
            question.free_text ? "TEXT" : (question.options ?? []).map((label) => Text.oneLine(label, 20)).join("|")
          }`
        ).join(" ")
      }   or: deputy deny ${id}`
    case "form":
      return accepts.fields.length === 0
        ? `deputy approve ${id}   or: deputy deny ${id}`
        : `deputy answer ${id} ${
          accepts.fields.map((field) => `--field ${Text.visible(field.name)}=${field.type.toUpperCase()}`).join(" ")
        }   or: deputy answer ${id} --decline`
    case "tool_call":
      return `deputy approve ${id}${
        accepts.persist.length === 0 ? "" : ` [--persist ${accepts.persist.join("|")}]`
      }   or: deputy deny ${id}`
    case "refused":
      return `deputy deny ${id} (Deputy does not accept it: ${Text.oneLine(accepts.problem, 100)})`
    default:
      return `deputy approve ${id}   or: deputy deny ${id}`
  }
}
