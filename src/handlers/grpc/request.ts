import { Buffer } from 'node:buffer';
import type * as protobuf from 'protobufjs';
import type { RequestContext } from '../../pipeline/context.js';
import { setFromString } from './codec.js';
import { BadMessage } from './wkt.js';
import type { CompiledMethod } from './proto.js';

/**
 * The request message of a call, as `google.api.http` transcoding builds it: the JSON body
 * (the whole message for `body: "*"`, or one field), then query parameters into the other
 * fields (`?page.size=20&tags=a&tags=b`; not when the body is the whole message), then path
 * params, which win. A google.api.HttpBody body is the raw bytes and the Content-Type. Throws BadMessage (→ 400) for malformed JSON, unknown fields and values
 * that do not fit.
 *
 * @example
 *   buildRequest(ctx, method, Buffer.from('{"name":"Ada"}'))  // { id: '42', name: 'Ada' }
 */
export function buildRequest(ctx: RequestContext, m: CompiledMethod, body: Buffer | undefined, path?: [string, string][]): Record<string, unknown> {
  let raw: Record<string, unknown> = {};
  let wholeBody = false;
  if (m.rawBody) {
    // A google.api.HttpBody takes the bytes as they are (set below, past the JSON codec).
    wholeBody = m.body === '*';
  } else if (body !== undefined && body.length > 0 && m.body !== undefined) {
    const json = parseJson(body);
    if (m.body === '*') {
      if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new BadMessage(`the body must be a JSON object (message ${m.request.fullName.slice(1)})`);
      raw = json as Record<string, unknown>;
      wholeBody = true;
    } else {
      raw[m.body.name] = json;
    }
  }
  if (!wholeBody && ctx.query.length > 1) {
    for (const [k, v] of new URLSearchParams(ctx.query)) setFromString(m.codec, raw, k, v, 'query parameter');
  }
  if (path === undefined) {
    for (const [p, f] of m.params) {
      const v = ctx.params[p];
      if (v !== undefined) setPathValue(m, raw, f.name, v, wholeBody);
    }
  } else {
    for (const [field, v] of path) setPathValue(m, raw, field, v, wholeBody);
  }
  const message = m.codec.fromJson(raw, 'request', 0) as Record<string, unknown>;
  if (m.rawBody) {
    // grpc-gateway's mapping: the request's Content-Type (parameters included) and its bytes.
    const hb = { contentType: ctx.req.headers['content-type'] ?? '', data: body ?? EMPTY };
    if (m.body === '*') Object.assign(message, hb);
    else message[(m.body as protobuf.Field).name] = hb;
  }
  return message;
}

const EMPTY = Buffer.alloc(0);

/** A path value wins over a body field of the same name, in either spelling. */
function setPathValue(m: CompiledMethod, raw: Record<string, unknown>, field: string, v: string, wholeBody: boolean): void {
  if (wholeBody && !field.includes('.')) {
    const f = m.codec.field(field);
    if (f !== undefined) for (const k of Object.keys(raw)) if (k !== f.name && m.codec.field(k) === f) delete raw[k];
  }
  setFromString(m.codec, raw, field, v, 'path param');
}

function parseJson(body: Buffer): unknown {
  try {
    // RFC 8259 §8.1: JSON exchanged between systems is UTF-8.
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new BadMessage(`the body is not valid JSON (${(e as Error).message})`);
  }
}
