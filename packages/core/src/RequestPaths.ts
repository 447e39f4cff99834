/**
 * Every path a request touches, resolved the way the file system will: against the request's directory,
 * normalised (`..` applied), and realpath'd through the deepest part that exists (so a symlinked parent
 * counts), with whether it stays inside the workspace. Policy matching and prompts both read this, so
 * what is shown and what is matched are the same paths.
 *
 * @since 0.2.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { ApprovalRequest } from "./ApprovalRequest.js"

/**
 * What a path is to its request: a patched file, the target of a patch's `move_path`, the patch's
 * `grant_root`, a permission to read or write, or a command's working directory.
 *
 * @since 0.2.0
 * @category models
 */
export type PathRole = "patch_file" | "move_to" | "grant_root" | "read" | "write" | "command_cwd"

/**
 * One path a request touches.
 *
 * @since 0.2.0
 * @category models
 */
export interface TouchedPath {
  readonly role: PathRole
  /** The path exactly as the sub-agent sent it. */
  readonly given: string
  /** Absolute, normalised and realpath'd through its deepest existing ancestor (the file itself included). */
  readonly resolved: string
  /** `resolved` relative to the (realpath'd) workspace, with `/` separators; `undefined` when outside. */
  readonly relative: string | undefined
  /** Whether `resolved` is the workspace or below it. */
  readonly inside: boolean
  /** Why it is outside, in words (`..` leaves the workspace, a symlink points elsewhere, absolute path). */
  readonly note?: string | undefined
}

/**
 * A path resolved against a base directory.
 *
 * @since 0.2.0
 * @category models
 */
export interface ResolvedPath {
  /** Absolute and normalised, before following symlinks. */
  readonly lexical: string
  /** `lexical` with every existing symlink on the way followed. */
  readonly real: string
  /** The first symlink followed, as `link -> target`, if any. */
  readonly symlink?: string | undefined
  /** The path could not be resolved safely (a NUL byte, an unreadable parent): treat as outside. */
  readonly unresolvable?: string | undefined
}

const realpathOrUndefined = (candidate: string): string | undefined => {
  try {
    return fs.realpathSync.native(candidate)
  } catch {
    return undefined
  }
}

/** The first symlink on the lexical path of `target` (checked component by component), as `link -> dest`. */
const firstSymlink = (target: string): string | undefined => {
  const parts = target.split(path.sep).filter((part) => part !== "")
  let current = path.parse(target).root
  for (const part of parts) {
    current = path.join(current, part)
    let stat: fs.Stats
    try {
      stat = fs.lstatSync(current)
    } catch {
      return undefined
    }
    if (stat.isSymbolicLink()) {
      let destination = "?"
      try {
        destination = fs.readlinkSync(current)
      } catch {
        // unreadable link: the name alone still tells
      }
      return `${current} -> ${destination}`
    }
  }
  return undefined
}

/**
 * Resolves `given` against `base` (an absolute directory): normalised, then realpath'd through its deepest
 * existing ancestor, the rest appended. Never throws.
 *
 * @since 0.2.0
 * @category resolving
 */
export const resolve = (given: string, base: string): ResolvedPath => {
  if (given.includes("\0") || base.includes("\0")) {
    return { lexical: given, real: given, unresolvable: "the path contains a NUL byte" }
  }
  const lexical = path.resolve(base, given)
  let existing = lexical
  const rest: Array<string> = []
  let real = realpathOrUndefined(existing)
  while (real === undefined) {
    const parent = path.dirname(existing)
    if (parent === existing) return { lexical, real: lexical, unresolvable: "no part of the path exists" }
    rest.unshift(path.basename(existing))
    existing = parent
    real = realpathOrUndefined(existing)
  }
  const resolved = rest.length === 0 ? real : path.join(real, ...rest)
  const symlink = resolved === lexical ? undefined : firstSymlink(lexical)
  return symlink === undefined ? { lexical, real: resolved } : { lexical, real: resolved, symlink }
}

/**
 * Whether `candidate` is `root` or below it (both absolute and normalised).
 *
 * @since 0.2.0
 * @category resolving
 */
export const isInside = (candidate: string, root: string): boolean => {
  const relative = path.relative(root, candidate)
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative))
}

/**
 * Resolves one path of a request against its base directory and says whether it stays in `workspace`.
 *
 * @since 0.2.0
 * @category resolving
 */
export const touch = (role: PathRole, given: string, base: string, workspace: string): TouchedPath => {
  const root = resolve(workspace, "/").real
  const resolved = resolve(given, base)
  if (resolved.unresolvable !== undefined) {
    return { role, given, resolved: resolved.real, relative: undefined, inside: false, note: resolved.unresolvable }
  }
  const inside = isInside(resolved.real, root)
  const relative = inside ? path.relative(root, resolved.real).split(path.sep).join("/") : undefined
  const lexicallyInside = isInside(resolved.lexical, root)
  const note = inside
    ? undefined
    : lexicallyInside && resolved.symlink !== undefined
    ? `through the symlink ${resolved.symlink}`
    : path.isAbsolute(given)
    ? "an absolute path outside the working directory"
    : "`..` leaves the working directory"
  return { role, given, resolved: resolved.real, relative: relative === "" ? "." : relative, inside, note }
}

/**
 * Every path a request touches, resolved: each patch key, each `move_path`, a patch's `grant_root`, every
 * permissions path (against the request's `cwd`, else the workspace), a command's `cwd`. User-input
 * requests touch none. Patch keys are resolved against `workspace` (patch requests carry no directory).
 *
 * @since 0.2.0
 * @category resolving
 */
export const touched = (request: ApprovalRequest, workspace: string): ReadonlyArray<TouchedPath> => {
  const base = path.resolve(workspace)
  switch (request.kind) {
    case "command":
      return [touch("command_cwd", request.event.cwd, base, workspace)]
    case "patch": {
      const paths: Array<TouchedPath> = []
      for (const file of Object.keys(request.event.changes)) {
        paths.push(touch("patch_file", file, base, workspace))
        const change = request.event.changes[file]
        if (change !== undefined && change.type === "update" && typeof change.move_path === "string") {
          paths.push(touch("move_to", change.move_path, base, workspace))
        }
      }
      const grantRoot = request.event.grant_root
      if (typeof grantRoot === "string") paths.push(touch("grant_root", grantRoot, base, workspace))
      return paths
    }
    case "permissions": {
      const cwd = typeof request.event.cwd === "string" ? path.resolve(base, request.event.cwd) : base
      const fileSystem = request.event.permissions.file_system
      return [
        ...(fileSystem?.read ?? []).map((given) => touch("read", given, cwd, workspace)),
        ...(fileSystem?.write ?? []).map((given) => touch("write", given, cwd, workspace))
      ]
    }
    case "user_input":
      return []
  }
}

/**
 * The touched paths that leave the workspace.
 *
 * @since 0.2.0
 * @category resolving
 */
export const outside = (request: ApprovalRequest, workspace: string): ReadonlyArray<TouchedPath> =>
  touched(request, workspace).filter((touchedPath) => !touchedPath.inside)
