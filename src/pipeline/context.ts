import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import type { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { getHeader, removeHeader, setHeader, type HeaderList } from '../http/headers.js';
import { buildUpstreamHeaders } from '../proxy/headers.js';
import type { CompiledRoute } from '../routing/route.js';
import type { ListenerInfo } from '../listeners/listener-info.js';
import type { RequestTrace } from '../observability/tracing.js';
import type { WorkTracker } from './work.js';
import type { UpgradeRequest } from '../proxy/tunnel.js';

/** An identity known to the gateway (see DESIGN: Consumer). Set by authentication policies. */
export interface Consumer {
  id: string;
  tenant?: string | undefined;
  tier?: string | undefined;
  /** Scopes or roles granted to this request's credential. */
  scopes?: readonly string[] | undefined;
  /** Verified token claims, when the credential was a token. */
  claims?: Readonly<Record<string, unknown>> | undefined;
}

/** Wraps the response body stream; e.g. `(src) => src.pipe(zlib.createGzip())`. */
export type BodyWrapper = (body: Readable, ctx: RequestContext) => Readable;

/** Maps a complete response body to another (e.g. `(b) => zlib.gzipSync(b)`). */
export type BodyMapper = (body: Buffer, ctx: RequestContext) => Buffer;

/** Internal: a response whose head waits for its whole body (see `mapResponseBody`). */
export interface HeldResponse {
  status: number;
  headers: string[];
  chunks: Buffer[];
  size: number;
}

/**
 * Everything known about one request as it moves through the pipeline. One object per
 * request with a fixed shape; policies read it and write the few fields meant for them.
 */
export class RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly listener: ListenerInfo;
  /** `performance.now()` at accept. */
  readonly startedAt: number;
  /** Normalised path: the path that matched, and the path forwarded (before rewrite). */
  readonly path: string;
  /** Raw query string including the leading `?`, or `''`. Forwarded as is; a policy may rewrite it (e.g. drop a credential). */
  query: string;
  readonly method: string;
  /** Client address: the socket peer, or the first untrusted hop of `X-Forwarded-For` from a trusted proxy. */
  readonly clientIp: string;

  route: CompiledRoute | undefined = undefined;
  params: Record<string, string | undefined> = EMPTY_PARAMS;
  consumer: Consumer | undefined = undefined;
  tenant: string | undefined = undefined;

  /** Response status once known (0 until the head is written). */
  status = 0;
  /** Target that served the request (`http://host:port`), for logs. */
  target = '';
  /** ms from dispatch to upstream response head, -1 when no upstream was called. */
  upstreamMs = -1;
  /** Response body bytes written to the client (after body mappers, compression, cache replacement). */
  bytesOut = 0;
  /** Set when the gateway answered with one of its own errors. */
  errorCode: string | undefined = undefined;
  /** The client went away before the response finished. */
  aborted = false;
  /** Set when the request is a WebSocket upgrade on a `websocket: true` route (handlers/proxy/websocket.ts). */
  upgrade: UpgradeRequest | undefined = undefined;

  /** The request body when a policy has read it (then it is forwarded instead of the stream). */
  body: Buffer | undefined = undefined;
  /** Most request-body bytes accepted (`request-size` policy); enforced where the body is read or forwarded. */
  requestBodyLimit = Infinity;
  /** Internal: the readable side of the body-wrapper chain, once the head is written with wrappers. */
  sink: Readable | undefined = undefined;
  /** Internal: the response held back while its body is collected for body mappers. */
  held: HeldResponse | undefined = undefined;
  readonly logger: Logger;
  /** The request's server span when tracing is on (undefined otherwise: nothing to pay). */
  trace: RequestTrace | undefined = undefined;
  /** Set by the handler: stops upstream work when the client goes away. */
  cancelable: { cancel(): void } | undefined = undefined;
  /** Internal: counts work this request starts that may outlive it (subrequests); set by the gateway. */
  work: WorkTracker | undefined = undefined;
  /**
   * Internal: this request may still send its one shadow copy (`mirror:`). The mirror clears
   * it; a subrequest has none of its own (background work is not shadowed) unless it stands
   * for the client's exchange, which then takes the client's (`subrequest`, `asClient`).
   */
  mayMirror = true;

  #id: string | undefined = undefined;
  #upstreamHeaders: HeaderList | undefined = undefined;
  #responseHeaders: HeaderList | undefined = undefined;
  #bodyWrappers: BodyWrapper[] | undefined = undefined;
  #bodyMappers: BodyMapper[] | undefined = undefined;
  #mapLimit = Infinity;
  #locals: Map<unknown, unknown> | undefined = undefined;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    listener: ListenerInfo,
    path: string,
    query: string,
    clientIp: string,
    startedAt: number,
    logger: Logger,
    /** The method sent upstream when it is not the client's (a subrequest of the gateway's own, e.g. an `aggregate:` part). */
    method?: string,
  ) {
    this.logger = logger;
    this.req = req;
    this.res = res;
    this.listener = listener;
    this.method = method ?? req.method ?? 'GET';
    this.path = path;
    this.query = query;
    this.clientIp = clientIp;
    this.startedAt = startedAt;
  }

  /** Correlation id; generated (UUID v4) on first use when no policy set one. */
  get id(): string {
    return (this.#id ??= randomUUID());
  }
  set id(value: string) {
    this.#id = value;
  }
  /** Whether an id has been assigned yet (without generating one). */
  get hasId(): boolean {
    return this.#id !== undefined;
  }

  /** A lower-case request header from the client, as received. */
  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  /**
   * Headers that will be sent upstream: the client's, minus hop-by-hop ones (RFC 9110
   * §7.6.1). Built on first use; policies edit this list in the request phase.
   */
  get upstreamHeaders(): HeaderList {
    return (this.#upstreamHeaders ??= buildUpstreamHeaders(this.req.rawHeaders));
  }
  get hasUpstreamHeaders(): boolean {
    return this.#upstreamHeaders !== undefined;
  }
  setRequestHeader(name: string, value: string): void {
    setHeader(this.upstreamHeaders, name, value);
  }
  removeRequestHeader(name: string): void {
    removeHeader(this.upstreamHeaders, name);
  }
  getRequestHeader(name: string): string | undefined {
    return getHeader(this.upstreamHeaders, name);
  }

  /** Headers policies add to whatever response this request gets (including gateway errors). */
  addResponseHeader(name: string, value: string): void {
    (this.#responseHeaders ??= []).push(name, value);
  }
  get extraResponseHeaders(): HeaderList | undefined {
    return this.#responseHeaders;
  }

  /** Registers a wrapper around the response body stream (compression, transforms, cache fill). */
  wrapResponseBody(wrapper: BodyWrapper): void {
    (this.#bodyWrappers ??= []).push(wrapper);
  }
  get bodyWrappers(): readonly BodyWrapper[] | undefined {
    return this.#bodyWrappers;
  }

  /**
   * Maps the whole response body once it is complete: the response head waits for the
   * body, so the mapped body goes out with an exact Content-Length in one write, and no
   * stream is built. For bodies known to be small (a policy checks Content-Length first);
   * a body over `maxBytes` is answered with 502 instead. Mappers run in the order
   * registered, before any wrapper registered after them. Returns false (and registers
   * nothing) when a body wrapper is already in place, since the wrapper must see the body
   * first: the caller then wraps the stream instead.
   */
  mapResponseBody(mapper: BodyMapper, maxBytes = Infinity): boolean {
    if (this.#bodyWrappers !== undefined) return false;
    (this.#bodyMappers ??= []).push(mapper);
    if (maxBytes < this.#mapLimit) this.#mapLimit = maxBytes;
    return true;
  }
  get bodyMappers(): readonly BodyMapper[] | undefined {
    return this.#bodyMappers;
  }
  /** The smallest `maxBytes` any mapper asked for. */
  get mapLimit(): number {
    return this.#mapLimit;
  }

  /** Per-request state for policies, keyed by anything (use a module-private symbol). */
  get locals(): Map<unknown, unknown> {
    return (this.#locals ??= new Map());
  }

  /** ms since accept. */
  elapsed(): number {
    return performance.now() - this.startedAt;
  }
}

const EMPTY_PARAMS: Record<string, string | undefined> = Object.freeze({}) as Record<string, string | undefined>;
