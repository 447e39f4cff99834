/**
 * Every path a request touches, resolved the way the file system will: against the request's directory,
 * walked component by component following every symlink met (a symlinked parent, `..` after a
 * symlink, a dangling symlink), with whether it stays inside the workspace. Policy matching and prompts both read this, so
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
  /** Absolute, with every symlink on the way followed as the kernel would (see `resolve`). */
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

const maxSymlinks = 40

/** What a path is, as `lstat` saw it: missing, a symlink (with its target, if readable), or anything else. */
type Entry =
  | { readonly kind: "missing" }
  | { readonly kind: "present" }
  | { readonly kind: "symlink"; readonly target: string | undefined }

/**
 * `lstat` (and `readlink`) of absolute paths, each read once: the paths of one request share their
 * directories (50,000 files in 20 directories cost 20 walks, not 50,000).
 */
type Lookup = (absolute: string) => Entry

const makeLookup = (): Lookup => {
  const seen = new Map<string, Entry>()
  return (absolute) => {
    let entry = seen.get(absolute)
    if (entry === undefined) {
      entry = readEntry(absolute)
      seen.set(absolute, entry)
    }
    return entry
  }
}

const readEntry = (absolute: string): Entry => {
  let stat: fs.Stats
  try {
    stat = fs.lstatSync(absolute)
  } catch {
    return { kind: "missing" }
  }
  if (!stat.isSymbolicLink()) return { kind: "present" }
  try {
    return { kind: "symlink", target: fs.readlinkSync(absolute) }
  } catch {
    return { kind: "symlink", target: undefined }
  }
}

/**
 * Resolves `given` against `base` (an absolute directory) the way the kernel walks a path: component by
 * component, following each symlink where it is met (so `docs/assets/../x` with `docs/assets -> ../out`
 * lands in the parent of `out`, as a write would), and a dangling symlink to where it points (a write
 * through it creates its target). A missing component is a directory the write will create: what follows
 * it is appended as written, until a `..` leads back to an existing directory.
 * Never throws.
 *
 * @since 0.2.0
 * @category resolving
 */
export const resolve = (given: string, base: string): ResolvedPath => resolveWith(makeLookup(), undefined, given, base)

/** Where a walk is: the directory reached (symlinks followed), whether a component was missing, hops so far. */
interface Walk {
  readonly current: string
  readonly missing: boolean
  readonly hops: number
  readonly symlink: string | undefined
}

type Walked = Walk | { readonly unresolvable: string }

const atRoot: Walk = { current: "/", missing: false, hops: 0, symlink: undefined }

/** Walks `parts` from `from`, as the kernel would (see `resolve`). */
const walk = (lookup: Lookup, from: Walk, parts: Array<string>): Walked => {
  let { current, hops, missing, symlink } = from
  const pending = parts
  while (pending.length > 0) {
    const part = pending.shift()!
    if (part === "" || part === ".") continue
    if (part === "..") {
      current = path.dirname(current)
      // a missing directory is created as a real one by the write (`create_dir_all`), so its `..` is its
      // parent: from there on, symlinks count again (`new/../docs/assets -> ../out` lands in `out`)
      if (missing) missing = lookup(current).kind === "missing"
      continue
    }
    const next = current === "/" ? `/${part}` : `${current}/${part}`
    if (missing) {
      current = next
      continue
    }
    const entry = lookup(next)
    if (entry.kind === "missing") missing = true
    if (entry.kind !== "symlink") {
      current = next
      continue
    }
    if (++hops > maxSymlinks) return { unresolvable: "too many symlinks" }
    if (entry.target === undefined) return { unresolvable: `the symlink ${next} cannot be read` }
    symlink ??= `${next} -> ${entry.target}`
    if (entry.target.startsWith("/")) current = "/"
    pending.unshift(...entry.target.split("/"))
  }
  return { current, missing, hops, symlink }
}

