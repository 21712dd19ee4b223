import { Buffer } from 'node:buffer';
import type CachePolicy from 'http-cache-semantics';
import { removeHeader, type HeaderList } from '../../http/headers.js';
import { ClockedPolicy, parseCacheControl, sizeOf, toHeaderObject, type CachedResponse, type HeaderObject } from './entry.js';
import type { CacheConfig } from './schema.js';

/** Settings of `admit`, compiled once per policy. */
export interface AdmitOptions {
  statuses: ReadonlySet<number>;
  /** Default freshness (s) for responses without explicit expiration, or undefined. */
  ttl: number | undefined;
  swr: number;
  sie: number;
  maxEntrySize: number;
  tagHeader: string;
  exposeTags: boolean;
}

export function admitOptions(c: CacheConfig): AdmitOptions {
  return {
    statuses: new Set(c.statuses),
    ttl: c.ttl === undefined ? undefined : c.ttl / 1000,
    swr: c.staleWhileRevalidate / 1000,
    sie: c.staleIfError / 1000,
    maxEntrySize: c.maxEntrySize,
    tagHeader: c.tagHeader.toLowerCase(),
    exposeTags: c.exposeTags,
  };
}

/** A response that may be stored, decided from its head; the body completes it. */
export interface Draft {
  status: number;
  headers: HeaderList;
  policy: CachePolicy;
  vary: string[] | null;
  tags: string[];
  /** Declared body length, or -1. */
  length: number;
  /** Clock ms when the head arrived. */
  at: number;
  /** `Age` (s) the response arrived with. */
  age: number;
  mustRevalidate: boolean;
  swr: number;
  sie: number;
}

/**
 * How long (ms) a store keeps an entry after it stops being usable without contact with
 * the upstream: with validators it can still be revalidated (a 304 instead of a body);
 * without, only clients sending `max-stale` can use it.
 */
export const RETAIN_WITH_VALIDATORS = 3_600_000;
export const RETAIN_STALE = 300_000;

/**
 * Decides from the response head whether a response may be stored (RFC 9111 §3, via
 * http-cache-semantics, as a shared cache) and prepares it. Returns null when it may not.
 * Set-Cookie responses are never stored: serving one user's cookie to another is worse
 * than any miss. Neither are event streams, nor partial content.
 */
export function draftFrom(
  opts: AdmitOptions,
  req: CachePolicy.Request,
  status: number,
  upstream: HeaderList,
  now: number,
): Draft | null {
  if (!opts.statuses.has(status)) return null;
  const obj = toHeaderObject(upstream);
  if (obj['set-cookie'] !== undefined || obj['content-range'] !== undefined) return null;
  // An event stream is open-ended: storing it would hold coalesced requests until it ends.
  if (obj['content-type']?.toLowerCase().startsWith('text/event-stream')) return null;
  const length = obj['content-length'] === undefined ? -1 : Number(obj['content-length']);
  if (length > opts.maxEntrySize) return null;
  const cc = parseCacheControl(obj['cache-control']);
  const view = policyView(opts, obj, cc);
  const policy = new ClockedPolicy(req, { status, headers: view }, { shared: true });
  if (!policy.storable()) return null;
  const vary = obj.vary === undefined ? null : obj.vary.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (vary?.includes('*')) return null;
  const hasValidator = obj.etag !== undefined || obj['last-modified'] !== undefined;
  if (policy.timeToLive() <= 0 && !hasValidator) return null;
  // Names lower-cased once here, so each hit's header checks compare without converting.
  const headers: HeaderList = new Array<string>(upstream.length);
  for (let i = 0; i < upstream.length; i += 2) {
    headers[i] = upstream[i]!.toLowerCase();
    headers[i + 1] = upstream[i + 1]!;
  }
  removeHeader(headers, 'age');
  removeHeader(headers, 'content-length');
  const rawTags = obj[opts.tagHeader];
  if (!opts.exposeTags) removeHeader(headers, opts.tagHeader);
  const mustRevalidate = cc.has('must-revalidate') || cc.has('proxy-revalidate') || cc.has('no-cache');
  return {
    status,
    headers,
    policy,
    vary: vary && vary.length > 0 ? vary : null,
    tags: rawTags ? rawTags.split(/[\s,]+/).filter(Boolean) : [],
    length,
    at: now,
    age: num(obj.age) ?? 0,
    mustRevalidate,
    swr: num(cc.get('stale-while-revalidate')) ?? opts.swr,
    sie: num(cc.get('stale-if-error')) ?? opts.sie,
  };
}

/**
 * The headers http-cache-semantics judges: the response's own, with the policy's defaults
 * filled in where the response is silent (`ttl` as s-maxage, stale-* extensions).
 */
