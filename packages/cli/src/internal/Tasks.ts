/**
 * The tasks of a `deputy run` that runs several sub-agents as siblings: repeated `--task NAME=PROMPT`
 * (or `--task PROMPT`, named `task-1`, `task-2`…) and a task file (`--tasks FILE`, JSON or YAML).
 *
 * A task file is a list of `{ name?, prompt }` (or of prompts), a `{ tasks: [...] }` object holding such
 * a list, or a map `{ NAME: PROMPT }`:
 *
 * ```yaml
 * tasks:
 *   - name: review
 *     prompt: review the diff in src/
 *   - name: tests
 *     prompt: run the tests and fix what fails
 * ```
 *
 * Names are short (`[A-Za-z0-9][A-Za-z0-9_.-]{0,31}`), unique, and become the node's path segment
 * (`root/review`), so they never hold a `/`, a space or a control character.
 *
 * @since 0.2.0
 */
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as path from "node:path"
import * as YAML from "yaml"
import * as Text from "./Text.js"

/**
 * One task: the node's name and its prompt.
 *
 * @since 0.2.0
 * @category models
 */
export interface Task {
  readonly name: string
  readonly prompt: string
}

/**
 * A task list that cannot be used, with what to do about it.
 *
 * @since 0.2.0
 * @category errors
 */
export interface TaskProblem {
  readonly message: string
}

/**
 * What a task name may be: a letter or digit, then up to 31 letters, digits, `_`, `.` or `-`.
 *
 * @since 0.2.0
 * @category parsing
 */
export const namePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/

/** `NAME=` at the start of a `--task` value (a prompt such as `set x=1` has a space first, so no name). */
const namedPrefix = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,31})=/

/** The most tasks one run takes. */
const maxTasks = 256

const maxFileBytes = 1024 * 1024

/** A name from the list as a message shows it: quoted, escaped (no raw controls or bidi), at most ~80 columns. */
const quoted = (name: string): string => `"${Text.oneLine(name, 80)}"`

const problem = (message: string): Either.Either<never, TaskProblem> => Either.left({ message })

/**
 * Reads one `--task` value: `NAME=PROMPT` names it, `=PROMPT` or a plain `PROMPT` leaves it unnamed.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseTaskFlag = (value: string): { readonly name: string | undefined; readonly prompt: string } => {
  if (value.startsWith("=")) return { name: undefined, prompt: value.slice(1).trim() }
  const match = namedPrefix.exec(value)
  return match === null
    ? { name: undefined, prompt: value.trim() }
    : { name: match[1], prompt: value.slice(match[0].length).trim() }
}

/**
 * Reads a task file's text (JSON is YAML too); `source` names the file in messages.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseFile = (
  text: string,
  source: string
): Either.Either<ReadonlyArray<{ readonly name: string | undefined; readonly prompt: string }>, TaskProblem> => {
  let document: unknown
  try {
    document = YAML.parse(text, { maxAliasCount: 100 })
  } catch (error) {
    return problem(
      `--tasks ${source}: not JSON or YAML (${
        Text.visibleLines(error instanceof Error ? error.message : String(error)).join("\n")
      })`
    )
  }
  const shape = `--tasks ${source}: expected a list of {name, prompt}, {tasks: [...]}, or a map NAME: PROMPT`
  if (document !== null && typeof document === "object" && !Array.isArray(document) && "tasks" in document) {
    document = (document as { readonly tasks: unknown }).tasks
  }
  if (Array.isArray(document)) {
    const tasks: Array<{ name: string | undefined; prompt: string }> = []
    for (const [index, item] of document.entries()) {
      if (typeof item === "string") {
        tasks.push({ name: undefined, prompt: item.trim() })
        continue
      }
      if (item === null || typeof item !== "object" || Array.isArray(item)) {
        return problem(`${shape}; item ${index + 1} is neither`)
      }
      const { name, prompt } = item as { readonly name?: unknown; readonly prompt?: unknown }
      if (typeof prompt !== "string") return problem(`--tasks ${source}: item ${index + 1} has no "prompt" text`)
      if (name !== undefined && typeof name !== "string") {
        return problem(`--tasks ${source}: item ${index + 1}: "name" must be text`)
      }
      tasks.push({ name, prompt: prompt.trim() })
    }
    return Either.right(tasks)
  }
  if (document !== null && typeof document === "object") {
    const tasks: Array<{ name: string; prompt: string }> = []
    for (const [name, prompt] of Object.entries(document)) {
      if (typeof prompt !== "string") {
        return problem(`--tasks ${source}: the prompt of ${quoted(name)} must be text`)
      }
      tasks.push({ name, prompt: prompt.trim() })
    }
    return Either.right(tasks)
  }
  return problem(shape)
}

/**
 * Reads a task file from disk (at most 1 MiB).
 *
 * @since 0.2.0
 * @category parsing
 */
export const readFile = (
  file: string,
  cwd: string
): Either.Either<ReadonlyArray<{ readonly name: string | undefined; readonly prompt: string }>, TaskProblem> => {
  const resolved = path.resolve(cwd, file)
  try {
    // read at most 1 MiB + 1 bytes: a pipe or a device (`/dev/zero`) has no size to stat
    const fd = fs.openSync(resolved, "r")
    const buffer = Buffer.alloc(maxFileBytes + 1)
    let length = 0
    try {
      while (length < buffer.length) {
        const n = fs.readSync(fd, buffer, length, buffer.length - length, null)
        if (n === 0) break
        length += n
      }
    } finally {
      fs.closeSync(fd)
    }
    if (length > maxFileBytes) return problem(`--tasks ${file}: the file is larger than 1 MiB`)
    return parseFile(buffer.toString("utf8", 0, length), file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return problem(code === "ENOENT" ? `--tasks ${file}: no such file` : `--tasks ${file}: cannot be read (${code})`)
  }
}

/**
 * Checks a task list and names the unnamed tasks `task-N` (N: its place in the list, skipping names
 * taken): names valid and unique, prompts not empty, at most 256 tasks.
 *
 * @since 0.2.0
 * @category parsing
 */
export const resolve = (
  given: ReadonlyArray<{ readonly name: string | undefined; readonly prompt: string }>
): Either.Either<ReadonlyArray<Task>, TaskProblem> => {
  if (given.length === 0) return problem("no tasks: give --task NAME=PROMPT (repeatable) or --tasks FILE")
  if (given.length > maxTasks) return problem(`${given.length} tasks: at most ${maxTasks} in one run`)
  const taken = new Set<string>()
  for (const task of given) {
    if (task.name === undefined) continue
    if (!namePattern.test(task.name)) {
      return problem(
        `task name ${quoted(task.name)}: use up to 32 letters, digits, _, . or - (e.g. --task review=...)`
      )
    }
    if (taken.has(task.name)) return problem(`task name ${quoted(task.name)} is used twice`)
    taken.add(task.name)
  }
  const tasks: Array<Task> = []
  for (const [index, task] of given.entries()) {
    let name = task.name
    if (name === undefined) {
      let n = index + 1
      while (taken.has(`task-${n}`)) n++
      name = `task-${n}`
      taken.add(name)
    }
    if (task.prompt === "") return problem(`task ${name}: the prompt is empty`)
    tasks.push({ name, prompt: task.prompt })
  }
  return Either.right(tasks)
}
