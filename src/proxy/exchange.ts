import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import type { Dispatcher } from 'undici';
import { errors as undiciErrors } from 'undici';
import type { RequestContext } from '../pipeline/context.js';
import { respondAbort, respondData, respondEnd, respondError, respondHead } from '../pipeline/respond.js';
import type { HeaderList } from '../http/headers.js';
import { GatewayError, type GatewayErrorCode } from '../errors.js';
import type { Target } from '../upstreams/target.js';
import type { Upstream } from '../upstreams/upstream.js';
import { metrics } from '../observability/metrics.js';
import { logGate } from '../observability/logger.js';
import { endAttempt } from '../observability/tracing.js';
import type { Span } from '@opentelemetry/api';
import { filterResponseHeaders, mapLocationHeaders } from './headers.js';
import { RequestBodyTooLarge } from '../pipeline/body.js';
import { coarseClock, TimedCall, track, untrack } from './timeouts.js';
import { describeFailure, errorCode, outcomeOf, type ForwardOptions } from './forward.js';

/**
 * The upstream call of a route with resilience configured (retries, breaker, deadline,
 * total timeout, load shedding, fallback), as a dispatch that interceptors wrap (the
 * undici `Dispatcher.compose` shape, lifted from one pool to one upstream so a retry can
 * go to another target):
 *
 *   shed → total → retry → deadline → breaker → attempt (pick a target, pool.dispatch)
 *
 * Each layer is `(next) => (exchange, handler) => void` and wraps the handler it passes
 * on. Routes without any of these keep the plain `ProxyCall` path (forward.ts); what a
 * route gets is decided once at config load.
 */
export type Dispatch = (ex: Exchange, handler: Dispatcher.DispatchHandler) => void;
export type Interceptor = (next: Dispatch) => Dispatch;

/**
 * Wraps `base` in interceptors, the first listed outermost.
 *
 * @example
 *   const dispatch = compose(dispatchAttempt, [retry(policy), breaker()]);
 *   dispatch(exchange, new ClientWriter(exchange, undefined));
 */
export function compose(base: Dispatch, interceptors: readonly Interceptor[]): Dispatch {
  let d = base;
  for (let i = interceptors.length - 1; i >= 0; i--) d = interceptors[i]!(d);
  return d;
}

/** A gateway error with response headers (e.g. `Retry-After`), carried through the handler chain. */
export class RejectionError extends GatewayError {
  readonly headers: HeaderList;
  constructor(code: GatewayErrorCode, detail: string, headers: HeaderList = []) {
    super(code, detail);
    this.headers = headers;
  }
}

/** One request's trip to an upstream, across its attempts. One object per request. */
export class Exchange {
  readonly ctx: RequestContext;
  readonly upstream: Upstream;
  readonly opts: ForwardOptions;
  /** Forwarded path with query (the target's base path is prepended per attempt). */
  readonly path: string;
  readonly headers: HeaderList;
  readonly body: Dispatcher.DispatchOptions['body'];
  /** The body can be sent again (none, or held in memory). */
  readonly replayable: boolean;
  /** `performance.now()` by which the response head must arrive (route deadline), Infinity for none. */
  deadlineAt = Infinity;
  /** Attempts started. */
  attempt = 0;
  /** Targets tried so far, avoided by later attempts. */
  tried: Target[] | undefined = undefined;
  /** No further attempts: the client went away or the exchange timed out. */
  done = false;
  /** A failure requested while no attempt was out; the next attempt fails with it in `onConnect`. */
  pendingAbort: Error | undefined = undefined;
  /** The attempt sent and not yet ended. */
  current: Attempt | undefined = undefined;
  /** While waiting (queue, backoff): ends the wait with an error, returning true if it did. */
  interruptWait: ((err: Error) => boolean) | undefined = undefined;

  constructor(ctx: RequestContext, upstream: Upstream, path: string, opts: ForwardOptions, headers: HeaderList, body: Dispatcher.DispatchOptions['body']) {
    this.ctx = ctx;
    this.upstream = upstream;
    this.path = path;
    this.opts = opts;
    this.headers = headers;
    this.body = body;
    this.replayable = body === null || Buffer.isBuffer(body);
  }

