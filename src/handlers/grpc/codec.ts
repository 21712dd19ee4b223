import { Buffer } from 'node:buffer';
import type * as protobuf from 'protobufjs';
import type { IConversionOptions } from 'protobufjs';
import { protobufJs } from './lazy.js';
import { mapKey, parseBool, scalarFromJson, type FromJson } from './json.js';
import * as wkt from './wkt.js';
import { BadMessage, MAX_DEPTH } from './wkt.js';

/**
 * protobufjs `toObject` options: the proto3 JSON mapping of scalars (docs/grpc.md "JSON
 * mapping"): 64-bit integers as decimal strings (JSON numbers lose precision past 2^53), enums
 * by name, bytes as base64, every field present (defaults included), NaN/Infinity as strings.
 * `oneofs` is off: proto3 JSON has no virtual "which field is set" member.
 */
export const CONVERSION: IConversionOptions = { longs: String, enums: String, bytes: String, defaults: true, arrays: true, objects: true, oneofs: false, json: true };

type ToJson = (o: Record<string, unknown>) => unknown;

/** A field of a message, compiled: how its JSON value(s) become what `fromObject` takes. */
interface FieldPlan {
  field: protobuf.Field;
  /** The lowerCamelCase name (protobufjs `keepCase: false`), the key `fromObject` reads. */
  name: string;
  kind: 'single' | 'repeated' | 'map';
  keyType: string;
  /** The field's oneof, when it has other members (at most one may be set). */
  oneof: protobuf.OneOf | undefined;
  /** JSON null is a value, not "unset" (`Value`, `NullValue`). */
  nullIsValue: boolean;
  elem: FromJson;
}

