import { Buffer } from 'node:buffer';
import { Readable } from 'node:stream';
import { definePolicy, type RequestResult, type ResponseHead } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { isThenable } from '../../pipeline/pipeline.js';
import { problemReply, respondAbort } from '../../pipeline/respond.js';
import type { StreamedResponse } from '../../pipeline/subrequest.js';
import { getHeader, removeHeader, setHeader, type HeaderList } from '../../http/headers.js';
import { schema, type CacheConfig } from './schema.js';
import { compileKey, variantKey } from './key.js';
import type { CacheNode, CachedResponse } from './entry.js';
import { admitOptions, draftFrom } from './admit.js';
import { MemoryCacheStore } from './store.js';
import { SharedCacheStore, SHARED_MAX_RETENTION } from './shared-store.js';
import { acquireZone, cacheZoneName, count, type InFlight } from './zones.js';
import { hasConditional, headersFor304, hitReply, notModified } from './serve.js';
import { cacheClock } from './clock.js';
import { ThrottledLog } from '../../store/error-log.js';
import { collector, drop, dropIfCut, dropStale, lookupFailure, release, reqOf, type Compiled, type Forwarded, type Fwd } from './fill.js';
import { onNotModified, revalidateInBackground } from './revalidate.js';

/**
 * `cache`: an HTTP cache in front of the route's target, following RFC 9111 as a shared
 * cache (decisions by http-cache-semantics). Fresh hits are answered synchronously from
 * memory; misses for the same key are coalesced into one upstream request; stale entries
 * are revalidated with their validators, served while revalidating (RFC 5861) or when the
 * upstream fails; every response carries `Cache-Status` (RFC 9211).
 *
 * Place it after authentication and rate limiting, and before policies that change the
 * response (transform, compress): it stores what the target sent, and those run again on
 * every hit.
 *
 * @example
 *   policies:
 *     - cache: { ttl: 30s, staleWhileRevalidate: 10s, key: { query: [page] } }
 */

const forwarded = new WeakMap<RequestContext, Forwarded>();
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export default definePolicy({
  name: 'cache',
  description: 'HTTP cache (RFC 9111): coalesced misses, revalidation, stale-while-revalidate/if-error, purge by key, prefix or tag.',
  schema,
  create(config, deps) {
    const zoneName = cacheZoneName(config, deps.routeName);
    const shared = config.shared && deps.store.shared;
    const signature = shared ? `shared:${JSON.stringify(deps.config.store ?? {})}` : `memory:${config.maxSize}`;
    const zoneRef = acquireZone(deps.baseDir, zoneName, signature, () =>
      shared
        ? new SharedCacheStore(deps.store, zoneName, () => cacheClock.now(), SHARED_MAX_RETENTION)
        : new MemoryCacheStore(config.maxSize, () => cacheClock.now()),
    );
    const zone = zoneRef.value;
    const c: Compiled = {
      zone,
      route: deps.routeName ?? zoneName,
      admit: admitOptions(config),
      name: config.statusName,
      key: compileKey(config.key),
      methods: new Set(config.methods),
      lookupFailed: lookupFailure(zone, new ThrottledLog(deps.logger, 10_000)),
      dropErrors: new ThrottledLog(deps.logger, 10_000),
      storeErrors: new ThrottledLog(deps.logger, 10_000),
    };
    return {
      request: function cache(ctx) {
        return lookup(c, ctx);
      },
      response: function cacheStore(ctx, head) {
        return onResponse(c, ctx, head);
      },
      log: function cacheDone(ctx) {
        const f = forwarded.get(ctx);
        if (f === undefined) return;
        dropIfCut(c, ctx, f);
        release(c, f);
      },
      close: () => zoneRef.release(),
    };
  },
});

export { type CacheConfig };

