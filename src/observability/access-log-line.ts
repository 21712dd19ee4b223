import type { RequestContext } from '../pipeline/context.js';
import type { AccessLogField } from '../config/ops-schema.js';
import { isoTimeCached } from './logger.js';

/** What a line needs from the writer besides the request (the logged header map, the redacted query). */
export interface LineSource {
  headersOf(ctx: RequestContext): Record<string, string> | undefined;
  queryOf(ctx: RequestContext): string | undefined;
}

/** Builds the whole access-log line of a finished request, newline included. */
export type LineBuilder = (ctx: RequestContext, bytesIn: number, w: LineSource) => string;

const round = (ms: number) => Math.round(ms * 100) / 100;
/** A JSON number (JSON has no NaN or Infinity: those become null). */
export const num = (n: number) => (Number.isFinite(n) ? String(n) : 'null');

/** `''`, `'.01'` … `'.1'` … `'.99'`: the fraction of a duration in hundredths, as JavaScript prints it. */
const HUNDREDTHS = Array.from({ length: 100 }, (_, i) => (i === 0 ? '' : String(i / 100).slice(1)));

/**
 * A duration in ms rounded to 0.01, as `String(round(ms))` prints it. Integer parts and a
 * table lookup instead of printing a double (V8's shortest-double algorithm), which
 * measured as much as the rest of the field.
 */
export function millis(ms: number): string {
  if (!(ms >= 0 && ms < 1e9)) return num(round(ms));
  const hundredths = Math.round(ms * 100);
  return `${Math.floor(hundredths / 100)}${HUNDREDTHS[hundredths % 100]!}`;
}

/** A character JSON must escape, or anything outside printable ASCII. */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\u007f-\uffff]/;

/**
 * A JSON string literal. Values from the request (path, id, client address) are almost
 * always printable ASCII without quotes or backslashes: a regular expression checks that
 * (about half the instructions of `JSON.stringify`, and a `charCodeAt` loop is several
 * times worse on a concatenated string), and only the rest goes through `json`.
 */
export function str(s: string): string {
  return NEEDS_ESCAPE.test(s) ? json(s) : `"${s}"`;
}

const NON_ASCII = /[\u007f-\uffff]/g;
const escapeChar = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * JSON text in ASCII only: what `JSON.stringify` leaves as is above U+007E becomes a
 * `\uXXXX` escape (RFC 8259 §7; a pair of surrogates becomes a pair of escapes), which every
 * JSON reader decodes to the same string. Access-log lines are therefore always ASCII, and
 * the destination encodes them without a UTF-8 pass (BatchedDestination.writeAscii).
 */
export function json(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replace(NON_ASCII, escapeChar);
}

/** JSON literals of values drawn from a small set (methods, route, listener and target names). */
const quotedCache = new Map<string, string>();

/** `str(s)`, remembered: a map lookup costs less than the escape check. */
export function quoted(s: string): string {
  let q = quotedCache.get(s);
  if (q === undefined) {
    q = str(s);
    if (quotedCache.size >= 4096) quotedCache.clear();
    quotedCache.set(s, q);
  }
  return q;
}

/**
 * How each field is read. `text`: a string from the request, escaped when it needs it;
 * `json`: an expression that is already JSON text. Optional fields read their value into
 * `t` (`get`) and are left out unless `has` holds. Expressions see `c` (the request), `b`
 * (bytes in), `w` (the writer) and the helpers `H`; nothing from the config is ever part of
 * the generated source.
 */
