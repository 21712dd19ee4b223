import { Buffer } from 'node:buffer';
import type * as protobuf from 'protobufjs';
import { protobufJs } from './lazy.js';
import { fieldOf } from './proto.js';

/**
 * The request side of the proto3 JSON mapping (https://protobuf.dev/programming-guides/json/):
 * a JSON value checked against the request message and turned into the plain object
 * protobufjs `fromObject` encodes. Hand-written because `fromObject` is lenient by design: it
 * drops unknown fields and coerces mistyped values (`"abc"` → 0), while a gateway must answer
 * 400 for them. Accepts both the proto and the lowerCamelCase field names, `null` as "unset",
 * 64-bit integers as numbers or decimal strings, enums by name or number, bytes as standard
 * or URL-safe base64.
 */

/** A request that does not fit the message: answered 400 with this message. */
export class BadMessage extends Error {}

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

/**
 * A JSON object as the message `type`, validated. `at` names the place in errors.
 *
 * @example
 *   messageFromJson(User, { display_name: 'Ada', balance: '9007199254740993' }, 'body')
 *   // → { displayName: 'Ada', balance: '9007199254740993' }
 */
export function messageFromJson(type: protobuf.Type, value: unknown, at: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadMessage(`${at}: must be a JSON object (message ${type.fullName.slice(1)})`);
  const out: Record<string, unknown> = {};
  let oneofs: Map<protobuf.OneOf, string> | undefined;
  for (const key of Object.keys(value)) {
    const where = `${at}.${key}`;
    const f = fieldOf(type, key);
    if (f === undefined) throw new BadMessage(`${where}: unknown field of message ${type.fullName.slice(1)}`);
    const v = (value as Record<string, unknown>)[key];
    if (v === null && !isNullValue(f)) continue;
    if (Object.hasOwn(out, f.name)) throw new BadMessage(`${where}: field '${f.name}' is set twice`);
    const oneof = f.partOf;
    if (oneof !== null && oneof.oneof.length > 1) {
      oneofs ??= new Map();
      const other = oneofs.get(oneof);
      if (other !== undefined) throw new BadMessage(`${where}: '${other}' and '${f.name}' belong to oneof '${oneof.name}': set at most one`);
      oneofs.set(oneof, f.name);
    }
    out[f.name] = fieldValue(f, v, where);
  }
  return out;
}

/** `google.protobuf.NullValue` is the one field where JSON null is a value. */
function isNullValue(f: protobuf.Field): boolean {
  return f.resolvedType instanceof protobufJs().Enum && f.resolvedType.fullName === '.google.protobuf.NullValue';
}

function fieldValue(f: protobuf.Field, v: unknown, at: string): unknown {
  if (f.map) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadMessage(`${at}: must be a JSON object (map)`);
    const out: Record<string, unknown> = {};
    const keyType = (f as unknown as protobuf.MapField).keyType;
    for (const k of Object.keys(v)) {
      mapKey(keyType, k, `${at}.${k}`);
      out[k] = single(f, (v as Record<string, unknown>)[k], `${at}.${k}`);
    }
    return out;
  }
  if (f.repeated) {
    if (!Array.isArray(v)) throw new BadMessage(`${at}: must be a JSON array`);
    return v.map((x, i) => single(f, x, `${at}[${i}]`));
  }
  return single(f, v, at);
}

function mapKey(keyType: string, k: string, at: string): void {
  if (keyType === 'string') return;
  if (keyType === 'bool') {
    if (k !== 'true' && k !== 'false') throw new BadMessage(`${at}: map key must be "true" or "false"`);
    return;
  }
  integer(keyType, k, at);
}

/** One value of field `f` (an element, for repeated and map fields). */
function single(f: protobuf.Field, v: unknown, at: string): unknown {
  const rt = f.resolvedType;
  if (rt instanceof protobufJs().Type) return messageFromJson(rt, v, at);
  if (rt instanceof protobufJs().Enum) {
    if (typeof v === 'string' && Object.hasOwn(rt.values, v)) return v;
    if (typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647) return v;
    throw new BadMessage(`${at}: must be one of ${Object.keys(rt.values).join(', ')} (enum ${rt.fullName.slice(1)})`);
  }
  switch (f.type) {
    case 'string':
      if (typeof v === 'string') return v;
      throw new BadMessage(`${at}: must be a string`);
    case 'bool':
      if (typeof v === 'boolean') return v;
      throw new BadMessage(`${at}: must be true or false`);
    case 'bytes':
      if (typeof v === 'string' && BASE64.test(v)) return Buffer.from(v, 'base64');
      throw new BadMessage(`${at}: must be a base64 string`);
    case 'double':
    case 'float':
      return float(v, at);
    default:
      return integer(f.type, v, at);
  }
}

function float(v: unknown, at: string): number {
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
function integer(type: string, v: unknown, at: string): number | string {
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
 * Sets a field from a query parameter or path param: `name` may be a dotted path into
 * nested messages (`filter.kind`); a repeated field collects every value. Strings are
 * checked later by `messageFromJson`; booleans are parsed here (`true`/`false`).
 *
 * @example
 *   setFromString(Req, raw, 'page.size', '20', 'query');   // raw.page = { size: '20' }
 */
export function setFromString(type: protobuf.Type, out: Record<string, unknown>, name: string, value: string, at: string): void {
  const segments = name.split('.');
  let t = type;
  let node = out;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const f = fieldOf(t, seg);
    if (f === undefined) throw new BadMessage(`${at} '${name}': no field '${seg}' in message ${t.fullName.slice(1)}`);
    const rt = f.resolvedType;
    if (i < segments.length - 1) {
      if (!(rt instanceof protobufJs().Type) || f.repeated || f.map) throw new BadMessage(`${at} '${name}': '${seg}' is not a message field`);
      const next = node[f.name];
      node = (next !== null && typeof next === 'object' && !Array.isArray(next) ? next : (node[f.name] = {})) as Record<string, unknown>;
      t = rt;
      continue;
    }
    if (rt instanceof protobufJs().Type || f.map) throw new BadMessage(`${at} '${name}': '${seg}' is a message or map field; set its fields (${seg}.<field>)`);
    const v = f.type === 'bool' && !(rt instanceof protobufJs().Enum) ? parseBool(value, `${at} '${name}'`) : value;
    if (f.repeated) {
      const list = node[f.name];
      if (Array.isArray(list)) list.push(v);
      else node[f.name] = [v];
    } else {
      node[f.name] = v;
    }
  }
}

function parseBool(v: string, at: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new BadMessage(`${at}: must be true or false`);
}
