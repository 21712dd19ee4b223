import { performance } from 'node:perf_hooks';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapSetter, type Tracer } from '@opentelemetry/api';
import type { CompositePropagator, TracerProvider } from './tracing-sdk.js';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import type { TracingConfig } from '../config/ops-schema.js';
import type { RequestContext } from '../pipeline/context.js';
import { setHeader, type HeaderList } from '../http/headers.js';
import { RefCache, type RefLease } from '../util/ref-cache.js';

/**
 * OpenTelemetry traces: a SERVER span per request and a CLIENT span per upstream attempt
 * (an HTTP attempt, or a gRPC call of a `grpc:` route), exported over OTLP/HTTP in batches.
 * W3C Trace Context (`traceparent`, `tracestate`) and W3C Baggage are extracted from the
 * client and injected upstream with the client span as parent. Attributes follow the stable
 * OTel HTTP semantic conventions (the RPC ones for gRPC calls), plus `gantry.route`,
 * `gantry.consumer` and `gantry.upstream`.
 *
 * When `telemetry.tracing` is absent the runtime holds `null` and the data path does one
 * null check: no span objects, no header parsing, no context work. Incoming trace headers
 * then pass upstream untouched.
 *
 * @example
 *   const tracing = await Tracing.acquire({ endpoint: 'http://127.0.0.1:4318/v1/traces', sampleRatio: 1, … }, lease);
 *   tracing?.startServer(ctx);          // in #handle
 *   ctx.trace?.end(ctx);                // in the log phase
 *   await lease.release();              // the config version retired
 */
export class Tracing {
  readonly #provider: TracerProvider;
  readonly #tracer: Tracer;
  readonly #propagator: CompositePropagator;