function lookup(c: Compiled, ctx: RequestContext): RequestResult | Promise<RequestResult> {
  const method = ctx.method;
  if (!c.methods.has(method)) {
    if (UNSAFE.has(method)) forwarded.set(ctx, { key: c.key(ctx), fwd: 'bypass', lead: undefined, stale: undefined, strippedConditional: false, background: false, collecting: false });
    return undefined;
  }
  // Ranges are not served from the cache (RFC 9111 §3.3 is not implemented): pass through.
  if (ctx.req.headers.range !== undefined) return undefined;
  const key = c.key(ctx);
  return withEntry(c, ctx, key, (entry, varyMiss) => decide(c, ctx, key, entry, varyMiss, false)) as RequestResult | Promise<RequestResult>;
}

/**
 * Finds the entry for a request (following a Vary marker), synchronously when the store can.
 * A failed lookup in a shared store is a miss (counted and logged by `c.lookupFailed`).
 */
function withEntry<T>(c: Compiled, ctx: RequestContext, key: string, then: (e: CachedResponse | undefined, varyMiss: boolean) => T): T | Promise<T> {
  const node = c.zone.store.get(key, c.lookupFailed);
  if (isThenable(node)) return (node as Promise<CacheNode | undefined>).then((n) => followVary(c, ctx, key, n, then));
  return followVary(c, ctx, key, node, then);
}

function followVary<T>(c: Compiled, ctx: RequestContext, key: string, node: CacheNode | undefined, then: (e: CachedResponse | undefined, varyMiss: boolean) => T): T | Promise<T> {
  if (node === undefined) return then(undefined, false);
  if (node.kind === 'response') return then(node, false);
  const v = c.zone.store.get(variantKey(key, node.vary, ctx.req.headers), c.lookupFailed);
  if (isThenable(v)) return (v as Promise<CacheNode | undefined>).then((n) => then(n?.kind === 'response' ? n : undefined, n === undefined));
  return then(v?.kind === 'response' ? v : undefined, v === undefined);
}

function decide(c: Compiled, ctx: RequestContext, key: string, entry: CachedResponse | undefined, varyMiss: boolean, waited: boolean): RequestResult | Promise<RequestResult> {
  const now = cacheClock.now();
  const h = ctx.req.headers;
  if (entry !== undefined) {
    // Fast path: fresh, and the request says nothing about caching.
    if (now < entry.freshUntil && h['cache-control'] === undefined && h.pragma === undefined) {
      count(c.zone, waited ? 'coalesced' : 'hits', c.route);
      return hitReply(h, entry, now, waited ? `${c.name}; hit; detail=coalesced` : `${c.name}; hit`);
    }
    const ev = entry.policy.evaluateRequest(reqOf(ctx));
    if (ev.response !== undefined) {
      if (ev.revalidation === undefined) {
        count(c.zone, 'hits', c.route);
        return hitReply(h, entry, now, `${c.name}; hit`);
      }
      if (!ev.revalidation.synchronous && ctx.method === 'GET') {
        // RFC 5861 §3: serve stale now, refresh in the background (once per key).
        count(c.zone, 'stale', c.route);
        revalidateInBackground(c, ctx, key, entry);
        return hitReply(h, entry, now, `${c.name}; hit; detail=stale-while-revalidate`);
      }
    }
    const noCache = /no-cache/.test(h['cache-control'] ?? '') || /no-cache/.test(String(h.pragma ?? ''));
    return forward(c, ctx, key, entry, noCache ? 'request' : 'stale', waited);
  }
  return forward(c, ctx, key, undefined, varyMiss ? 'vary-miss' : 'uri-miss', waited);
}

/**
 * Sends the request upstream, unless another request for the key is already doing so:
 * then this one waits for it and looks again (request coalescing). After one wait a
 * request goes forward on its own, so uncacheable responses are not serialised.
 */
