import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderList } from '../../http/headers.js';
import type { Reply } from '../../pipeline/policy.js';
import { ageOf, ttlOf, type CachedResponse } from './entry.js';

/**
 * Whether the client's own validators match a response, so it gets 304 (RFC 9110 §13.1.2,
 * §13.1.3): If-None-Match by weak comparison; If-Modified-Since only without it.
 */
export function notModified(h: IncomingHttpHeaders, etag: string | undefined, lastModified: string | undefined): boolean {
  const inm = h['if-none-match'];
  if (inm !== undefined) {
    if (etag === undefined) return false;
    if (inm.trim() === '*') return true;
    const mine = weak(etag);
    for (const t of inm.split(',')) if (weak(t.trim()) === mine) return true;
    return false;
  }
  const ims = h['if-modified-since'];
  if (ims === undefined || lastModified === undefined) return false;
  const since = Date.parse(ims);
  const lm = Date.parse(lastModified);
  return Number.isFinite(since) && Number.isFinite(lm) && lm <= since;
}

function weak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** Whether the request carries validators of its own. */
export function hasConditional(h: IncomingHttpHeaders): boolean {
  return h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined;
}

/**
 * Headers a 304 carries (RFC 9110 §15.4.5): those that a 200 would have sent and that
 * describe caching or the selected representation.
 */
const KEEP_ON_304 = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified']);

export function headersFor304(list: HeaderList): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i < list.length; i += 2) if (KEEP_ON_304.has(list[i]!.toLowerCase())) out.push(list[i]!, list[i + 1]!);
  return out;
}

/**
 * The reply for a hit: the stored head plus `Age` (RFC 9111 §5.1) and `Cache-Status`
 * (RFC 9211), or a 304 when the client's validators match.
 */
export function hitReply(h: IncomingHttpHeaders, e: CachedResponse, now: number, status: string): Reply {
  const conditional = h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined;
  if (conditional && notModified(h, e.etag, e.lastModified)) {
    const headers = headersFor304(e.headers);
    headers.push('age', String(ageOf(e, now)), 'cache-status', status + '; ttl=' + ttlOf(e, now));
    return { status: 304, headers };
  }
  const headers = e.headers.slice();
  headers.push('age', String(ageOf(e, now)), 'cache-status', status + '; ttl=' + ttlOf(e, now));
  return { status: e.status, headers, body: e.body };
}
