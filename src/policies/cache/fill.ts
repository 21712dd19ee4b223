import { Buffer } from 'node:buffer';
import { Transform } from 'node:stream';
import type CachePolicy from 'http-cache-semantics';
import type { RequestContext } from '../../pipeline/context.js';
import { variantKey } from './key.js';
import { requestObject, type CachedResponse } from './entry.js';
import { complete, retention, type AdmitOptions, type Draft } from './admit.js';
import { count, type CacheZone, type InFlight } from './zones.js';
import { cacheClock } from './clock.js';
import { isThenable } from '../../pipeline/pipeline.js';
import { holdWork } from '../../pipeline/work.js';
import { ThrottledLog } from '../../store/error-log.js';
import { metrics } from '../../observability/metrics.js';

/**
 * Filling the cache: the per-policy and per-fetch state shared by the request path
 * (`policy.ts`) and revalidation (`revalidate.ts`), and the body collector that stores a
 * response once it is complete and small enough.
 */

/** A cache policy compiled from its config. */
export interface Compiled {
  zone: CacheZone;
  /** Route label of the metrics. */
  route: string;
  admit: AdmitOptions;
  name: string;
  key: (ctx: RequestContext) => string;
  methods: ReadonlySet<string>;
  /**
   * Called when a lookup in the shared store fails (the request is then a miss): counted,
   * logged at most once per interval. Made once per policy (see `lookupFailure`), so a
   * lookup allocates nothing for it.
   */
  lookupFailed: (err: unknown) => void;
  /** Failed drops (the shared store down, or refusing them), logged at most once per interval. */
  dropErrors: ThrottledLog;
  /** Failed writes (the shared store down, or refusing them), logged at most once per interval. */
  storeErrors: ThrottledLog;
}

/** Why a request went forward (RFC 9211 §2.2 `fwd`). */
export type Fwd = 'uri-miss' | 'vary-miss' | 'stale' | 'request' | 'bypass';

/** One fetch from the upstream on behalf of the cache: a client's request, or a background revalidation. */
export interface Forwarded {
  key: string;
  fwd: Fwd;
  /** The coalescing slot this fetch leads, released once its response is known. */
  lead: InFlight | undefined;
  /** Entry being revalidated / usable on error. */
  stale: CachedResponse | undefined;
  /** The client's validators were removed so that a full response comes back to store. */
  strippedConditional: boolean;
  /** Off the client's path (stale-while-revalidate): a body too large to store is not downloaded. */
  background: boolean;
  /**
   * A client's response body passes through `collector` and is not yet handed to the
   * store: if the client's exchange ends now (cut off, the client gone), the body will not
   * be stored, so the entry it would have replaced is dropped then (`dropIfCut`).
   */
  collecting: boolean;
}

/** Frees the coalescing slot of a fetch (idempotent): requests waiting on it look again. */
export function release(c: Compiled, f: Forwarded): void {
  const lead = f.lead;
  if (lead === undefined) return;
  f.lead = undefined;
  if (c.zone.inFlight.get(f.key) === lead) c.zone.inFlight.delete(f.key);
  lead.resolve();
}

/**
 * Drops the entry a fetch was revalidating, once the upstream showed it outdated (a full
 * response that will not replace it, or a 304 that selected nothing stored), so that it
 * is not served again, not even for stale-if-error (RFC 5861 §4 allows serving stale on
 * error, not serving what the origin has since replaced). Idempotent: one drop per fetch.
 */
export function dropStale(c: Compiled, ctx: RequestContext, f: Forwarded): void {
  if (f.stale === undefined) return;
  f.stale = undefined;
  drop(c, ctx, f.key);
}

/**
 * Called as the client's request ends (the policy's log hook), before it is counted
 * finished: a response cut off while its body was being collected will not be stored, so
 * the entry it would have replaced is dropped here rather than when the collector closes,
 * which comes after the request was counted finished. The drop (a shared store's) is then
 * the request's background work before a drain or a retiring config can see the request
 * done and stop waiting; nothing is held for it otherwise.
 */
export function dropIfCut(c: Compiled, ctx: RequestContext, f: Forwarded): void {
  if (!f.collecting || !ctx.aborted) return;
  f.collecting = false;
  dropStale(c, ctx, f);
}

/**
 * Removes what is stored for a key, from the data path (an unsafe request invalidating its
 * URI, an entry shown outdated): a shared store that is down or refuses the drop makes it
 * fail, which is counted in `gantry_store_errors_total{operation="cache-drop"}`, logged
 * (throttled) and never fails the request. A shared store's drop counts as the request's
 * background work until it answers (a drain and a retiring config wait for it); the
 * memory store's is done at once and holds nothing.
 */
export function drop(c: Compiled, ctx: RequestContext, key: string): void {
  const r = c.zone.store.purge({ key });
  if (!isThenable(r)) return;
  const done = holdWork(ctx);
  (r as Promise<number>).then(done, (err: unknown) => {
    done();
    dropFailed(c, err);
  });
}

function dropFailed(c: Compiled, err: unknown): void {
  metrics.storeError(c.zone.store.kind, 'cache-drop');
  c.dropErrors.report(err, `cache: could not drop an entry in zone '${c.zone.name}' (the shared store is unavailable or refused the drop)`);
}

