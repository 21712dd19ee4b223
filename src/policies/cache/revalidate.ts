import { pipeline } from 'node:stream';
import type { RequestContext } from '../../pipeline/context.js';
import { isThenable } from '../../pipeline/pipeline.js';
import { subrequestStream, type StreamedResponse, type SubrequestOptions } from '../../pipeline/subrequest.js';
import { holdWork } from '../../pipeline/work.js';
import type { HeaderList } from '../../http/headers.js';
import { PROXY_SET_FIELDS } from '../../proxy/headers.js';
import type { CachedResponse } from './entry.js';
import { draftFrom, refresh } from './admit.js';
import { count, type InFlight } from './zones.js';
import { cacheClock } from './clock.js';
import { collector, dropStale, release, reqOf, store, type Compiled, type Forwarded } from './fill.js';

/** A 304 that selected the stored response: the headers to serve with its body, and the refreshed entry. */
export interface Refreshed {
  headers: HeaderList;
  /** Null when the updated response may no longer be stored (it was dropped). */
  entry: CachedResponse | null;
}

/**
 * Applies the upstream's 304 to the revalidation of `stale` (RFC 9111 §4.3.4), in the
 * foreground and in the background alike.
 *
 * When the 304 selects the stored response, the entry is refreshed with its headers and
 * stored again (or dropped, when the updated response may no longer be stored), and the
 * result is returned synchronously.
 *
 * When its validators select nothing stored (the resource changed between our request
 * and the answer, or another origin instance answered), the entry is dropped and the
 * resource fetched again without validators. The Promise resolves with that response as
 * soon as its head arrives; its body streams, of any length, and the caller passes it
 * through `collector`, which stores it only if it fits `maxEntrySize`. A foreground
 * refetch is cancelled when the client goes away: the Promise then rejects (before the
 * head) or the body errors (after it).
 *
 * @example
 *   const r = onNotModified(c, ctx, f, stale, head.headers);
 *   if (!isThenable(r)) serveStored(r.headers, stale.body);
 *   else r.then((res) => streamAndStore(res));
 */
export function onNotModified(c: Compiled, ctx: RequestContext, f: Forwarded, stale: CachedResponse, headers304: HeaderList): Refreshed | Promise<StreamedResponse> {
  const r = refresh(c.admit, stale, reqOf(ctx), headers304, cacheClock.now(), f.key);
  if (r !== null) {
    count(c.zone, 'revalidated', c.route);
    // Not counted as `stored` (it is `revalidated`); a failed write is counted as a store error.
    if (r.entry !== null) store(c, ctx, f.key, r.entry);
    else dropStale(c, ctx, f);
    return r;
  }
  dropStale(c, ctx, f);
  // In the foreground the refetch is the client's own exchange: the client going away
  // cancels it, before its head as well as mid-body (the Promise rejects, the body errors).
  // In the background it outlives the client, as the revalidation it continues.
  return subrequestStream(ctx, unconditional(ctx.upstreamHeaders), f.background ? undefined : REFETCH_AS_CLIENT);
}

const REFETCH_AS_CLIENT: SubrequestOptions = { asClient: true };

/**
 * Fields not copied from the request's upstream headers into a new fetch: the validators,
 * and what the proxy appends to each request it sends (forwarding fields, RFC 7239 and
 * RFC 9110 §7.6.3; Host when preserved), which the new fetch's handler adds again.
 */
const NOT_COPIED = new Set(['if-none-match', 'if-modified-since', ...PROXY_SET_FIELDS]);

/** The request's upstream headers for a fetch of its own, without validators. */
export function unconditional(headers: HeaderList): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i < headers.length; i += 2) if (!NOT_COPIED.has(headers[i]!.toLowerCase())) out.push(headers[i]!, headers[i + 1]!);
  return out;
}

/**
 * Refreshes a stale entry off the client's path (RFC 5861 stale-while-revalidate), one
 * fetch at a time per key; requests that miss meanwhile wait for it (coalescing).
 *
 * A 304 goes through `onNotModified` as in the foreground. A full response (to the
 * conditional, or to the refetch after a non-matching 304) replaces the entry when it may
 * be stored and fits `maxEntrySize`; otherwise the stale entry is dropped, and the body
 * is not downloaded further. An upstream failure keeps the entry (stale-if-error). It counts
 * as the request's background work (`holdWork`) until then, so a drain waits for it.
 *
 * @example
 *   if (!ev.revalidation.synchronous) { revalidateInBackground(c, ctx, key, entry); return hitReply(…); }
 */
export function revalidateInBackground(c: Compiled, ctx: RequestContext, key: string, e: CachedResponse): void {
  if (c.zone.inFlight.has(key)) return;
  let resolve!: () => void;
  const lead: InFlight = { promise: new Promise<void>((r) => (resolve = r)), resolve };
  c.zone.inFlight.set(key, lead);
  // Counted as the request's background work until the outcome is stored (or dropped):
  // a drain or a retiring config waits for it, beyond the subrequests it makes.
  void lead.promise.then(holdWork(ctx));
  count(c.zone, 'revalidations', c.route);
  const f: Forwarded = { key, fwd: 'stale', lead, stale: e, strippedConditional: false, background: true, collecting: false };
  const headers = unconditional(ctx.upstreamHeaders);
  if (e.etag !== undefined) headers.push('if-none-match', e.etag);
  if (e.lastModified !== undefined) headers.push('if-modified-since', e.lastModified);
  subrequestStream(ctx, headers)
    .then((res) => {
      if (res.status !== 304 || res.errorCode !== undefined) return res;
      res.body.resume();
      const r = onNotModified(c, ctx, f, e, res.headers);
      return isThenable(r) ? r : undefined;
    })
    .then((res) => {
      if (res === undefined) release(c, f);
      else fillInBackground(c, ctx, f, res);
    })
    .catch((err: unknown) => {
      release(c, f);
      ctx.logger.warn({ err, key }, 'background cache revalidation failed');
    });
}

/** Stores a background fetch's response when it may be and fits; drops the stale entry when it may not. */
function fillInBackground(c: Compiled, ctx: RequestContext, f: Forwarded, res: StreamedResponse): void {
  const draft = res.errorCode === undefined ? draftFrom(c.admit, reqOf(ctx), res.status, res.headers, cacheClock.now()) : null;
  if (draft === null) {
    res.body.destroy();
    // No longer storable (or declared larger than maxEntrySize): the stale copy is
    // outdated. An upstream error (5xx) keeps it for stale-if-error.
    if (res.errorCode === undefined && res.status < 500) dropStale(c, ctx, f);
    release(c, f);
    return;
  }
  const sink = collector(c, ctx, f, draft, true);
  pipeline(res.body, sink, () => release(c, f));
  sink.resume();
}
