/**
 * The JSON forms of the protobuf well-known types (https://protobuf.dev/programming-guides/json/,
 * "JSON mapping" table), both ways, between proto3 JSON and the plain objects protobufjs
 * `fromObject` takes and `toObject` gives (`longs: String`, `enums: String`). Hand-written:
 * protobufjs has no JSON forms for these types (only `Any`, and that one breaks with
 * `keepCase: false`). Request-side functions throw BadMessage (→ 400) naming the place;
 * response-side functions throw a plain Error (the call ends as a parse failure).
 */

/** A request that does not fit the message: answered 400 with this message. */
export class BadMessage extends Error {}

/** Deepest nesting of messages / Struct values accepted in a request (protobuf's default recursion limit). */
export const MAX_DEPTH = 100;

/** Timestamp range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z. */
const TS_MIN = -62135596800;
const TS_MAX = 253402300799;
/** Duration range: ±10,000 years in seconds. */
const DUR_MAX = 315576000000;

/** RFC 3339 §5.6 date-time (T/Z in either case; a time offset or Z). */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const DURATION = /^(-)?(\d{1,12})(?:\.(\d{1,9}))?s$/;
const CAMEL_SEGMENT = /^[A-Za-z][A-Za-z0-9]*$/;
const SNAKE_SEGMENT = /^[a-z][a-z0-9]*(_[a-z][a-z0-9]*)*$/;

/** Seconds + nanos, as fromObject takes them (seconds as a decimal string: it is an int64). */
export interface SecondsNanos {
  seconds: string;
  nanos: number;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** `"123"` + 9-digit padding of a fraction's digits → nanoseconds. */
const nanosOf = (frac: string | undefined): number => (frac === undefined ? 0 : Number(frac.padEnd(9, '0')));

/** `.123`, `.123456`, `.123456789` or nothing: the shortest of 0/3/6/9 digits that is exact. */
function fraction(nanos: number): string {
  if (nanos === 0) return '';
  if (nanos % 1_000_000 === 0) return `.${String(nanos / 1_000_000).padStart(3, '0')}`;
  if (nanos % 1_000 === 0) return `.${String(nanos / 1_000).padStart(6, '0')}`;
  return `.${String(nanos).padStart(9, '0')}`;
}

/**
 * `google.protobuf.Timestamp` from an RFC 3339 string with any offset.
 *
 * @example
 *   timestampFromJson('1972-01-01T11:00:20.021+01:00', 'request.at') // { seconds: '63108020', nanos: 21000000 }
 */
export function timestampFromJson(v: unknown, at: string): SecondsNanos {
  const m = typeof v === 'string' ? RFC3339.exec(v) : null;
  if (m === null) throw new BadMessage(`${at}: must be an RFC 3339 timestamp string such as "1972-01-01T10:00:20.021Z" (google.protobuf.Timestamp)`);
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) throw new BadMessage(`${at}: '${String(v)}' is not a valid date and time (google.protobuf.Timestamp)`);
  let seconds = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) throw new BadMessage(`${at}: '${String(v)}' has an invalid offset (google.protobuf.Timestamp)`);
    seconds -= (m[8] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  if (seconds < TS_MIN || seconds > TS_MAX) throw new BadMessage(`${at}: '${String(v)}' is out of range (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z; google.protobuf.Timestamp)`);
  return { seconds: String(seconds), nanos: nanosOf(m[7]) };
}

/**
 * A Timestamp as RFC 3339 in UTC (`Z`), with 0, 3, 6 or 9 fractional digits.
 *
 * @example
 *   timestampToJson({ seconds: '63108020', nanos: 21000000 }) // '1972-01-01T10:00:20.021Z'
 */