function forward(c: Compiled, ctx: RequestContext, key: string, stale: CachedResponse | undefined, fwd: Fwd, waited: boolean): RequestResult | Promise<RequestResult> {
  let lead: InFlight | undefined;
  if (ctx.method !== 'HEAD' && !waited) {
    const other = c.zone.inFlight.get(key);
    if (other !== undefined) {
      return other.promise.then(() => (ctx.aborted ? undefined : withEntry(c, ctx, key, (e, varyMiss) => decide(c, ctx, key, e, varyMiss, true)))) as Promise<RequestResult>;
    }
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    lead = { promise, resolve };
    c.zone.inFlight.set(key, lead);
  }
  count(c.zone, stale === undefined ? 'misses' : 'revalidations', c.route);
  const f: Forwarded = { key, fwd, lead, stale, strippedConditional: false, background: false, collecting: false };
  forwarded.set(ctx, f);
  if (ctx.method !== 'HEAD') {
    // Ask for a full response (to store), and answer the client's validators here.
    if (hasConditional(ctx.req.headers)) {
      ctx.removeRequestHeader('if-none-match');
      ctx.removeRequestHeader('if-modified-since');
      f.strippedConditional = true;
    }
    if (stale !== undefined) {
      if (stale.etag !== undefined) ctx.setRequestHeader('if-none-match', stale.etag);
      if (stale.lastModified !== undefined) ctx.setRequestHeader('if-modified-since', stale.lastModified);
    }
  }
  return undefined;
}

/** RFC 5861 §4: the upstream could not answer (no response, or 500/502/503/504). */
function isError(status: number, ctx: RequestContext): boolean {
  return ctx.errorCode !== undefined || status === 500 || status === 502 || status === 503 || status === 504;
}

function onResponse(c: Compiled, ctx: RequestContext, head: ResponseHead): void | Promise<void> {
  const f = forwarded.get(ctx);
  if (f === undefined) return;
  const status = head.status;
  if (f.fwd === 'bypass') {
    // RFC 9111 §4.4: a successful unsafe request invalidates what is stored for its URI.
    if (status < 400) drop(c, ctx, f.key);
    return;
  }
  const stale = f.stale;
  if (stale !== undefined && status === 304 && ctx.errorCode === undefined) {
    const r = onNotModified(c, ctx, f, stale, head.headers);
    if (isThenable(r)) {
      return r.then(
        (res) => serveRefetched(c, ctx, head, f, res),
        (err: unknown) => refetchFailed(c, ctx, head, f, err),
      );
    }
    release(c, f);
    serveBody(ctx, head, r.headers, stale.body, `${c.name}; fwd=${f.fwd}; fwd-status=304`, r.entry ?? stale);
    return;
  }
  if (stale !== undefined && isError(status, ctx) && cacheClock.now() < stale.sieUntil) {
    count(c.zone, 'stale', c.route);
    release(c, f);
    serveBody(ctx, head, stale.headers.slice(), stale.body, `${c.name}; fwd=${f.fwd}; fwd-status=${status}; detail=stale-if-error`, stale);
    return;
  }
  admit(c, ctx, f, head);
}

/**
 * A full response from the upstream: passed on, and stored on the way when it may be.
 * A response that will not be stored drops the entry it was revalidating (unless it is
 * an error: that entry stays usable for stale-if-error).
 */
function admit(c: Compiled, ctx: RequestContext, f: Forwarded, head: ResponseHead): void {
  const status = head.status;
  const draft = ctx.method === 'HEAD' || ctx.errorCode !== undefined ? null : draftFrom(c.admit, reqOf(ctx), status, head.headers, cacheClock.now());
  if (draft === null) {
    if (ctx.method !== 'HEAD' && ctx.errorCode === undefined && status < 500) dropStale(c, ctx, f);
    release(c, f);
    head.headers.push('cache-status', `${c.name}; fwd=${f.fwd}; fwd-status=${status}`);
    if (f.strippedConditional && status === 200) answerConditional(ctx, head);
    return;
  }
  // RFC 9211 §2.6: `stored` only when the head shows the body fits maxEntrySize (a declared
  // length within it); a body of unknown length may still be stored once it has all arrived.
  head.headers.push('cache-status', `${c.name}; fwd=${f.fwd}; fwd-status=${status}${draft.length >= 0 ? '; stored' : ''}`);
  if (!c.admit.exposeTags) removeHeader(head.headers, c.admit.tagHeader);
  const to304 = f.strippedConditional && status === 200 && answerConditional(ctx, head);
  ctx.wrapResponseBody((src) => src.pipe(collector(c, ctx, f, draft, to304)));
}