function policyView(opts: AdmitOptions, obj: HeaderObject, cc: Map<string, string | true>): HeaderObject {
  const extra: string[] = [];
  const explicit = cc.has('max-age') || cc.has('s-maxage') || obj.expires !== undefined;
  if (!explicit && opts.ttl !== undefined) extra.push(`s-maxage=${opts.ttl}`);
  if (!cc.has('stale-while-revalidate') && opts.swr > 0) extra.push(`stale-while-revalidate=${opts.swr}`);
  if (!cc.has('stale-if-error') && opts.sie > 0) extra.push(`stale-if-error=${opts.sie}`);
  if (extra.length === 0) return obj;
  const current = obj['cache-control'];
  return { ...obj, 'cache-control': current ? `${current}, ${extra.join(', ')}` : extra.join(', ') };
}

function num(v: string | true | undefined): number | undefined {
  if (typeof v !== 'string') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Completes a draft with its body into a stored entry. */
export function complete(d: Draft, key: string, body: Buffer): CachedResponse {
  const headers = d.headers;
  headers.push('content-length', String(body.length));
  return entryOf(d.status, headers, body, d.policy, d.vary, d.tags, d.at, d.age, d.mustRevalidate, d.swr, d.sie, key);
}

/** Builds an entry; freshness windows are precomputed so a hit compares one number. */
export function entryOf(
  status: number,
  headers: HeaderList,
  body: Buffer,
  policy: CachePolicy,
  vary: readonly string[] | null,
  tags: readonly string[],
  storedAt: number,
  ageAtStore: number,
  mustRevalidate: boolean,
  swr: number,
  sie: number,
  key: string,
): CachedResponse {
  const obj = toHeaderObject(headers);
  const freshUntil = storedAt + (policy.maxAge() - ageAtStore) * 1000;
  // RFC 9111 §5.2.2.2: must-revalidate (and no-cache) forbid serving stale, even on error.
  const swrUntil = mustRevalidate ? freshUntil : freshUntil + swr * 1000;
  const sieUntil = mustRevalidate ? freshUntil : freshUntil + sie * 1000;
  return {
    kind: 'response',
    status,
    headers,
    body,
    policy,
    vary,
    tags,
    etag: obj.etag,
    lastModified: obj['last-modified'],
    storedAt,
    ageAtStore,
    freshUntil,
    swrUntil,
    sieUntil,
    size: sizeOf(key, headers, body),
  };
}

/** How long (ms from now) a store should keep an entry. */
export function retention(e: CachedResponse, now: number): number {
  const usable = Math.max(e.freshUntil, e.swrUntil, e.sieUntil) - now;
  const validators = e.etag !== undefined || e.lastModified !== undefined;
  return Math.max(0, usable) + (validators ? RETAIN_WITH_VALIDATORS : RETAIN_STALE);
}

/** Fields of a 304 that describe the 304 message itself, not the stored representation. */
const NOT_UPDATED = new Set(['content-length', 'age', 'transfer-encoding', 'content-encoding']);

/**
 * Applies a 304 to a stored entry (RFC 9111 §4.3.4): the stored headers are updated with
 * those of the 304 and the body is kept. Returns null when the 304 does not select the
 * entry; `entry` is null when the updated response may no longer be stored (it may still
 * be served to the request that revalidated it).
 */
export function refresh(
  opts: AdmitOptions,
  e: CachedResponse,
  req: CachePolicy.Request,
  headers304: HeaderList,
  now: number,
  key: string,
): { headers: HeaderList; entry: CachedResponse | null } | null {
  const h304 = toHeaderObject(headers304);
  const r = e.policy.revalidatedPolicy(req, { status: 304, headers: h304 });
  // A 304 without validators answers the one conditional we sent, for this one stored
  // response (many origins omit Last-Modified on 304s): it selects the entry.
  const selects = r.matches || (h304.etag === undefined && h304['last-modified'] === undefined);
  if (r.modified || !selects) return null;
  const merged = e.headers.slice();
  for (let i = 0; i < headers304.length; i += 2) {
    const name = headers304[i]!.toLowerCase();
    if (!NOT_UPDATED.has(name)) removeHeader(merged, name);
  }
  for (let i = 0; i < headers304.length; i += 2) {
    if (!NOT_UPDATED.has(headers304[i]!.toLowerCase())) merged.push(headers304[i]!, headers304[i + 1]!);
  }
  const d = draftFrom(opts, req, e.status, merged, now);
  if (d === null) return { headers: merged, entry: null };
  if (d.tags.length === 0) d.tags = e.tags.slice();
  return { headers: merged, entry: complete(d, key, e.body) };
}
