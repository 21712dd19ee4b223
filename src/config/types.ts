import { Type, type SchemaOptions, type StringOptions, type TSchema, type TString, type TUnsafe } from '@sinclair/typebox';

/**
 * Schema helpers for config values that are written one way and used another.
 * Each is a TypeBox schema whose static type is the *compiled* value (a duration is a
 * number of ms), and whose `x-gantry` keyword tells the validator to convert the written
 * form in place (see config/validate.ts). One schema: the TS type, the validator, the docs.
 */

/** A duration: `250ms`, `5s`, `1m`, `1h`, `1d`, or a number of ms. Compiles to ms. */
export function Duration(options: SchemaOptions = {}): TUnsafe<number> {
  return Type.Unsafe<number>({ ...options, type: ['string', 'number'], 'x-gantry': 'duration' });
}

/** A size: `512b`, `64kb`, `10mb`, `1gb`, or a number of bytes. Compiles to bytes. */
export function Size(options: SchemaOptions = {}): TUnsafe<number> {
  return Type.Unsafe<number>({ ...options, type: ['string', 'number'], 'x-gantry': 'size' });
}

/** An IPv4/IPv6 address or CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`). */
export function Cidr(options: SchemaOptions = {}): TUnsafe<string> {
  return Type.Unsafe<string>({ ...options, type: 'string', 'x-gantry': 'cidr' });
}

/** An absolute http(s) URL. */
export function HttpUrl(options: SchemaOptions = {}): TUnsafe<string> {
  return Type.Unsafe<string>({ ...options, type: 'string', 'x-gantry': 'http-url' });
}

/** A regular expression source, compiled at load (errors name the line). */
export function RegexSource(options: SchemaOptions = {}): TUnsafe<string> {
  return Type.Unsafe<string>({ ...options, type: 'string', 'x-gantry': 'regex' });
}

/** A name used as a key elsewhere (routes, upstreams, listeners). */
export function Name(options: StringOptions = {}): TString {
  return Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', minLength: 1, maxLength: 128, ...options });
}

/**
 * An HTTP field name (RFC 9110 §5.1: a token), for the keys of header maps. A map keyed by it
 * must also say `additionalProperties: false`: a record's key pattern is otherwise not enforced.
 *
 * @example
 *   headers: Type.Record(HeaderName(), Type.String(), { additionalProperties: false })
 */
export function HeaderName(options: StringOptions = {}): TString {
  return Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', ...options });
}

/** `T | T[]`, normalised to `T[]` by the validator. */
export function OneOrMany<T extends TSchema>(item: T, options: SchemaOptions = {}): TUnsafe<Array<import('@sinclair/typebox').Static<T>>> {
  return Type.Unsafe({ ...options, anyOf: [item, Type.Array(item, { minItems: 1 })], 'x-gantry': 'one-or-many' });
}

/**
 * One policy in a policy list: `- <name>: { …config }`. The settings are checked against the
 * named policy's own schema at load (config/load.ts), wherever the list is (global, upstream,
 * route, consumer).
 */
export const PolicyEntry = Type.Record(Type.String(), Type.Unknown(), {
  minProperties: 1,
  maxProperties: 1,
  description: 'One policy: `- <name>: { …config }`.',
});