  private constructor(cfg: TracingConfig, sdk: typeof import('./tracing-sdk.js')) {
    const { CompositePropagator, W3CTraceContextPropagator, W3CBaggagePropagator, TracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler, BatchSpanProcessor, OTLPTraceExporter, resourceFromAttributes } = sdk;
    this.#propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: cfg.serviceName }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(cfg.sampleRatio) }),
      spanProcessors: [
        new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: cfg.endpoint, headers: cfg.headers }), scheduledDelayMillis: cfg.flushInterval }),
      ],
    });
    this.#tracer = this.#provider.getTracer('gantry');
  }

  /**
   * A tracer for this config, or null when off. Config versions with equal settings share
   * one (its batch and exporter carry over a reload); `lease` holds this holder's share,
   * and the last release flushes and shuts the exporter down. The SDK is imported on first
   * use only.
   */
  static async acquire(cfg: TracingConfig | undefined, lease: RefLease): Promise<Tracing | null> {
    if (cfg === undefined) return null;
    return lease.add(Tracing.#shared.acquire(JSON.stringify(cfg), () => import('./tracing-sdk.js').then((sdk) => new Tracing(cfg, sdk))));
  }

  /** Tracers by settings; a failed SDK import is forgotten (RefCache), so a later load retries. */
  static readonly #shared = new RefCache<string, Promise<Tracing>>(async (opening) => {
    const t = await opening;
    await t.#provider.shutdown().catch(() => undefined);
  });

  /** Exports every finished span now (tests, drain). */
  flush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  /** Starts the server span of a request, continuing the client's trace when it sent one. */
  startServer(ctx: RequestContext): void {
    const req = ctx.req;
    const parent = req.headers.traceparent !== undefined || req.headers.baggage !== undefined ? this.#propagator.extract(ROOT_CONTEXT, req.headers, headerGetter) : ROOT_CONTEXT;
    // Attributes only for recorded spans: an unsampled request pays for a span id and the
    // propagated context, not for attribute objects nobody exports.
    const span = this.#tracer.startSpan(ctx.method, { kind: SpanKind.SERVER, startTime: performance.timeOrigin + ctx.startedAt }, parent);
    if (span.isRecording()) {
      span.setAttribute(ATTR_HTTP_REQUEST_METHOD, ctx.method);
      span.setAttribute(ATTR_URL_PATH, ctx.path);
      span.setAttribute(ATTR_URL_SCHEME, ctx.listener.scheme);
      span.setAttribute(ATTR_CLIENT_ADDRESS, ctx.clientIp);
      if (req.headers.host !== undefined) span.setAttribute(ATTR_SERVER_ADDRESS, req.headers.host.replace(/:\d+$/, ''));
      if (req.headers['user-agent'] !== undefined) span.setAttribute(ATTR_USER_AGENT_ORIGINAL, req.headers['user-agent']);
    }
    ctx.trace = new RequestTrace(this, span, trace.setSpan(parent, span), ctx);
  }

  /** Starts a client span for one upstream attempt and writes its context into `headers`. */
  startClient(parent: Context, method: string, origin: string, path: string, headers: HeaderList, attempt: number, upstream: string): Span {
    const span = this.#tracer.startSpan(method, { kind: SpanKind.CLIENT }, parent);
    if (span.isRecording()) {
      const o = originParts(origin);
      span.setAttribute(ATTR_HTTP_REQUEST_METHOD, method);
      span.setAttribute(ATTR_SERVER_ADDRESS, o.host);
      span.setAttribute(ATTR_SERVER_PORT, o.port);
      span.setAttribute(ATTR_URL_FULL, origin + path);
      span.setAttribute('gantry.upstream', upstream);
      if (attempt > 0) span.setAttribute(ATTR_HTTP_REQUEST_RESEND_COUNT, attempt);
    }
    this.#propagator.inject(trace.setSpan(parent, span), headers, headerListSetter);
    return span;
  }

  /**
   * Starts a client span for one gRPC call (`path`: `/package.Service/Method`) and writes its
   * context into `carrier` (the call's metadata) with `setter`, as `startClient` does into headers.
   */
  startRpc<C>(parent: Context, path: string, origin: string, upstream: string, carrier: C, setter: TextMapSetter<C>): Span {
    const name = path.slice(1);
    const span = this.#tracer.startSpan(name, { kind: SpanKind.CLIENT }, parent);
    if (span.isRecording()) {
      const o = originParts(origin);
      const slash = name.lastIndexOf('/');
      span.setAttribute(ATTR_RPC_SYSTEM, 'grpc');
      span.setAttribute(ATTR_RPC_SERVICE, name.slice(0, slash));
      span.setAttribute(ATTR_RPC_METHOD, name.slice(slash + 1));
      span.setAttribute(ATTR_SERVER_ADDRESS, o.host);
      span.setAttribute(ATTR_SERVER_PORT, o.port);
      span.setAttribute('gantry.upstream', upstream);
    }
    this.#propagator.inject(trace.setSpan(parent, span), carrier, setter);
    return span;
  }
}

/**
 * OTel RPC semantic conventions for gRPC (not stable yet, so not in the package's stable
 * entry point; the incubating one is a large module the data path should not load).
 */
const ATTR_RPC_SYSTEM = 'rpc.system';
const ATTR_RPC_SERVICE = 'rpc.service';
const ATTR_RPC_METHOD = 'rpc.method';
const ATTR_RPC_GRPC_STATUS_CODE = 'rpc.grpc.status_code';

/** Host and port of a target origin, parsed once per origin (origins come from config). */
const origins = new Map<string, { host: string; port: number }>();
function originParts(origin: string): { host: string; port: number } {
  let o = origins.get(origin);
  if (o === undefined) {
    const u = new URL(origin);
    o = { host: u.hostname, port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80) };
    if (origins.size > 10_000) origins.clear();
    origins.set(origin, o);
  }
  return o;
}

/** The trace of one request: its server span and the context upstream attempts use as parent. */
export class RequestTrace {
  readonly tracing: Tracing;
  readonly span: Span;
  readonly context: Context;
  /** The request whose server span this is (a subrequest that shares the trace is not). */
  readonly #owner: RequestContext;
  #attempts = 0;
  /** Why the response failed after its head (it was cut off, or a stream ended with an error), when it did. */
  #failure: string | undefined = undefined;

  constructor(tracing: Tracing, span: Span, context: Context, owner: RequestContext) {
    this.tracing = tracing;
    this.span = span;
    this.context = context;
    this.#owner = owner;
  }