/** Well-known types whose JSON form is not an object of their fields. */
const SPECIAL: Record<string, { from: FromJson; to: ToJson; leaf?: 'string' }> = {
  'google.protobuf.Timestamp': { from: (v, at) => wkt.timestampFromJson(v, at), to: wkt.timestampToJson, leaf: 'string' },
  'google.protobuf.Duration': { from: (v, at) => wkt.durationFromJson(v, at), to: wkt.durationToJson, leaf: 'string' },
  'google.protobuf.FieldMask': { from: (v, at) => wkt.fieldMaskFromJson(v, at), to: wkt.fieldMaskToJson, leaf: 'string' },
  'google.protobuf.Struct': { from: wkt.structFromJson, to: wkt.structToJson },
  'google.protobuf.Value': { from: wkt.valueFromJson, to: wkt.valueToJson },
  'google.protobuf.ListValue': { from: wkt.listFromJson, to: wkt.listToJson },
};
const WRAPPERS = new Set(['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((n) => `google.protobuf.${n}Value`));
const ANY = 'google.protobuf.Any';

const codecs = new WeakMap<protobuf.Type, MessageCodec>();

/**
 * The codec of a message type, compiled once (memoized per type; the types it holds are
 * compiled with it): request JSON → the object protobufjs encodes, strictly checked (400 on
 * anything that does not fit), and the decoded object → response JSON, which rewrites only
 * the fields that hold a well-known type (none: `toJson` is undefined, nothing to do).
 *
 * @example
 *   const c = codecOf(method.resolvedRequestType!);
 *   c.fromJson({ at: '1972-01-01T10:00:20.021Z' }, 'request', 0); // { at: { seconds: '63108020', nanos: 21000000 } }
 */
export function codecOf(type: protobuf.Type): MessageCodec {
  let c = codecs.get(type);
  if (c === undefined) {
    c = new MessageCodec(type);
    codecs.set(type, c);
    c.compile();
  }
  return c;
}

/** A message type's JSON codec; see `codecOf`. */
export class MessageCodec {
  readonly type: protobuf.Type;
  readonly name: string;
  /** The JSON form is not an object of fields (Timestamp, wrappers, Struct, Any, …): Any embeds it as `"value"`. */
  special = false;
  /** Settable from one query parameter / path segment: as a string, or parsed as a bool (BoolValue). */
  leaf: 'string' | 'bool' | undefined;
  fromJson: FromJson = (v, at, depth) => this.#message(v, at, depth);
  toJson: ToJson | undefined;
  readonly #fields = new Map<string, FieldPlan>();
  readonly #anyTypes = new Map<string, MessageCodec>();
  /** The name of Any's field 1: `type_url` in protobufjs's built-in any.proto (pre-parsed, not camel-cased), `typeUrl` when parsed. */
  #typeUrl = 'typeUrl';

  constructor(type: protobuf.Type) {
    this.type = type;
    this.name = type.fullName.slice(1);
  }

  /** The field a JSON key names: the lowerCamelCase name, the proto name or its `json_name`. */
  field(key: string): FieldPlan | undefined {
    return this.#fields.get(key) ?? this.#fields.get(protobufJs().util.camelCase(key));
  }

  /** Builds the field plans and picks the converters (called once, by `codecOf`). */
  compile(): void {
    const special = SPECIAL[this.name];
    if (special !== undefined) {
      this.special = true;
      this.fromJson = special.from;
      this.toJson = special.to;
      this.leaf = special.leaf;
      return;
    }
    for (const f of this.type.fieldsArray) this.#addField(f);
    if (WRAPPERS.has(this.name)) {
      // Wrappers are their bare value; null (unset) is handled by the holder.
      const value = this.#fields.get('value')!;
      this.special = true;
      this.fromJson = (v, at, depth) => ({ value: value.elem(v, at, depth) });
      this.toJson = (o) => o.value;
      this.leaf = value.field.type === 'bool' ? 'bool' : 'string';
      return;
    }
    if (this.name === ANY) {
      this.special = true;
      this.#typeUrl = this.type.fieldsById[1]?.name ?? 'typeUrl';
      this.fromJson = (v, at, depth) => this.#anyFromJson(v, at, depth);
      this.toJson = (o) => this.#anyToJson(o);
      return;
    }
    if (!convertsOnOutput(this.type)) return;
    // Custom json_name options: those keys are renamed (in place of order: the object is rebuilt).
    const renames = new Map<string, string>();
    for (const f of this.type.fieldsArray) if (jsonNameOf(f) !== f.name) renames.set(f.name, jsonNameOf(f));
    const out: { name: string; kind: FieldPlan['kind']; conv: (x: unknown) => unknown }[] = [];
    for (const f of this.type.fieldsArray) {
      const rt = f.resolvedType;
      let conv: ((x: unknown) => unknown) | undefined;
      if (rt instanceof protobufJs().Type && convertsOnOutput(rt)) {
        const nested = codecOf(rt);
        conv = (x) => nested.toJson!(x as Record<string, unknown>);
      } else if (isNullValue(f)) {
        conv = () => null;
      }
      if (conv !== undefined) out.push({ name: f.name, kind: f.map ? 'map' : f.repeated ? 'repeated' : 'single', conv });
    }
    this.toJson = (o) => {
      for (const p of out) {
        const v = o[p.name];
        if (v == null) continue;
        if (p.kind === 'single') {
          o[p.name] = p.conv(v);
        } else if (p.kind === 'repeated') {
          o[p.name] = (v as unknown[]).map(p.conv);
        } else {
          const m = v as Record<string, unknown>;
          for (const k of Object.keys(m)) m[k] = p.conv(m[k]);
        }
      }
      if (renames.size === 0) return o;
      const renamed: Record<string, unknown> = {};
      for (const k of Object.keys(o)) renamed[renames.get(k) ?? k] = o[k];
      return renamed;
    };
  }

  #addField(f: protobuf.Field): void {
    const rt = f.resolvedType;
    let elem: FromJson;
    let nullable = isNullValue(f);
    if (rt instanceof protobufJs().Type) {
      const nested = codecOf(rt);
      elem = (v, at, depth) => nested.fromJson(v, at, depth + 1);
      nullable = rt.fullName === '.google.protobuf.Value';
    } else {
      elem = scalarFromJson(f);
    }
    const kind = f.map ? 'map' : f.repeated ? 'repeated' : 'single';
    const plan: FieldPlan = {
      field: f,
      name: f.name,
      kind,
      keyType: f.map ? (f as unknown as protobuf.MapField).keyType : '',
      oneof: f.partOf !== null && f.partOf.oneof.length > 1 ? f.partOf : undefined,
      nullIsValue: kind === 'single' && nullable,
      elem,
    };
    this.#fields.set(f.name, plan);
    // The proto spelling too (`page_size` for `pageSize`), so most lookups need no conversion.
    const snake = f.name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (snake !== f.name) this.#fields.set(snake, plan);
    const json = jsonNameOf(f);
    if (json !== f.name) this.#fields.set(json, plan);
  }

  /** A JSON object as this message: unknown fields, wrong types and two members of a oneof are errors. */
  #message(value: unknown, at: string, depth: number): Record<string, unknown> {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new BadMessage(`${at}: must be a JSON object (message ${this.name})`);
    if (depth > MAX_DEPTH) throw new BadMessage(`${at}: nested more than ${MAX_DEPTH} levels deep`);
    const out: Record<string, unknown> = {};
    let oneofs: Map<protobuf.OneOf, string> | undefined;
    for (const key of Object.keys(value)) {
      const where = `${at}.${key}`;
      const p = this.field(key);
      if (p === undefined) throw new BadMessage(`${where}: unknown field of message ${this.name}`);
      const v = (value as Record<string, unknown>)[key];
      if (v === null && !p.nullIsValue) continue;
      if (Object.hasOwn(out, p.name)) throw new BadMessage(`${where}: field '${p.name}' is set twice`);
      if (p.oneof !== undefined) {
        oneofs ??= new Map();
        const other = oneofs.get(p.oneof);
        if (other !== undefined) throw new BadMessage(`${where}: '${other}' and '${p.name}' belong to oneof '${p.oneof.name}': set at most one`);
        oneofs.set(p.oneof, p.name);
      }
      out[p.name] = fieldValue(p, v, where, depth);
    }
    return out;
  }

  /** `{"@type": "type.googleapis.com/pkg.Msg", …fields}` (or `"value"` for a special type) → `{typeUrl, value: bytes}`. */
  #anyFromJson(v: unknown, at: string, depth: number): Record<string, unknown> {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadMessage(`${at}: must be a JSON object with "@type" (google.protobuf.Any)`);
    const o = v as Record<string, unknown>;
    const url = o['@type'];
    if (url === undefined && Object.keys(o).length === 0) return {};
    if (typeof url !== 'string') throw new BadMessage(`${at}: must have an "@type" naming the message type, such as "type.googleapis.com/pkg.Message" (google.protobuf.Any)`);
    const inner = this.#anyType(url);
    if (inner === undefined) throw new BadMessage(`${at}.@type: unknown message type '${url}' (not declared in the loaded protos)`);
    let payload: unknown;
    if (inner.special) {
      for (const k of Object.keys(o)) if (k !== '@type' && k !== 'value') throw new BadMessage(`${at}.${k}: unknown field (an Any of ${inner.name} has "@type" and "value")`);
      payload = inner.fromJson(o.value, `${at}.value`, depth + 1);
    } else {
      const rest: Record<string, unknown> = {};
      for (const k of Object.keys(o)) if (k !== '@type') rest[k] = o[k];
      payload = inner.fromJson(rest, at, depth + 1);
    }
    return { [this.#typeUrl]: url, value: inner.type.encode(inner.type.fromObject(payload as Record<string, unknown>)).finish() };
  }

  /**
   * An Any as toObject gives it → `{"@type", …}`; an unknown type is an error. protobufjs's own
   * Any wrapper has already decoded it (`{…fields, "@type"}`) when the field is `type_url`;
   * otherwise it is `{typeUrl, value}` with the value in base64.
   */
  #anyToJson(o: Record<string, unknown>): Record<string, unknown> {
    const decodedUrl = o['@type'];
    const url = typeof decodedUrl === 'string' ? decodedUrl : o[this.#typeUrl];
    if (typeof url !== 'string' || url === '') return {};
    const inner = this.#anyType(url);
    if (inner === undefined) throw new Error(`google.protobuf.Any of unknown type '${url}'`);
    let decoded: Record<string, unknown>;
    if (typeof decodedUrl === 'string') {
      decoded = { ...o };
      delete decoded['@type'];
    } else {
      decoded = inner.type.toObject(inner.type.decode(Buffer.from(String(o.value ?? ''), 'base64')), CONVERSION);
    }
    const json = inner.toJson === undefined ? decoded : inner.toJson(decoded);
    return inner.special ? { '@type': url, value: json } : { '@type': url, ...(json as Record<string, unknown>) };
  }

  /** The codec of the message an Any's type URL names (the part after the last `/`), among the loaded protos. */
  #anyType(url: string): MessageCodec | undefined {
    const hit = this.#anyTypes.get(url);
    if (hit !== undefined) return hit;
    const slash = url.lastIndexOf('/');
    const name = url.slice(slash + 1);
    if (slash < 0 || !/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) return undefined;
    const t = this.type.root.lookup(name);
    if (!(t instanceof protobufJs().Type)) return undefined;
    const c = codecOf(t);
    // Only types the protos declare are cached: the map stays as small as the protos.
    this.#anyTypes.set(url, c);
    return c;
  }
}