/**
 * The handler of failed lookups of one policy: counts each in
 * `gantry_store_errors_total{operation="cache-lookup"}` and logs at most once per interval
 * (the lookup is a miss: the request goes to the upstream).
 *
 * @example
 *   const lookupFailed = lookupFailure(zone, new ThrottledLog(logger, 10_000));
 *   zone.store.get(key, lookupFailed);
 */
export function lookupFailure(zone: CacheZone, log: ThrottledLog): (err: unknown) => void {
  const msg = `cache: could not look up an entry in zone '${zone.name}' (the shared store is unavailable or refused the read); served from the upstream`;
  return function lookupFailed(err) {
    metrics.storeError(zone.store.kind, 'cache-lookup');
    log.report(err, msg);
  };
}

/**
 * Stores an entry under its key (or its Vary variant, with a marker at the key) and calls
 * `onKept` with whether the store kept it: the memory store synchronously, a shared store
 * once its writes have answered. A failed write is counted in
 * `gantry_store_errors_total{operation="cache-store"}` and logged (throttled): it never
 * fails the request, whose response is already on its way.
 *
 * A shared store's write counts as the request's background work (`holdWork`) until it
 * has answered and `onKept` has run (so a drop that follows is held too): a drain and a
 * retiring config wait for it instead of closing the store under it. The client never
 * waits for it; a memory write holds nothing and allocates nothing for it.
 *
 * @example
 *   store(c, ctx, key, entry, (kept) => { if (kept) count(zone, 'stored', route); });
 */
export function store(c: Compiled, ctx: RequestContext, key: string, e: CachedResponse, onKept?: (kept: boolean) => void): void {
  const ttl = retention(e, cacheClock.now());
  if (ttl <= 0) {
    onKept?.(false);
    return;
  }
  const s = c.zone.store;
  let r: boolean | Promise<boolean>;
  if (e.vary === null) r = s.set(key, e, ttl);
  else {
    // Kept only if both are: the variant is reached through the marker.
    const marker = s.set(key, { kind: 'vary', vary: e.vary, size: 64 + key.length * 2 }, ttl);
    const variant = s.set(variantKey(key, e.vary, ctx.req.headers), e, ttl);
    r = isThenable(marker) || isThenable(variant) ? Promise.all([marker, variant]).then(([a, b]) => a && b) : marker && variant;
  }
  if (!isThenable(r)) {
    onKept?.(r);
    return;
  }
  const done = holdWork(ctx);
  (r as Promise<boolean>)
    .then(undefined, (err: unknown) => {
      metrics.storeError(s.kind, 'cache-store');
      c.storeErrors.report(err, `cache: could not store an entry in zone '${c.zone.name}' (the shared store is unavailable or refused the write)`);
      return false;
    })
    .then((kept) => {
      try {
        onKept?.(kept);
      } finally {
        done();
      }
    });
}

/**
 * Counts an entry as stored once the store has kept it (the write answered, after the
 * response was sent: the client never waits for it). An entry the store did not keep is
 * not counted, and the entry it would have replaced is dropped, as for any response not
 * stored.
 */
function settled(c: Compiled, ctx: RequestContext, f: Forwarded, kept: boolean): void {
  if (kept) count(c.zone, 'stored', c.route);
  else dropStale(c, ctx, f);
}

/**
 * Passes the body through while keeping a copy; stores it when complete and no larger
 * than `maxEntrySize`. A larger body keeps flowing to the client, uncached; in the
 * background nobody reads it, so the transfer is stopped. Either way, when the body is
 * not stored (too large, cut off, the client gone), the entry it would have replaced is
 * dropped: the upstream has sent a newer version of it.
 * With `swallow` the body is stored but not passed on (the client gets a 304).
 */
export function collector(c: Compiled, ctx: RequestContext, f: Forwarded, draft: Draft, swallow: boolean): Transform {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let keep = true;
  /** Handed to the store (which may still not keep it: see `settled`). */
  let handed = false;
  f.collecting = !f.background;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (keep) {
        bytes += chunk.length;
        if (bytes > c.admit.maxEntrySize) {
          keep = false;
          chunks.length = 0;
          // Dropped before the waiting requests look again.
          dropStale(c, ctx, f);
          release(c, f);
          if (f.background) {
            // Destroying stops the transfer.
            cb();
            this.destroy();
            return;
          }
        } else chunks.push(chunk);
      }
      cb(null, swallow ? undefined : chunk);
    },
    flush(cb) {
      if (keep && (f.background || !ctx.aborted)) {
        const body = Buffer.concat(chunks, bytes);
        if (draft.length < 0 || draft.length === body.length) {
          handed = true;
          store(c, ctx, f.key, complete(draft, f.key, body), (kept) => settled(c, ctx, f, kept));
        }
      }
      f.collecting = false;
      if (!handed) dropStale(c, ctx, f);
      release(c, f);
      cb();
    },
  });
  // A client's body cut off is dropped by `dropIfCut` already; this covers background fetches.
  t.once('close', () => {
    f.collecting = false;
    if (!handed) dropStale(c, ctx, f);
  });
  return t;
}

/** The request as http-cache-semantics reads it. */
export function reqOf(ctx: RequestContext): CachePolicy.Request {
  return requestObject(ctx.path + ctx.query, ctx.method, ctx.req.headers);
}
