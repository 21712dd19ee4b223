import { Buffer } from 'node:buffer';
import CachePolicy from 'http-cache-semantics';
import type { HeaderList } from '../../http/headers.js';
import { cacheClock } from './clock.js';

/** http-cache-semantics reading the cache clock instead of `Date.now`. */
export class ClockedPolicy extends CachePolicy {
  now(): number {
    return cacheClock.now();
  }
}

export type HeaderObject = Record<string, string>;

/** A stored response, with everything a hit needs computed at store time. */
export interface CachedResponse {
  readonly kind: 'response';
  status: number;
  /** Headers sent on a hit, without `Age` and `Cache-Status` (added per hit). */
  headers: HeaderList;
  body: Buffer;
  /** RFC 9111 state (freshness, validators, Vary) from http-cache-semantics. */
  policy: CachePolicy;
  /** Lower-cased `Vary` field names, or null. */
  vary: readonly string[] | null;
  tags: readonly string[];
  etag: string | undefined;
  lastModified: string | undefined;
  /** Clock ms when stored, and the `Age` (s) the response already had then. */
  storedAt: number;
  ageAtStore: number;
  /** Clock ms until which the entry is fresh: hits before then need no further checks. */
  freshUntil: number;
  /** Clock ms until which stale-while-revalidate / stale-if-error allow serving it stale. */
  swrUntil: number;
  sieUntil: number;
  /** Bytes this entry holds, for the store's bound. */
  size: number;
}

/** Marks a primary key whose response varies: the entry is at the variant key. */
export interface VaryMarker {
  readonly kind: 'vary';
  vary: readonly string[];
  size: number;
}

export type CacheNode = CachedResponse | VaryMarker;

/** Parsed Cache-Control directives (RFC 9111 §5.2), names lower-cased. */
export function parseCacheControl(value: string | undefined): Map<string, string | true> {
  const out = new Map<string, string | true>();
  if (!value) return out;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!name) continue;
    out.set(name, eq < 0 ? true : part.slice(eq + 1).trim().replace(/^"|"$/g, ''));
  }
  return out;
}

/** Header list → object with lower-case names; repeated fields joined with `, ` (RFC 9110 §5.3). */
export function toHeaderObject(list: HeaderList): HeaderObject {
  const out: HeaderObject = {};
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i]!.toLowerCase();
    const v = list[i + 1]!;
    out[k] = out[k] === undefined ? v : `${out[k]}, ${v}`;
  }
  return out;
}

/** Request headers as http-cache-semantics wants them (Node joins repeats already). */
export function requestObject(url: string, method: string, headers: Record<string, string | string[] | undefined>): CachePolicy.Request {
  return { url, method: method === 'HEAD' ? 'GET' : method, headers: headers as CachePolicy.Headers };
}

/** Current `Age` of an entry in whole seconds (RFC 9111 §4.2.3). */
export function ageOf(e: CachedResponse, now: number): number {
  return Math.max(0, Math.floor(e.ageAtStore + (now - e.storedAt) / 1000));
}

/** Remaining freshness in whole seconds (negative once stale), for `Cache-Status: ttl=`. */
export function ttlOf(e: CachedResponse, now: number): number {
  return Math.floor((e.freshUntil - now) / 1000);
}

const ENTRY_OVERHEAD = 256;

/** Bytes an entry holds: body, headers, key and a fixed overhead for the objects around them. */
export function sizeOf(key: string, headers: HeaderList, body: Buffer): number {
  let n = ENTRY_OVERHEAD + key.length * 2 + body.length;
  for (let i = 0; i < headers.length; i++) n += headers[i]!.length;
  return n;
}
