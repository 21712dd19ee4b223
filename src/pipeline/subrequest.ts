import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import { Readable, Writable } from 'node:stream';
import { RequestContext } from './context.js';
import type { HeaderList } from '../http/headers.js';
import type { Pipeline } from './pipeline.js';
import { holdWork } from './work.js';
import type { Handler } from '../handlers/handler.js';
import type { RouteConfig } from '../config/schema.js';

/** A response captured from a subrequest, body buffered. */
export interface CapturedResponse {
  status: number;
  headers: HeaderList;
  body: Buffer;
  /** Set when the gateway produced the response itself (upstream down, timeout, …). */
  errorCode: string | undefined;
}

/** The subrequest's response body passed its limit. */
export class SubrequestTooLarge extends Error {
  constructor(limit: number) {
    super(`subrequest body exceeds its limit of ${limit} bytes`);
    this.name = 'SubrequestTooLarge';
  }
}

const NO_POLICIES: Pipeline = { request: [], response: [], log: [], policies: [], consumers: undefined };

/**
 * Collects what the data path writes, standing in for the client's `ServerResponse`: the
 * subset handlers, `respond*` and the gateway use (writeHead with a flat header list,
 * write, end, headersSent, shouldKeepAlive, destroy, 'close'). The body is held up to
 * `limit` bytes; past it the write fails with `SubrequestTooLarge` (`overflowed` is set and
 * `onOverflow` called, to stop the upstream transfer). Subrequests and `batch:` items use it.
 */