export function timestampToJson(o: Record<string, unknown>): string {
  const seconds = Number(o.seconds);
  const nanos = Number(o.nanos);
  if (!Number.isInteger(seconds) || seconds < TS_MIN || seconds > TS_MAX) throw new Error(`google.protobuf.Timestamp seconds ${String(o.seconds)} out of range`);
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) throw new Error(`google.protobuf.Timestamp nanos ${String(o.nanos)} out of range`);
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}${fraction(nanos)}Z`;
}

/**
 * `google.protobuf.Duration` from `"1.5s"` / `"-0.000000001s"`.
 *
 * @example
 *   durationFromJson('-1.5s', 'request.ttl') // { seconds: '-1', nanos: -500000000 }
 */
export function durationFromJson(v: unknown, at: string): SecondsNanos {
  const m = typeof v === 'string' ? DURATION.exec(v) : null;
  if (m === null) throw new BadMessage(`${at}: must be a duration string of seconds such as "1.5s" (google.protobuf.Duration)`);
  const seconds = Number(m[2]);
  if (seconds > DUR_MAX) throw new BadMessage(`${at}: '${String(v)}' is out of range (at most ±${DUR_MAX}s; google.protobuf.Duration)`);
  const nanos = nanosOf(m[3]);
  const sign = m[1] === '-' ? -1 : 1;
  return { seconds: String(sign * seconds || 0), nanos: sign * nanos || 0 };
}

/**
 * A Duration as `"<seconds>[.<0/3/6/9 digits>]s"`.
 *
 * @example
 *   durationToJson({ seconds: '-1', nanos: -500000000 }) // '-1.500s'
 */
export function durationToJson(o: Record<string, unknown>): string {
  const seconds = Number(o.seconds);
  const nanos = Number(o.nanos);
  if (!Number.isInteger(seconds) || Math.abs(seconds) > DUR_MAX) throw new Error(`google.protobuf.Duration seconds ${String(o.seconds)} out of range`);
  if (!Number.isInteger(nanos) || Math.abs(nanos) > 999_999_999 || (seconds < 0 && nanos > 0) || (seconds > 0 && nanos < 0)) {
    throw new Error(`google.protobuf.Duration nanos ${String(o.nanos)} out of range or of the wrong sign`);
  }
  return `${seconds < 0 || nanos < 0 ? '-' : ''}${Math.abs(seconds)}${fraction(Math.abs(nanos))}s`;
}

/**
 * `google.protobuf.FieldMask` from `"user.displayName,role"`: paths written in
 * lowerCamelCase, sent as the proto field names.
 *
 * @example
 *   fieldMaskFromJson('user.displayName,role', 'request.mask') // { paths: ['user.display_name', 'role'] }
 */
export function fieldMaskFromJson(v: unknown, at: string): { paths: string[] } {
  if (typeof v !== 'string') throw new BadMessage(`${at}: must be a string of comma-separated field paths such as "user.displayName,role" (google.protobuf.FieldMask)`);
  if (v === '') return { paths: [] };
  const paths = v.split(',').map((p) => {
    const segments = p.split('.');
    if (!segments.every((s) => CAMEL_SEGMENT.test(s))) throw new BadMessage(`${at}: '${p}' is not a field path of lowerCamelCase names (google.protobuf.FieldMask)`);
    return segments.map((s) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)).join('.');
  });
  return { paths };
}

/** A FieldMask as `"a.bC,d"`; a path that cannot round-trip through lowerCamelCase is an error. */
export function fieldMaskToJson(o: Record<string, unknown>): string {
  const paths = (o.paths ?? []) as string[];
  return paths
    .map((p) => {
      const segments = p.split('.');
      if (!segments.every((s) => SNAKE_SEGMENT.test(s))) throw new Error(`google.protobuf.FieldMask path '${p}' has no lowerCamelCase JSON form`);
      return segments.map((s) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())).join('.');
    })
    .join(',');
}

/**
 * `google.protobuf.Value` from any JSON value (null → `null_value`).
 *
 * @example
 *   valueFromJson({ a: [1, null] }, 'request.meta', 0)
 *   // { structValue: { fields: { a: { listValue: { values: [{ numberValue: 1 }, { nullValue: 0 }] } } } } }
 */
export function valueFromJson(v: unknown, at: string, depth: number): Record<string, unknown> {
  if (v === null) return { nullValue: 0 };
  switch (typeof v) {
    case 'number':
      return { numberValue: v };
    case 'string':
      return { stringValue: v };
    case 'boolean':
      return { boolValue: v };
    default:
      if (Array.isArray(v)) return { listValue: listFromJson(v, at, depth + 1) };
      return { structValue: structFromJson(v, at, depth + 1) };
  }
}

/** `google.protobuf.Struct` from a JSON object. */
export function structFromJson(v: unknown, at: string, depth: number): { fields: Record<string, unknown> } {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadMessage(`${at}: must be a JSON object (google.protobuf.Struct)`);
  if (depth > MAX_DEPTH) throw new BadMessage(`${at}: nested more than ${MAX_DEPTH} levels deep`);
  const fields: Record<string, unknown> = {};
  for (const k of Object.keys(v)) fields[k] = valueFromJson((v as Record<string, unknown>)[k], `${at}.${k}`, depth);
  return { fields };
}

/** `google.protobuf.ListValue` from a JSON array. */
export function listFromJson(v: unknown, at: string, depth: number): { values: unknown[] } {
  if (!Array.isArray(v)) throw new BadMessage(`${at}: must be a JSON array (google.protobuf.ListValue)`);
  if (depth > MAX_DEPTH) throw new BadMessage(`${at}: nested more than ${MAX_DEPTH} levels deep`);
  return { values: v.map((x, i) => valueFromJson(x, `${at}[${i}]`, depth)) };
}

/** A Value as the JSON value it holds; NaN/Infinity and a Value with no kind set are errors (no JSON form). */
export function valueToJson(o: Record<string, unknown>): unknown {
  if (o.nullValue != null) return null;
  if (o.numberValue != null) {
    if (typeof o.numberValue !== 'number') throw new Error(`google.protobuf.Value number ${String(o.numberValue)} has no JSON form`);
    return o.numberValue;
  }
  if (o.stringValue != null) return o.stringValue;
  if (o.boolValue != null) return o.boolValue;
  if (o.structValue != null) return structToJson(o.structValue as Record<string, unknown>);
  if (o.listValue != null) return listToJson(o.listValue as Record<string, unknown>);
  throw new Error('google.protobuf.Value has no kind set');
}

/** A Struct as a JSON object. */
export function structToJson(o: Record<string, unknown>): Record<string, unknown> {
  const fields = (o.fields ?? {}) as Record<string, Record<string, unknown>>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(fields)) out[k] = valueToJson(fields[k]!);
  return out;
}

/** A ListValue as a JSON array. */
export function listToJson(o: Record<string, unknown>): unknown[] {
  return ((o.values ?? []) as Record<string, unknown>[]).map(valueToJson);
}
