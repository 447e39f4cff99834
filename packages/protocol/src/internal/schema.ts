import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import { restoreProtoKeys } from "./json.js"

/**
 * Parse options for every object schema of the protocol: fields this version of Deputy does not model
 * are kept on decode and written back on encode, and every object keeps its keys in the order they came
 * in, so a decoded value re-encodes to the same JSON text.
 */
const preserveUnknownFields = { parseOptions: { onExcessProperty: "preserve", propertyOrder: "original" } } as const

/** An object schema that keeps unknown fields and key order (round trip). */
export const struct = <Fields extends Schema.Struct.Fields>(fields: Fields) =>
  Schema.Struct(fields).annotations(preserveUnknownFields)

/** A field that may be absent; when present it is never `undefined` (exact optional). */
export const optional = <S extends Schema.Schema.All>(schema: S) => Schema.optionalWith(schema, { exact: true })

/** A field that may be absent or `null` (Rust `Option<T>`, serialized either way across Codex versions). */
export const optionalNullable = <S extends Schema.Schema.Any>(schema: S) =>
  Schema.optionalWith(Schema.NullOr(schema), { exact: true })

/** A `{"type": name, ...fields}` variant that keeps unknown fields. */
export const tagged = <const Type extends string, Fields extends Schema.Struct.Fields>(type: Type, fields: Fields) =>
  struct({ type: Schema.Literal(type), ...fields })

/**
 * A tagged variant that also accepts `alias` as its `type` on decode and always encodes the primary name.
 */
export const taggedWithAlias = <
  const Type extends string,
  const Alias extends string,
  Fields extends Schema.Struct.Fields
>(
  type: Type,
  alias: Alias,
  fields: Fields
) =>
  struct({
    type: Schema.transform(Schema.Literal(type, alias), Schema.Literal(type), {
      strict: true,
      decode: () => type,
      encode: (primary) => primary
    }),
    ...fields
  })

/** The shape of a variant whose `type` this version does not model: kept whole, passed through unchanged. */
export interface Opaque {
  readonly type: string
  readonly [field: string]: unknown
}

/**
 * A catch-all for tagged variants whose `type` is not in `known`. A value with a known `type` never falls
 * back to it, so a malformed known variant is an error rather than silently opaque.
 */
export const opaque = (family: string, known: ReadonlySet<string>): Schema.Schema<Opaque> =>
  struct({
    type: Schema.String.pipe(
      Schema.filter((type) => !known.has(type), {
        message: (issue) => `"${String(issue.actual)}" is a known ${family} type, but its fields do not match it`
      })
    )
  }).annotations({ identifier: `Unknown${family}` }) as unknown as Schema.Schema<Opaque>

/** The `type` names a union of tagged schemas accepts on decode (aliases included). */
export const typeNames = (members: ReadonlyArray<Schema.Schema.Any>): ReadonlySet<string> => {
  const names = new Set<string>()
  for (const member of members) {
    collectLiterals(member.ast, names)
  }
  return names
}

const collectLiterals = (ast: Schema.Schema.Any["ast"], into: Set<string>): void => {
  switch (ast._tag) {
    case "TypeLiteral": {
      const type = ast.propertySignatures.find((signature) => signature.name === "type")
      if (type) collectLiterals(type.type, into)
      return
    }
    case "Transformation":
      return collectLiterals(ast.from, into)
    case "Refinement":
      return collectLiterals(ast.from, into)
    case "Union":
      return ast.types.forEach((member) => collectLiterals(member, into))
    case "Literal":
      if (typeof ast.literal === "string") into.add(ast.literal)
      return
    default:
      return
  }
}

/**
 * `schema`, with `__proto__` keys kept as plain data in both directions (see `restoreProtoKeys`): a decoded
 * object never has a prototype other than `Object.prototype`, and `Object.keys` shows every key it came with.
 * Wrap the schemas that decode whole messages; their parts are covered by the wrapper around them (inside
 * another wrapped schema, use `inner` to walk once, not twice).
 */
export const protoSafe = <A, I>(schema: Schema.Schema<A, I>): Schema.Schema<A, I> => {
  // Either, not Effect: the protocol's schemas are synchronous, and an Either needs no fiber to run
  const decode = ParseResult.decodeUnknownEither(schema)
  const encode = ParseResult.encodeUnknownEither(schema)
  return Schema.declare([schema], {
    decode: () => (input, options) =>
      Either.map(decode(input, options), (value) => restoreProtoKeys(input, value) as A),
    encode: () => (input, options) =>
      Either.map(encode(input, options), (encoded) => restoreProtoKeys(input, encoded) as I)
  }, {
    ...schema.ast.annotations,
    [protoSafeId]: true,
    arbitrary: (inner) => inner,
    equivalence: (inner) => inner,
    pretty: (inner) => inner
  })
}

const protoSafeId = Symbol.for("@deputy/protocol/protoSafe")

/** The schema `protoSafe` wrapped, for a field of another `protoSafe` schema, whose walk covers it. */
export const inner = <A, I>(schema: Schema.Schema<A, I>): Schema.Schema<A, I> =>
  SchemaAST.isDeclaration(schema.ast) && schema.ast.annotations[protoSafeId] === true
    ? Schema.make(schema.ast.typeParameters[0]!)
    : schema