export class CaptureResponse extends Writable {
  headersSent = false;
  shouldKeepAlive = true;
  statusCode = 0;
  head: HeaderList = [];
  overflowed = false;
  /** Called once when the body passes the limit. */
  onOverflow: (() => void) | undefined;
  readonly #chunks: Buffer[] = [];
  #bytes = 0;
  readonly #limit: number;

  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  writeHead(status: number, headers?: HeaderList): this {
    if (this.headersSent) return this;
    this.statusCode = status;
    this.head = headers ?? [];
    this.headersSent = true;
    return this;
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.#bytes += b.length;
    if (this.#bytes > this.#limit) {
      this.overflowed = true;
      this.onOverflow?.();
      return cb(new SubrequestTooLarge(this.#limit));
    }
    this.#chunks.push(b);
    cb();
  }

  body(): Buffer {
    return Buffer.concat(this.#chunks, this.#bytes);
  }
}

/** How a subrequest relates to its client request. */
export interface SubrequestOptions {
  /**
   * The subrequest is the client request's own upstream exchange: the client's response is
   * made from it (the `etag` policy, the `cache` policy's refetch after a 304 that selected
   * nothing stored). It sends the client's shadow copy (`mirror:`) when the request has not
   * sent one, and it is cancelled when the client goes away. Default
   * (false): background work, never shadowed, which runs on after the client left.
   */
  asClient?: boolean;
  /**
   * A request of the gateway's own making instead of the client's: `handler` runs (seeing
   * `config` as its route config) with this method and query, and no request body is sent.
   * Used by `aggregate:` for each of its parts, and by `graphql:` for each upstream call.
   */
  part?: SubrequestPart;
  /** Aborting it stops the exchange; the Promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** See SubrequestOptions.part. */
export interface SubrequestPart {
  handler: Handler;
  config: RouteConfig;
  method: string;
  /** Query string with its `?`, or `''`. */
  query: string;
  /** The request path the handler sees (and forwards unless its config rewrites it); default: the client's. */
  path?: string;
  /** A request body to send (held in memory: a `batch:` sub-request's, a `graphql:` mutation's arguments as JSON); without it a part sends none. */
  body?: Buffer;
}

/** Sent as the body of a part when the client's request has one (the part must not read the client's stream). */
const NO_BODY = Buffer.alloc(0);

/**
 * Runs a route's target again for a request, off the client's connection: the handler
 * only (no policies), with the given upstream headers, the body buffered up to `maxBody`.
 * Used for background work such as cache revalidation (RFC 5861 stale-while-revalidate),
 * or, with `asClient`, for the client's own exchange read whole (the `etag` policy).
 * Counted as the request's background work (`ctx.work`) until the response is complete or
 * cut off: a drain or a retiring config waits for it. Start it while the request is in
 * flight, or under a `holdWork` of your own.
 * Resolves once the response is complete; rejects when it is cut off (also when the client
 * of an `asClient` subrequest goes away), or with `SubrequestTooLarge` (the upstream
 * transfer is then stopped) when it exceeds `maxBody`.
 *
 * @example
 *   const res = await subrequest(ctx, ctx.upstreamHeaders.slice(), 1 << 20, { asClient: true });
 *   if (res.status === 200) tag(res.body);
 */
export function subrequest(ctx: RequestContext, upstreamHeaders: HeaderList, maxBody: number, options?: SubrequestOptions): Promise<CapturedResponse> {
  const route = ctx.route;
  if (route === undefined) return Promise.reject(new Error('subrequest needs a routed request'));
  if (ctx.aborted) return Promise.reject(new Error('the client went away'));
  const capture = new CaptureResponse(maxBody);
  const sub = subContext(ctx, capture, upstreamHeaders, options?.part);
  // Stops the upstream exchange and closes the capture: the count ends, the Promise rejects.
  const stop = () => {
    if (capture.destroyed) return;
    cancel(sub);
    capture.destroy();
  };
  // Counted until the response is complete or cut off (a drain or a retiring config waits).
  const done = holdWork(ctx, stop);
  capture.once('close', done);
  if (options?.asClient === true) asClient(ctx, sub, stop);
  let overflowed = false;
  capture.onOverflow = () => {
    overflowed = true;
    // Stop the upstream transfer once this write has unwound.
    queueMicrotask(() => sub.cancelable?.cancel());
  };
  const signal = options?.signal;
  if (signal !== undefined) {
    signal.addEventListener('abort', stop, { once: true });
    capture.once('close', () => signal.removeEventListener('abort', stop));
  }
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => reject(signal?.aborted === true ? (signal.reason as Error) : overflowed ? new SubrequestTooLarge(maxBody) : err);
    capture.once('finish', () => resolve({ status: capture.statusCode, headers: capture.head, body: capture.body(), errorCode: sub.errorCode }));
    capture.once('error', fail);
    capture.once('close', () => {
      if (!capture.writableFinished) fail(new Error('subrequest response was cut off'));
    });
    if (signal?.aborted === true) return stop();
    try {
      sub.route!.handler.handle(sub);
    } catch (e) {
      done();
      reject(e as Error);
    }
  });
}

/**
 * Makes `sub` the client's own exchange (see SubrequestOptions.asClient): it takes the
 * client's shadow copy, and the client going away (the gateway cancels `ctx.cancelable`)
 * calls `stop`. A handler that runs for the client later sets its own `cancelable`.
 */
function asClient(ctx: RequestContext, sub: RequestContext, stop: () => void): void {
  sub.mayMirror = ctx.mayMirror;
  ctx.mayMirror = false;
  const prev = ctx.cancelable;
  ctx.cancelable = prev === undefined ? { cancel: stop } : { cancel: () => (stop(), prev.cancel()) };
}

/** Stops a subrequest's upstream exchange, as if its client went away (marked aborted first, so the handler drops it). */
function cancel(sub: RequestContext): void {
  sub.aborted = true;
  sub.cancelable?.cancel();
}

/** A subrequest's response whose body streams (see `subrequestStream`). */
export interface StreamedResponse {
  status: number;
  headers: HeaderList;
  /**
   * The body, with backpressure to the upstream. It errors when the response is cut off;
   * destroying it stops the upstream transfer.
   */
  body: Readable;
  /** Set when the gateway produced the response itself, or when it failed mid-body. */
  readonly errorCode: string | undefined;
}

/**
 * Stands in for the client's `ServerResponse` like `CaptureResponse`, but hands the body on
 * as a Readable: a write completes only once the reader took the chunk, so a slow reader
 * slows the upstream instead of filling memory.
 */
class StreamResponse extends Writable {
  headersSent = false;
  readonly body: Readable;
  onHead: (status: number, headers: HeaderList) => void = () => {};
  /** Stops the upstream transfer (the reader gave up on the body). */
  onCancel: () => void = () => {};
  #pending: ((err?: Error | null) => void) | undefined;

  constructor() {
    super();
    this.body = new Readable({
      read: () => {
        const next = this.#pending;
        this.#pending = undefined;
        next?.();
      },
      destroy: (err, cb) => {
        if (!this.writableFinished) this.onCancel();
        cb(err);
      },
    });
    // Failures reach the reader through `body`.
    this.on('error', () => {});
  }

  writeHead(status: number, headers: HeaderList): this {
    this.headersSent = true;
    this.onHead(status, headers);
    return this;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.body.push(chunk)) cb();
    else this.#pending = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.body.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Before a head nobody holds the body (and would see an error): the Promise rejects instead.
    if (!this.writableFinished) this.body.destroy(this.headersSent ? (err ?? new Error('subrequest response was cut off')) : undefined);
    cb(err);
  }
}

/**
 * Like `subrequest`, but resolves as soon as the response head arrives, with the body as
 * a stream of any length: for responses that may be too large to hold (a cache refetch
 * that streams to the client and is stored only if it fits). The caller must consume or
 * destroy the body. Rejects when the exchange fails before a head (the handler answers
 * upstream failures with its own error response, so that is rare), or, with `asClient`,
 * when the client goes away before it; a client going away later errors the body. Either
 * way the upstream exchange is stopped at once.
 *
 * @example
 *   const res = await subrequestStream(ctx, ctx.upstreamHeaders.slice(), { asClient: true });
 *   pipeline(res.body, sink, (err) => {});
 */
export function subrequestStream(ctx: RequestContext, upstreamHeaders: HeaderList, options?: SubrequestOptions): Promise<StreamedResponse> {
  const route = ctx.route;
  if (route === undefined) return Promise.reject(new Error('subrequest needs a routed request'));
  if (options?.asClient === true && ctx.aborted) return Promise.reject(new Error('the client went away'));
  const out = new StreamResponse();
  const sub = subContext(ctx, out, upstreamHeaders);
  // Counted until the handler wrote the whole body or the exchange was cut off.
  const done = holdWork(ctx, () => cancel(sub));
  out.once('close', done);
  // The reader gave up on the body: the handler drops an aborted exchange without closing
  // `out`, so the count ends here.
  out.onCancel = () => {
    cancel(sub);
    done();
  };
  // Destroying `out` cuts the body off (onCancel above) or, before a head, rejects.
  if (options?.asClient === true) asClient(ctx, sub, () => out.destroy());
  return new Promise((resolve, reject) => {
    out.onHead = (status, headers) =>
      resolve({
        status,
        headers,
        body: out.body,
        get errorCode() {
          return sub.errorCode;
        },
      });
    out.once('close', () => {
      if (!out.headersSent) reject(new Error('subrequest response was cut off'));
    });
    try {
      route.handler.handle(sub);
    } catch (e) {
      done();
      reject(e as Error);
    }
  });
}

/** A request context for the route's handler alone, answering into `res`. */
function subContext(ctx: RequestContext, res: Writable, upstreamHeaders: HeaderList, part?: SubrequestPart): RequestContext {
  const route = ctx.route!;
  const sub = new RequestContext(ctx.req, res as unknown as ServerResponse, ctx.listener, part?.path ?? ctx.path, part?.query ?? ctx.query, ctx.clientIp, performance.now(), ctx.logger, part?.method);
  if (part === undefined) sub.route = { ...route, pipeline: NO_POLICIES };
  else {
    sub.route = { ...route, config: part.config, handler: part.handler, pipeline: NO_POLICIES };
    // A part is an upstream attempt of the client's request: a client span under its server span.
    sub.trace = ctx.trace;
    const h = ctx.req.headers;
    if (part.body !== undefined) sub.body = part.body;
    else if (h['content-length'] !== undefined || h['transfer-encoding'] !== undefined) sub.body = NO_BODY;
  }
  sub.params = ctx.params;
  sub.consumer = ctx.consumer;
  sub.tenant = ctx.tenant;
  sub.id = ctx.id;
  sub.work = ctx.work;
  // Background work is not shadowed (`mirror:`); see SubrequestOptions.asClient.
  sub.mayMirror = false;
  const headers = sub.upstreamHeaders;
  headers.length = 0;
  for (let i = 0; i < upstreamHeaders.length; i++) headers.push(upstreamHeaders[i]!);
  return sub;
}