const FIELDS: Record<AccessLogField, { text?: string; json?: string; get?: string; has?: string }> = {
  requestId: { text: 'c.id' },
  method: { json: 'H.quoted(c.method)' },
  path: { text: 'c.path' },
  query: { get: 'w.queryOf(c)', has: 't !== undefined', text: 't' },
  route: { json: "(c.route === undefined ? 'null' : H.quoted(c.route.name))" },
  status: { json: 'H.num(c.status)' },
  target: { json: "(c.target ? H.quoted(c.target) : 'null')" },
  upstreamMs: { json: "(c.upstreamMs < 0 ? 'null' : H.millis(c.upstreamMs))" },
  totalMs: { json: 'H.millis(c.elapsed())' },
  bytesIn: { json: 'H.num(b)' },
  bytesOut: { json: 'H.num(c.bytesOut)' },
  clientIp: { text: 'c.clientIp' },
  listener: { json: 'H.quoted(c.listener.name)' },
  consumer: { get: 'c.consumer', has: 't', text: 't.id' },
  tenant: { get: 'c.tenant ?? c.consumer?.tenant', has: 't', text: 't' },
  apiVersion: { get: 'c.route?.apiVersion', has: 't !== undefined', json: 'H.json(t)' },
  error: { get: 'c.errorCode', has: 't', text: 't' },
  traceId: { get: 'c.trace?.traceId', has: 't', text: 't' },
  userAgent: { get: "c.header('user-agent')", has: 't !== undefined', text: 't' },
  headers: { get: 'w.headersOf(c)', has: 't !== undefined', json: 'H.json(t)' },
  // `1.0`, `1.1` or `2.0` (h2/h2c listeners): the version node read off the connection.
  httpVersion: { json: 'H.quoted(c.req.httpVersion)' },
};

const HELPERS = { quoted, num, millis, str, json, time: isoTimeCached, escape: NEEDS_ESCAPE };

/**
 * Compiles the field list into one function building the line in a single concatenation.
 *
 * Written by hand rather than with a JSON serialiser library: those take an object, which
 * would be built per request only to be walked again. The fields are fixed at load, so the
 * line's constant text (`,"status":`, the quotes around a value, the next key) is merged
 * into as few pieces as possible: each `+` makes a V8 string node that is walked again when
 * the chunk of lines is encoded, and per-field writer functions measured ~2k instructions
 * per line more. Always-present request strings (id, path, client address) are checked for
 * characters needing escapes first; the common line then carries them between constant
 * quotes, and the rare one goes through `JSON.stringify`.
 *
 * @example
 *   const line = compileLine(['requestId', 'status'], ',"service":"gantry","msg":"request"');
 *   line(ctx, 0, writer); // '{"level":"info","time":"…","service":"gantry","msg":"request","requestId":"…","status":200}\n'
 */
export function compileLine(fields: readonly AccessLogField[], bindings: string): LineBuilder {
  const checked = fields.filter((f) => FIELDS[f].text !== undefined && FIELDS[f].get === undefined).map((f) => FIELDS[f].text!);
  const body = (fast: boolean) => {
    const parts: string[] = [`'{"level":"info"'`, 'H.time()', 'B'];
    let pending = '';
    const constant = (s: string) => (pending += s);
    const expr = (e: string) => {
      if (pending !== '') parts.push(JSON.stringify(pending));
      pending = '';
      parts.push(e);
    };
    for (const f of fields) {
      const { text, json, get, has } = FIELDS[f];
      const key = `,${JSON.stringify(f)}:`;
      if (get !== undefined) {
        expr(`((t = ${get}), ${has} ? ${JSON.stringify(key)} + ${text !== undefined ? `H.str(${text})` : json!} : '')`);
      } else if (text !== undefined && fast) {
        constant(`${key}"`);
        expr(text);
        constant('"');
      } else {
        constant(key);
        expr(text !== undefined ? `H.str(${text})` : json!);
      }
    }
    const tail = pending;
    pending = '';
    expr(`(c.aborted ? ${JSON.stringify(`${tail},"aborted":true}\n`)} : ${JSON.stringify(`${tail}}\n`)})`);
    return `return ${parts.join(' + ')};`;
  };
  const guard = checked.length === 0 ? 'false' : checked.map((t) => `H.escape.test(${t})`).join(' || ');
  // The source is built from the table above only (field names are schema-checked enum values).
  const source = `return function accessLogLine(c, b, w) { let t; if (${guard}) { ${body(false)} } ${body(true)} };`;
  return new Function('H', 'B', source)(HELPERS, bindings.replace(NON_ASCII, escapeChar)) as LineBuilder;
}
