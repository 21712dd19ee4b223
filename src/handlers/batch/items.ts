import { Buffer } from 'node:buffer';
import { GatewayError } from '../../errors.js';

/** One sub-request as the client wrote it, checked. */
export interface BatchItem {
  method: string;
  path: string;
  /** Header name (as written) → values. */
  headers: [string, string][];
  body: Buffer | undefined;
  /** Content type implied by `body` (JSON value or string) when the item sets none. */
  bodyType: string | undefined;
}

/** Methods a sub-request may use (no CONNECT tunnels, no TRACE echo). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * Headers a sub-request cannot set: framing and connection fields (the gateway frames the
 * sub-request itself, RFC 9112 §6), Host (sub-requests go to the batch request's host), and
 * forwarding fields (always the batch request's, so a client cannot pose as another address).
 */
export const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect', 'http2-settings',
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded',
]);

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 9110 §5.5: no CR, LF or NUL in a field value. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** An origin-form target (RFC 9112 §3.2.1) of visible ASCII. */
const TARGET = /^\/[\x21-\x7e]*$/;
const ITEM_KEYS = new Set(['method', 'path', 'headers', 'body']);

/**
 * Parses and checks a batch body: a JSON array of at most `max` objects
 * `{ method?, path, headers?, body? }`. Throws GW_ERR_BATCH_INVALID naming the item and
 * field at fault (the whole batch is refused: nothing runs).
 *
 * @example
 *   parseBatch(Buffer.from('[{"path":"/a"}]'), 20); // [{ method: 'GET', path: '/a', headers: [], body: undefined, … }]
 */
export function parseBatch(raw: Buffer, max: number): BatchItem[] {
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalid('The batch body is not valid JSON.');
  }
  if (!Array.isArray(doc)) throw invalid('The batch body must be a JSON array of sub-requests.');
  if (doc.length > max) throw invalid(`A batch holds at most ${max} sub-requests; this one has ${doc.length}.`);
  return doc.map((v, i) => parseItem(v, i));
}

function parseItem(v: unknown, i: number): BatchItem {
  const at = `[${i}]`;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`${at}: a sub-request is an object { method, path, headers, body }.`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!ITEM_KEYS.has(k)) throw invalid(`${at}.${k}: unknown field (a sub-request has method, path, headers, body).`);
  const method = o.method === undefined ? 'GET' : o.method;
  if (typeof method !== 'string' || !METHODS.has(method)) throw invalid(`${at}.method: must be one of ${[...METHODS].join(', ')}.`);
  const path = o.path;
  if (typeof path !== 'string' || !TARGET.test(path)) throw invalid(`${at}.path: must be a path starting with '/' (visible ASCII, query allowed).`);
  const headers: [string, string][] = [];
  let hasType = false;
  if (o.headers !== undefined) {
    if (typeof o.headers !== 'object' || o.headers === null || Array.isArray(o.headers)) throw invalid(`${at}.headers: must be an object of header name → string.`);
    for (const [k, val] of Object.entries(o.headers as Record<string, unknown>)) {
      if (!TOKEN.test(k)) throw invalid(`${at}.headers: '${k}' is not a valid header name.`);
      const lower = k.toLowerCase();
      if (RESERVED_HEADERS.has(lower)) throw invalid(`${at}.headers.${k}: set by the gateway; a sub-request cannot set it.`);
      const values = Array.isArray(val) ? val : [val];
      for (const x of values) {
        if (typeof x !== 'string' || !FIELD_VALUE.test(x)) throw invalid(`${at}.headers.${k}: must be a string (or list of strings) without control characters.`);
        headers.push([k, x]);
      }
      if (lower === 'content-type') hasType = true;
    }
  }
  let body: Buffer | undefined;
  let bodyType: string | undefined;
  if (o.body !== undefined && o.body !== null) {
    if (method === 'GET' || method === 'HEAD') throw invalid(`${at}.body: a ${method} sub-request has no body.`);
    if (typeof o.body === 'string') {
      body = Buffer.from(o.body);
      bodyType = 'text/plain; charset=utf-8';
    } else {
      body = Buffer.from(JSON.stringify(o.body));
      bodyType = 'application/json';
    }
    if (hasType) bodyType = undefined;
  }
  return { method, path, headers, body, bodyType };
}

function invalid(detail: string): GatewayError {
  return new GatewayError('GW_ERR_BATCH_INVALID', detail);
}
