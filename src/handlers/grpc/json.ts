import { Buffer } from 'node:buffer';
import type * as protobuf from 'protobufjs';
import { protobufJs } from './lazy.js';
import { BadMessage } from './wkt.js';

/**
 * The scalar values of the proto3 JSON mapping (https://protobuf.dev/programming-guides/json/),
 * request side: one JSON value checked against a field's type and turned into what
 * protobufjs `fromObject` encodes. Hand-written because `fromObject` is lenient by design: it
 * drops unknown fields and coerces mistyped values (`"abc"` → 0), while a gateway must answer
 * 400 for them. 64-bit integers as numbers or decimal strings, enums by name or number, bytes
 * as standard or URL-safe base64. Messages are in codec.ts; the well-known types in wkt.ts.
 */

/** Converts one JSON value (an element, for repeated and map fields) at `at`; depth counts message nesting. */
export type FromJson = (v: unknown, at: string, depth: number) => unknown;

const INT32: Record<string, [number, number]> = {
  int32: [-2147483648, 2147483647],
  sint32: [-2147483648, 2147483647],
  sfixed32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  fixed32: [0, 4294967295],
};
const INT64: Record<string, [bigint, bigint]> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};
const INTEGER = /^-?[0-9]+$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

export function float(v: unknown, at: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    const n = v.trim() === '' ? NaN : Number(v);
    if (Number.isFinite(n)) return n;
  }
  throw new BadMessage(`${at}: must be a number`);
}

/** An integer of a 32- or 64-bit type: a JSON number, or a decimal string (64-bit stays a string, exact). */
export function integer(type: string, v: unknown, at: string): number | string {
  const r32 = INT32[type];
  if (r32 !== undefined) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && INTEGER.test(v) ? Number(v) : NaN;
    if (Number.isInteger(n) && n >= r32[0] && n <= r32[1]) return n;
    throw new BadMessage(`${at}: must be an integer from ${r32[0]} to ${r32[1]} (${type})`);
  }
  const r64 = INT64[type]!;
  let s: string | undefined;
  if (typeof v === 'number' && Number.isInteger(v)) s = BigInt(v).toString();
  else if (typeof v === 'string' && INTEGER.test(v)) s = v;
  if (s !== undefined) {
    const b = BigInt(s);
    if (b >= r64[0] && b <= r64[1]) return b.toString();
  }
  throw new BadMessage(`${at}: must be an integer from ${r64[0]} to ${r64[1]} (${type}; a JSON number or a decimal string)`);
}


/**
 * The converter of a scalar or enum field's values, chosen once per field at load.
 *
 * @example
 *   scalarFromJson(field)('42', 'request.count', 0) // 42 (an int32)
 */
export function scalarFromJson(f: protobuf.Field): FromJson {
  const rt = f.resolvedType;
  if (rt instanceof protobufJs().Enum) {
    const names = rt.values;
    const list = Object.keys(names).join(', ');
    const name = rt.fullName.slice(1);
    if (name === 'google.protobuf.NullValue') {
      // JSON null is the one value of NullValue.
      return (v, at) => {
        if (v === null || v === 'NULL_VALUE' || v === 0) return 0;
        throw new BadMessage(`${at}: must be null (google.protobuf.NullValue)`);
      };
    }
    return (v, at) => {
      if (typeof v === 'string' && Object.hasOwn(names, v)) return v;
      if (typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647) return v;
      throw new BadMessage(`${at}: must be one of ${list} (enum ${name})`);
    };
  }
  switch (f.type) {
    case 'string':
      return (v, at) => {
        if (typeof v === 'string') return v;
        throw new BadMessage(`${at}: must be a string`);
      };
    case 'bool':
      return (v, at) => {
        if (typeof v === 'boolean') return v;
        throw new BadMessage(`${at}: must be true or false`);
      };
    case 'bytes':
      return (v, at) => {
        if (typeof v === 'string' && BASE64.test(v)) return Buffer.from(v, 'base64');
        throw new BadMessage(`${at}: must be a base64 string`);
      };
    case 'double':
    case 'float':
      return (v, at) => float(v, at);
    default: {
      const type = f.type;
      if (INT32[type] === undefined && INT64[type] === undefined) throw new Error(`unknown scalar type '${type}' of field ${f.fullName}`);
      return (v, at) => integer(type, v, at);
    }
  }
}

/** Checks a JSON object key of a map field against the map's key type. */
export function mapKey(keyType: string, k: string, at: string): void {
  if (keyType === 'string') return;
  if (keyType === 'bool') {
    if (k !== 'true' && k !== 'false') throw new BadMessage(`${at}: map key must be "true" or "false"`);
    return;
  }
  integer(keyType, k, at);
}

/** `true` / `false` from a query parameter or path segment. */
export function parseBool(v: string, at: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new BadMessage(`${at}: must be true or false`);
}