  /** Ends the exchange with `err` wherever it is: waiting, connecting or in flight. */
  interrupt(err: Error): void {
    this.done = true;
    const wait = this.interruptWait;
    if (wait !== undefined) {
      this.interruptWait = undefined;
      if (wait(err)) return;
    }
    this.failAttempt(err);
  }

  /** Fails the attempt out with `err` (see TimedCall), or the next one when none is out. */
  failAttempt(err: Error): void {
    if (this.current !== undefined) this.current.fail(err);
    else this.pendingAbort = err;
  }

  /** The client went away (`ctx.cancelable`). */
  cancel(): void {
    this.interrupt(new undiciErrors.RequestAbortedError('client closed the connection'));
  }
}

/**
 * The innermost dispatch: picks a target (avoiding those tried) and sends one attempt.
 *
 * @example
 *   compose(dispatchAttempt, interceptors)(exchange, handler);
 */
export const dispatchAttempt: Dispatch = function dispatchAttempt(ex, handler) {
  const up = ex.upstream;
  const target = up.pick(ex.ctx, ex.tried);
  if (target === undefined) {
    up.breaker?.release();
    handler.onError!(new RejectionError('GW_ERR_NO_TARGET', `Upstream '${up.name}' has no target available.`));
    return;
  }
  (ex.tried ??= []).push(target);
  ex.attempt++;
  ex.ctx.target = target.origin;
  target.inFlight++;
  // Timeouts are timed by proxy/timeouts.ts (see there why), per attempt.
  const opts: Dispatcher.DispatchOptions = { method: ex.ctx.method as Dispatcher.HttpMethod, path: target.basePath + ex.path, headers: ex.headers, body: ex.body, headersTimeout: 0, bodyTimeout: 0 };
  const attempt = new Attempt(ex, target, handler);
  ex.current = attempt;
  if (ex.opts.headersTimeout > 0 || ex.opts.bodyTimeout > 0) {
    attempt.timedLimit = ex.opts.headersTimeout;
    track(attempt);
  }
  const trace = ex.ctx.trace;
  if (trace !== undefined) attempt.span = trace.startAttempt(ex.ctx.method, target.origin, opts.path, ex.headers, target.upstream);
  target.pool.dispatch(opts, attempt);
};

/** One attempt on one target: in-flight count, health and latency reports, metrics. */
class Attempt extends TimedCall implements Dispatcher.DispatchHandler {
  readonly #ex: Exchange;
  readonly #target: Target;
  readonly #next: Dispatcher.DispatchHandler;
  readonly #sentAt = performance.now();
  /** Client span of this attempt, when the request is traced. */
  span: Span | undefined = undefined;
  #headed = false;
  #ended = false;

  constructor(ex: Exchange, target: Target, next: Dispatcher.DispatchHandler) {
    super();
    this.#ex = ex;
    this.#target = target;
    this.#next = next;
    this.timedSince = this.#sentAt;
  }

  override onConnect(abort: (err?: Error) => void): void {
    const ex = this.#ex;
    // Dropped unsent when the client left or the exchange failed before this attempt was out (see TimedCall).
    if (ex.ctx.aborted) throw new undiciErrors.RequestAbortedError('client closed the connection');
    if (ex.pendingAbort !== undefined) throw ex.pendingAbort;
    super.onConnect(abort);
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, text: string): boolean {
    this.#headed = true;
    const now = performance.now();
    const ms = now - this.#sentAt;
    this.timedHeaded = true;
    this.timedSince = now;
    this.timedLimit = this.#ex.opts.bodyTimeout;
    const t = this.#target;
    this.#ex.ctx.upstreamMs = ms;
    this.#ex.upstream.report(t, status, ms, undefined, now);
    metrics.upstreamAttempt(t.upstream, t.origin, status, ms / 1000);
    if (this.span !== undefined) endAttempt(this.span, status);
    return this.#next.onHeaders!(status, raw, resume, text);
  }