function fieldValue(p: FieldPlan, v: unknown, at: string, depth: number): unknown {
  if (p.kind === 'map') {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadMessage(`${at}: must be a JSON object (map)`);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      mapKey(p.keyType, k, `${at}.${k}`);
      out[k] = p.elem((v as Record<string, unknown>)[k], `${at}.${k}`, depth);
    }
    return out;
  }
  if (p.kind === 'repeated') {
    if (!Array.isArray(v)) throw new BadMessage(`${at}: must be a JSON array`);
    return v.map((x, i) => p.elem(x, `${at}[${i}]`, depth));
  }
  return p.elem(v, at, depth);
}

/**
 * The field's proto3 JSON name: its `json_name` option, else the lowerCamelCase name
 * protobufjs gives it (`keepCase: false`).
 *
 * @example
 *   jsonNameOf(field) // 'dn' for `string display_name = 1 [json_name = "dn"];`, else 'displayName'
 */
export function jsonNameOf(f: protobuf.Field): string {
  const custom = (f.options as Record<string, unknown> | undefined)?.json_name;
  return typeof custom === 'string' && custom !== '' ? custom : f.name;
}

/** `google.protobuf.NullValue` is the one enum whose JSON form is null. */
function isNullValue(f: protobuf.Field): boolean {
  return f.resolvedType instanceof protobufJs().Enum && f.resolvedType.fullName === '.google.protobuf.NullValue';
}