/**
 * `resolve` with a lookup shared by the paths of one request, and (`dirs`) the walks of the directories
 * already met, keyed by their text as written: a path's directory is walked once, its last component alone.
 */
const resolveWith = (
  lookup: Lookup,
  dirs: Map<string, Walked> | undefined,
  given: string,
  base: string
): ResolvedPath => {
  if (given.includes("\0") || base.includes("\0")) {
    return { lexical: given, real: given, unresolvable: "the path contains a NUL byte" }
  }
  const lexical = path.resolve(base, given)
  const full = path.isAbsolute(given) ? given : `${base}/${given}`
  const cut = full.lastIndexOf("/")
  const dirText = full.slice(0, cut)
  let dir = dirs?.get(dirText)
  if (dir === undefined) {
    dir = walk(lookup, atRoot, dirText.split("/"))
    dirs?.set(dirText, dir)
  }
  const end = "unresolvable" in dir ? dir : walk(lookup, dir, [full.slice(cut + 1)])
  if ("unresolvable" in end) return { lexical, real: lexical, unresolvable: end.unresolvable }
  return end.symlink === undefined || end.current === lexical
    ? { lexical, real: end.current }
    : { lexical, real: end.current, symlink: end.symlink }
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
export const touch = (role: PathRole, given: string, base: string, workspace: string): TouchedPath =>
  makeToucher(workspace)(role, given, base)

/** `isInside` for paths known to be absolute and normalised (no `path.relative` per path). */
const within = (candidate: string, root: string): boolean =>
  candidate === root || candidate.startsWith(root === "/" ? "/" : `${root}/`)

/** `touch` for the paths of one request: the workspace resolved once, lookups and directory walks shared. */
const makeToucher = (workspace: string) => {
  const lookup = makeLookup()
  const dirs = new Map<string, Walked>()
  const root = resolveWith(lookup, undefined, workspace, "/").real
  return (role: PathRole, given: string, base: string): TouchedPath =>
    touchIn(root, resolveWith(lookup, dirs, given, base), role, given)
}

const touchIn = (root: string, resolved: ResolvedPath, role: PathRole, given: string): TouchedPath => {
  if (resolved.unresolvable !== undefined) {
    return { role, given, resolved: resolved.real, relative: undefined, inside: false, note: resolved.unresolvable }
  }
  const inside = within(resolved.real, root)
  const relative = inside ? resolved.real.slice(root === "/" ? 1 : root.length + 1) : undefined
  const lexicallyInside = within(resolved.lexical, root)
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
 * requests and MCP elicitations touch none. Patch keys are resolved against `workspace` (patch requests carry no directory).
 *
 * @since 0.2.0
 * @category resolving
 */
export const touched = (request: ApprovalRequest, workspace: string): ReadonlyArray<TouchedPath> => {
  const base = path.resolve(workspace)
  const touch = makeToucher(workspace)
  switch (request.kind) {
    case "command":
      return [touch("command_cwd", request.event.cwd, base)]
    case "patch": {
      const paths: Array<TouchedPath> = []
      for (const file of Object.keys(request.event.changes)) {
        paths.push(touch("patch_file", file, base))
        const change = request.event.changes[file]
        if (change !== undefined && change.type === "update" && typeof change.move_path === "string") {
          paths.push(touch("move_to", change.move_path, base))
        }
      }
      const grantRoot = request.event.grant_root
      if (typeof grantRoot === "string") paths.push(touch("grant_root", grantRoot, base))
      return paths
    }
    case "permissions": {
      const cwd = typeof request.event.cwd === "string" ? path.resolve(base, request.event.cwd) : base
      const fileSystem = request.event.permissions.file_system
      return [
        ...(fileSystem?.read ?? []).map((given) => touch("read", given, cwd)),
        ...(fileSystem?.write ?? []).map((given) => touch("write", given, cwd))
      ]
    }
    case "user_input":
    case "elicitation":
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