/** Turns a 200 into a 304 when the client's (stripped) validators match it. */
function answerConditional(ctx: RequestContext, head: ResponseHead): boolean {
  if (!notModified(ctx.req.headers, getHeader(head.headers, 'etag'), getHeader(head.headers, 'last-modified'))) return false;
  head.status = 304;
  const kept = headersFor304(head.headers);
  const status = getHeader(head.headers, 'cache-status');
  head.headers.length = 0;
  head.headers.push(...kept);
  if (status !== undefined) head.headers.push('cache-status', status);
  return true;
}

/**
 * Answers with a stored body instead of the upstream's (a 304 to our revalidation, or an
 * error replaced by a stale entry), or with 304 when the client's validators match.
 */
function serveBody(ctx: RequestContext, head: ResponseHead, headers: HeaderList, body: Buffer, cacheStatus: string, e: CachedResponse): void {
  const reply = hitReply(ctx.req.headers, { ...e, headers }, cacheClock.now(), cacheStatus);
  head.status = reply.status;
  const out = reply.headers as HeaderList;
  if (reply.status !== 304) setHeader(out, 'content-length', String(body.length));
  head.headers.length = 0;
  head.headers.push(...out);
  ctx.wrapResponseBody((src) => {
    src.resume();
    return Readable.from(reply.status === 304 ? [] : [body]);
  });
}

/**
 * Serves, in place of a 304 that selected nothing stored, the response fetched again
 * without validators: its body streams to the client whatever its size, and is stored on
 * the way only when it may be and fits `maxEntrySize` (see `admit`).
 */
function serveRefetched(c: Compiled, ctx: RequestContext, head: ResponseHead, f: Forwarded, res: StreamedResponse): void {
  const body = res.body;
  if (ctx.aborted) {
    body.destroy();
    release(c, f);
    return;
  }
  // A client that goes away stops the transfer (the refetch is also its `cancelable`); a
  // transfer cut off cuts the client off, rather than let a truncated body look complete.
  ctx.res.once('close', () => body.destroy());
  body.once('error', () => {
    if (ctx.aborted) return;
    ctx.errorCode ??= res.errorCode ?? 'GW_ERR_UPSTREAM_RESET';
    respondAbort(ctx);
  });
  if (res.errorCode !== undefined) ctx.errorCode = res.errorCode;
  head.status = res.status;
  head.headers.length = 0;
  head.headers.push(...res.headers);
  ctx.wrapResponseBody((src) => {
    src.resume();
    return body;
  });
  admit(c, ctx, f, head);
}

/** The refetch after a non-matching 304 got no response at all (or the client went away first, which cancelled it). */
function refetchFailed(c: Compiled, ctx: RequestContext, head: ResponseHead, f: Forwarded, err: unknown): void {
  release(c, f);
  if (ctx.aborted) return;
  ctx.logger.warn({ err, requestId: ctx.id }, 'cache: refetch after a non-matching 304 failed');
  const problem = problemReply(ctx, 'GW_ERR_UPSTREAM_BAD_RESPONSE', 'The upstream answered a revalidation inconsistently.');
  head.status = problem.status;
  head.headers.length = 0;
  head.headers.push(...problem.headers, 'content-length', String(problem.body.length));
  ctx.wrapResponseBody((src) => {
    src.resume();
    return Readable.from([problem.body]);
  });
}