  get traceId(): string {
    return this.span.spanContext().traceId;
  }

  /** A client span for the next upstream attempt (retries count up `http.request.resend_count`). */
  startAttempt(method: string, origin: string, path: string, headers: HeaderList, upstream: string): Span {
    return this.tracing.startClient(this.context, method, origin, path, headers, this.#attempts++, upstream);
  }

  /**
   * A client span for a gRPC call, its context written into `carrier` (the call's metadata);
   * undefined when the request is not sampled: the call then goes out as it would untraced.
   */
  startRpc<C>(path: string, origin: string, upstream: string, carrier: C, setter: TextMapSetter<C>): Span | undefined {
    if (!this.span.isRecording()) return undefined;
    return this.tracing.startRpc(this.context, path, origin, upstream, carrier, setter);
  }

  /**
   * The response failed after its head, where its status cannot say so: the gateway cut it
   * off (an upstream reset or idle timeout mid-body) or a stream ended with an error line.
   * The span ends as an error with `ctx.errorCode`, not as a client that went away. A
   * subrequest sharing the trace (an aggregate part) is not the response: its failure is
   * the part's, which its aggregate answers for.
   */
  failAfterHead(ctx: RequestContext, description: string): void {
    if (ctx === this.#owner) this.#failure ??= description;
  }

  /** Ends the server span in the log phase with the route, consumer and status. */
  end(ctx: RequestContext): void {
    const span = this.span;
    if (!span.isRecording()) {
      span.end();
      return;
    }
    const route = ctx.route;
    if (route !== undefined) {
      const pattern = route.config.match.path;
      if (pattern !== undefined) {
        span.setAttribute(ATTR_HTTP_ROUTE, pattern);
        span.updateName(`${ctx.method} ${pattern}`);
      }
      span.setAttribute('gantry.route', route.name);
    }
    if (ctx.consumer !== undefined) span.setAttribute('gantry.consumer', ctx.consumer.id);
    if (ctx.status > 0) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, ctx.status);
    // Server spans: only 5xx is an error (OTel HTTP semconv, span status), and a response that
    // failed after its head, which its status (200) cannot tell. `aborted` is also true for a
    // response the gateway cut off (it never finished): only without a failure did the client leave.
    if (this.#failure !== undefined) {
      // "_OTHER": the semconv's error.type when no better one is known.
      span.setAttribute(ATTR_ERROR_TYPE, ctx.errorCode ?? '_OTHER');
      span.setStatus({ code: SpanStatusCode.ERROR, message: this.#failure });
    } else if (ctx.aborted) {
      span.setAttribute(ATTR_ERROR_TYPE, 'aborted');
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'client closed the connection' });
    } else if (ctx.status >= 500) {
      span.setAttribute(ATTR_ERROR_TYPE, ctx.errorCode ?? String(ctx.status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}

/** Ends a client span: a response (any status; ≥ 400 is an error for clients) or a failure. */
export function endAttempt(span: Span, status: number, error?: string): void {
  if (status > 0) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  if (error !== undefined) {
    span.setAttribute(ATTR_ERROR_TYPE, error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  } else if (status >= 400) {
    span.setAttribute(ATTR_ERROR_TYPE, String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/**
 * Ends a gRPC client span with the call's status. Every status but OK is an error on a
 * client span (OTel RPC semconv, gRPC status → span status). `error` names a failure the
 * gateway tells apart (no status came from the server); else `error.type` is the status code.
 */
export function endRpc(span: Span, code: number, details: string, error?: string): void {
  span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, code);
  if (code !== 0) {
    span.setAttribute(ATTR_ERROR_TYPE, error ?? String(code));
    span.setStatus({ code: SpanStatusCode.ERROR, message: details });
  }
  span.end();
}

const headerGetter = {
  keys: (carrier: Record<string, unknown>) => Object.keys(carrier),
  get: (carrier: Record<string, unknown>, key: string) => carrier[key] as string | string[] | undefined,
};

const headerListSetter: TextMapSetter<HeaderList> = {
  set: (carrier, key, value) => setHeader(carrier, key, value),
};
