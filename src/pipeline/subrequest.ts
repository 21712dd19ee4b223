import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { RequestContext } from './context.js';
import type { HeaderList } from '../http/headers.js';
import type { Pipeline } from './pipeline.js';

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

const NO_POLICIES: Pipeline = { request: [], response: [], log: [], policies: [] };

/**
 * Collects what a handler writes, standing in for the client's `ServerResponse`: the
 * subset handlers and `respond*` use (writeHead, write, end, headersSent, destroy).
 */
class CaptureResponse extends Writable {
  headersSent = false;
  status = 0;
  head: HeaderList = [];
  readonly #chunks: Buffer[] = [];
  #bytes = 0;
  readonly #limit: number;

  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  writeHead(status: number, headers: HeaderList): this {
    this.status = status;
    this.head = headers;
    this.headersSent = true;
    return this;
  }

  /** Called once when the body passes the limit (to stop the upstream transfer). */
  onOverflow: (() => void) | undefined;

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#limit) {
      this.onOverflow?.();
      return cb(new SubrequestTooLarge(this.#limit));
    }
    this.#chunks.push(chunk);
    cb();
  }

  body(): Buffer {
    return Buffer.concat(this.#chunks, this.#bytes);
  }
}

/**
 * Runs a route's target again for a request, off the client's connection: the handler
 * only (no policies), with the given upstream headers, the body buffered up to `maxBody`.
 * Used for background work such as cache revalidation (RFC 5861 stale-while-revalidate).
 * Resolves once the response is complete; rejects when it is cut off, or with
 * `SubrequestTooLarge` (the upstream transfer is then stopped) when it exceeds `maxBody`.
 *
 * @example
 *   const res = await subrequest(ctx, [...ctx.upstreamHeaders, 'if-none-match', etag], 1 << 20);
 *   if (res.status === 304) refresh(entry, res.headers);
 */
export function subrequest(ctx: RequestContext, upstreamHeaders: HeaderList, maxBody: number): Promise<CapturedResponse> {
  const route = ctx.route;
  if (route === undefined) return Promise.reject(new Error('subrequest needs a routed request'));
  const capture = new CaptureResponse(maxBody);
  const sub = new RequestContext(ctx.req, capture as unknown as ServerResponse, ctx.listener, ctx.path, ctx.query, ctx.clientIp, performance.now(), ctx.logger);
  sub.route = { ...route, pipeline: NO_POLICIES };
  sub.params = ctx.params;
  sub.consumer = ctx.consumer;
  sub.tenant = ctx.tenant;
  sub.id = ctx.id;
  const headers = sub.upstreamHeaders;
  headers.length = 0;
  for (let i = 0; i < upstreamHeaders.length; i++) headers.push(upstreamHeaders[i]!);
  let overflowed = false;
  capture.onOverflow = () => {
    overflowed = true;
    // Stop the upstream transfer once this write has unwound.
    queueMicrotask(() => sub.cancelable?.cancel());
  };
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => reject(overflowed ? new SubrequestTooLarge(maxBody) : err);
    capture.once('finish', () => resolve({ status: capture.status, headers: capture.head, body: capture.body(), errorCode: sub.errorCode }));
    capture.once('error', fail);
    capture.once('close', () => {
      if (!capture.writableFinished) fail(new Error('subrequest response was cut off'));
    });
    try {
      route.handler.handle(sub);
    } catch (e) {
      reject(e as Error);
    }
  });
}
