import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import type { Dispatcher } from 'undici';
import type { RouteConfig } from '../../config/schema.js';
import type { RequestContext } from '../../pipeline/context.js';
import { buildUpstreamHeaders } from '../../proxy/headers.js';
import { setHeader } from '../../http/headers.js';
import { compileRewrite } from '../../proxy/rewrite.js';
import { readBody, replayableLength } from '../../proxy/replay.js';
import { metrics } from '../../observability/metrics.js';
import { outcomeOf } from '../../proxy/forward.js';
import { coarseClock, TimedCall, track, untrack } from '../../proxy/timeouts.js';
import type { Target } from '../../upstreams/upstream.js';
import type { Logger } from '../../observability/logger.js';
import type { Handler, HandlerDeps } from '../handler.js';

/** Mirrored requests in flight per target beyond which copies are skipped (a slow shadow must not hoard memory). */
const MAX_SHADOW_IN_FLIGHT = 256;

/**
 * `mirror: { upstream, percent, maxBody }`: shadow traffic. A sampled request is copied to
 * the mirror upstream, fire-and-forget: the copy's response is read and dropped, its
 * errors only count in metrics and health, and the client's response never waits for it.
 * Copies carry `X-Gantry-Shadow: 1` so the shadow service can tell them apart. A body is
 * held in memory to be sent twice, so requests with a body over `maxBody` (or without a
 * declared length) are not mirrored. Each client request is copied at most once: upstream
 * exchanges the gateway makes on its own (a cache's background revalidation, an `etag`
 * policy's second fetch) are not copied.
 *
 * @example
 *   - name: orders
 *     match: { path: /orders/* }
 *     upstream: orders-v1
 *     mirror: { upstream: orders-v2, percent: 10 }
 */
export function withMirror(inner: Handler, route: RouteConfig, deps: HandlerDeps): Handler {
  const m = route.mirror;
  if (!m) return inner;
  const up = deps.upstreams.get(m.upstream);
  if (!up) throw new Error(`mirror: unknown upstream '${m.upstream}'`);
  const rewrite = compileRewrite(route.rewrite, route.match);
  const percent = m.percent ?? 100;
  const maxBody = m.maxBody ?? 65_536;

  const shadow = (ctx: RequestContext, body: Buffer | null) => {
    const t = up.pick(ctx, undefined);
    if (t === undefined || t.inFlight >= MAX_SHADOW_IN_FLIGHT) return;
    const headers = ctx.hasUpstreamHeaders ? ctx.upstreamHeaders.slice() : buildUpstreamHeaders(ctx.req.rawHeaders);
    headers.push('x-gantry-shadow', '1');
    if (body !== null) setHeader(headers, 'content-length', String(body.length));
    const path = t.basePath + (rewrite === null ? ctx.path : rewrite(ctx.path, ctx.params)) + ctx.query;
    // Timed by the sweep instead of undici's timers, as proxied requests are (proxy/timeouts.ts).
    const opts: Dispatcher.DispatchOptions = { method: ctx.method as Dispatcher.HttpMethod, path, headers, body, headersTimeout: 0, bodyTimeout: 0 };
    new ShadowCall(t, ctx.logger).send(opts, up.timeouts.response, up.timeouts.idle);
  };

  return {
    description: `${inner.description}, mirror ${up.name} ${percent}%`,
    handle: function mirrored(ctx) {
      // Once per client request: not for a subrequest's second fetch or background work.
      if (!ctx.mayMirror) return inner.handle(ctx);
      ctx.mayMirror = false;
      if (percent < 100 && Math.random() * 100 >= percent) return inner.handle(ctx);
      if (ctx.body !== undefined) {
        shadow(ctx, ctx.body);
        return inner.handle(ctx);
      }
      const req = ctx.req;
      if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
        shadow(ctx, null);
        return inner.handle(ctx);
      }
      if (replayableLength(req, maxBody) <= 0) return inner.handle(ctx);
      readBody(req, (err, body) => {
        if (err !== undefined || ctx.aborted) return;
        ctx.body = body!;
        shadow(ctx, body!);
        inner.handle(ctx);
      });
    },
  };
}

/**
 * One mirrored copy: sent with `dispatch`, its response body dropped as it arrives, timed by
 * the proxy's timeout sweep (proxy/timeouts.ts) with the mirror upstream's response and
 * idle timeouts, like a proxied request, rather than by undici's per-request timers.
 */
class ShadowCall extends TimedCall implements Dispatcher.DispatchHandler {
  readonly #target: Target;
  readonly #logger: Logger;
  #sentAt = 0;
  #idle = 0;
  #headed = false;
  #done = false;

  constructor(target: Target, logger: Logger) {
    super();
    this.#target = target;
    this.#logger = logger;
  }

  send(opts: Dispatcher.DispatchOptions, responseTimeout: number, idleTimeout: number): void {
    const t = this.#target;
    t.inFlight++;
    this.#sentAt = performance.now();
    this.#idle = idleTimeout;
    if (responseTimeout > 0 || idleTimeout > 0) {
      this.timedSince = this.#sentAt;
      this.timedLimit = responseTimeout;
      track(this);
    }
    t.pool.dispatch(opts, this);
  }

  onHeaders(status: number): boolean {
    this.#headed = true;
    const now = performance.now();
    this.timedHeaded = true;
    this.timedSince = now;
    this.timedLimit = this.#idle;
    const t = this.#target;
    const ms = now - this.#sentAt;
    t.sink?.report(t, status, ms, undefined);
    metrics.upstreamAttempt(t.upstream, t.origin, status, ms / 1000);
    return true;
  }

  onData(): boolean {
    this.timedSince = coarseClock();
    return true;
  }

  onComplete(): void {
    this.#finish();
  }

  onError(err: Error): void {
    if (this.#done) return;
    this.#finish();
    if (this.#headed) return;
    const t = this.#target;
    const ms = performance.now() - this.#sentAt;
    this.#logger.debug({ upstream: t.upstream, target: t.origin, err: { code: (err as { code?: string }).code, message: err.message } }, 'mirror request failed');
    t.sink?.report(t, 0, ms, err);
    metrics.upstreamAttempt(t.upstream, t.origin, outcomeOf(err), ms / 1000);
  }

  #finish(): void {
    this.#done = true;
    untrack(this);
    this.#target.inFlight--;
  }
}