  onData(chunk: Buffer): boolean {
    this.timedSince = coarseClock();
    return this.#next.onData!(chunk);
  }

  onComplete(trailers: string[] | null): void {
    this.#end();
    this.#next.onComplete!(trailers);
  }

  onError(err: Error): void {
    // Already failed while it waited for a connection: this is undici dropping it.
    if (this.#ended) return;
    this.#end();
    if (!this.#headed) {
      const ms = performance.now() - this.#sentAt;
      const t = this.#target;
      // A client body over its limit is the client's fault: not held against the target.
      const clientFault = err instanceof RequestBodyTooLarge;
      if (!clientFault) this.#ex.upstream.report(t, 0, ms, err);
      const deadline = err instanceof GatewayError && err.code === 'GW_ERR_DEADLINE_EXCEEDED';
      const outcome = this.#ex.ctx.aborted || clientFault ? 'aborted' : deadline ? 'deadline' : outcomeOf(err);
      metrics.upstreamAttempt(t.upstream, t.origin, outcome, ms / 1000);
      if (this.span !== undefined) endAttempt(this.span, 0, outcome);
    }
    this.#next.onError!(err);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    untrack(this);
    this.#target.inFlight--;
    const ex = this.#ex;
    ex.pendingAbort = undefined;
    if (ex.current === this) ex.current = undefined;
  }
}

/** Upstream failures log at most once a second per upstream and error code. */
const failureLogGate = logGate(1000);

/** Answers a failure instead of an error response (route `fallback:`); true when it did. */
export type Fallback = (ex: Exchange, code: GatewayErrorCode) => boolean;

/**
 * The outermost handler: writes the response to the client (streaming, with
 * backpressure), or the problem response for whatever failed, or the route's fallback.
 */
export class ClientWriter implements Dispatcher.DispatchHandler {
  readonly #ex: Exchange;
  readonly #fallback: Fallback | undefined;

  constructor(ex: Exchange, fallback: Fallback | undefined) {
    this.#ex = ex;
    this.#fallback = fallback;
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    const ex = this.#ex;
    const ctx = ex.ctx;
    if (ctx.aborted) return false;
    const headers = filterResponseHeaders(raw);
    const location = ex.opts.location;
    if (location !== undefined) {
      // Attempts go one after another: the head is the last tried target's.
      const target = ex.tried?.at(-1);
      if (target !== undefined) mapLocationHeaders(headers, (v) => location(v, target, ctx));
    }
    return respondHead(ctx, status, headers, resume);
  }

  onData(chunk: Buffer): boolean {
    const ctx = this.#ex.ctx;
    if (ctx.aborted) return false;
    return respondData(ctx, chunk);
  }

  onComplete(): void {
    const ctx = this.#ex.ctx;
    if (!ctx.aborted) respondEnd(ctx);
  }

  onError(err: Error): void {
    const ex = this.#ex;
    const ctx = ex.ctx;
    ex.done = true;
    if (ctx.aborted) return;
    const code = err instanceof GatewayError ? err.code : errorCode(err);
    if (ctx.res.headersSent) {
      // Mid-body failure: cut the connection rather than let a truncated body look complete.
      // A code already set decided the response (a body policy stopped this transfer): it stays.
      ctx.errorCode ??= code;
      respondAbort(ctx);
      return;
    }
    if (this.#fallback !== undefined && this.#fallback(ex, code)) return;
    const upstream = ex.upstream.name;
    const suppressed = failureLogGate(`${upstream}|${code}`);
    if (suppressed >= 0) {
      ctx.logger.warn(
        { requestId: ctx.id, route: ctx.route?.name, upstream, target: ctx.target, attempts: ex.attempt, code, cause: (err as { code?: string }).code ?? err.message, suppressed },
        'upstream request failed',
      );
    }
    if (err instanceof RejectionError) respondError(ctx, code, err.message, err.headers);
    else if (err instanceof GatewayError) respondError(ctx, code, err.message);
    else respondError(ctx, code, describeFailure(code, upstream));
  }
}