/** Whether a message holds (at any depth) a field whose JSON form differs from toObject's: a well-known type or NullValue. */
function convertsOnOutput(type: protobuf.Type): boolean {
  const seen = new Set<protobuf.Type>();
  const visit = (t: protobuf.Type): boolean => {
    if (seen.has(t)) return false;
    seen.add(t);
    const name = t.fullName.slice(1);
    if (SPECIAL[name] !== undefined || WRAPPERS.has(name) || name === ANY) return true;
    for (const f of t.fieldsArray) {
      const rt = f.resolvedType;
      if (jsonNameOf(f) !== f.name || isNullValue(f) || (rt instanceof protobufJs().Type && visit(rt))) return true;
    }
    return false;
  };
  return visit(type);
}

/**
 * Sets a field from a query parameter or path param: `name` may be a dotted path into
 * nested messages (`filter.kind`); a repeated field collects every value. The string is
 * checked later by the codec (so `?count=abc` is a 400 there); booleans are parsed here.
 * Well-known types written as one string (Timestamp, Duration, FieldMask, wrappers) are leaves.
 *
 * @example
 *   setFromString(codecOf(Req), raw, 'page.size', '20', 'query parameter');   // raw.page = { size: '20' }
 */
export function setFromString(codec: MessageCodec, out: Record<string, unknown>, name: string, value: string, at: string): void {
  const segments = name.split('.');
  let c = codec;
  let node = out;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const p = c.field(seg);
    if (p === undefined) throw new BadMessage(`${at} '${name}': no field '${seg}' in message ${c.name}`);
    const rt = p.field.resolvedType;
    const nested = rt instanceof protobufJs().Type ? codecOf(rt) : undefined;
    if (i < segments.length - 1) {
      if (nested === undefined || nested.special || p.kind !== 'single') throw new BadMessage(`${at} '${name}': '${seg}' is not a message field`);
      const next = node[p.name];
      node = (next !== null && typeof next === 'object' && !Array.isArray(next) ? next : (node[p.name] = {})) as Record<string, unknown>;
      c = nested;
      continue;
    }
    const leaf = nested === undefined ? (p.field.type === 'bool' ? 'bool' : 'string') : nested.leaf;
    if (leaf === undefined || p.kind === 'map') throw new BadMessage(`${at} '${name}': '${seg}' is a message or map field; set its fields (${seg}.<field>)`);
    const v = leaf === 'bool' ? parseBool(value, `${at} '${name}'`) : value;
    if (p.kind === 'repeated') {
      const list = node[p.name];
      if (Array.isArray(list)) list.push(v);
      else node[p.name] = [v];
    } else {
      node[p.name] = v;
    }
  }
}
