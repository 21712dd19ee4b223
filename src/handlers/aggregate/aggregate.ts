import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { RouteConfig } from '../../config/schema.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { GatewayErrorCode } from '../../errors.js';
import { getHeader, isJsonType, type HeaderList } from '../../http/headers.js';
import { respondError, respondReply } from '../../pipeline/respond.js';
import { subrequest, SubrequestTooLarge, type CapturedResponse, type SubrequestPart } from '../../pipeline/subrequest.js';
import { logGate } from '../../observability/logger.js';
import { registerHeaderName } from '../../proxy/undici-names.js';
import type { Handler, HandlerDeps } from '../handler.js';
import { compileUpstreamCall, subcallConfig } from '../proxy/proxy.js';
import { failurePhrase } from '../../proxy/forward.js';
import { DEFAULT_FORWARD_HEADERS, type AggregatePartConfig } from './schema.js';

/** Response header naming the optional parts that failed (comma-separated, in config order). */
export const PARTIAL_HEADER = 'x-aggregate-partial';

/** Required-part failures log at most once a second per route and part. */
const failureLogGate = logGate(1000);

/** One part, compiled at load. */
interface Part {
  name: string;
  upstream: string;
  /** `"name":` as bytes, spliced into the merged body. */
  key: Buffer;
  optional: boolean;
  timeout: number;
  maxBody: number;
  forwardQuery: boolean;
  forward: ReadonlySet<string>;
  /** The subrequest target minus the per-request query. */
  handler: Handler;
  config: RouteConfig;
  method: string;
}

/** Why a part has no value. */
interface PartFailure {
  code: GatewayErrorCode;
  detail: string;
}

/** Reasons the handler aborts parts itself (their Promises reject with these; they are not failures). */
const CLIENT_GONE = new Error('the client went away');
const ANSWERED = new Error('the aggregate already answered');

class PartTimeout extends Error {}

const OPEN = Buffer.from('{');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from('}');
const NULL = Buffer.from('null');

/**
 * `aggregate:`: one request per part to its upstream, all in parallel, merged into one JSON
 * object `{ <part>: <body>, … }` (the KrakenD / Tyk style of aggregation). Each part is a
 * subrequest (pipeline/subrequest.ts) running a full upstream call compiled at load
 * (balancer, health, breaker, upstream retries, pool, attempt metrics), with its path from
 * the part's template and the route's params. Part bodies are checked as JSON and spliced
 * into the response as sent, without re-serialising.
 *
 * A required part that fails (connect error, non-2xx, not JSON, over `maxBodySize`) answers
 * 502, or 504 on its `timeout`, at once, and the other parts are cancelled; an optional one
 * becomes `null` and is named in `X-Aggregate-Partial`. The client going away cancels
 * every part.
 *
 * @example
 *   aggregate:
 *     product: { upstream: catalog,   path: /products/{params.id} }
 *     stock:   { upstream: inventory, path: /stock/{params.id}, optional: true, timeout: 1s }
 */
export function createAggregateHandler(route: RouteConfig, deps: HandlerDeps): Handler {
  const parts: Part[] = Object.entries(route.aggregate!).map(([name, cfg]) => compilePart(route, name, cfg, deps));
  const n = parts.length;

  const handle = function aggregate(ctx: RequestContext): void {
    const values: (Buffer | undefined)[] = new Array(n);
    const failed: boolean[] = new Array(n).fill(false);
    const controllers: AbortController[] = new Array(n);
    let pending = n;
    let answered = false;
    const abortAll = (reason: Error) => {
      for (let i = 0; i < n; i++) controllers[i]!.abort(reason);
    };
    for (let i = 0; i < n; i++) controllers[i] = new AbortController();
    ctx.cancelable = { cancel: () => abortAll(CLIENT_GONE) };

    const settle = (i: number, out: Buffer | PartFailure | undefined) => {
      if (answered || out === undefined || ctx.aborted) return;
      const p = parts[i]!;
      if (!Buffer.isBuffer(out)) {
        if (!p.optional) {
          answered = true;
          ctx.upstreamMs = performance.now() - sentAt;
          abortAll(ANSWERED);
          logFailure(ctx, p, out);
          respondError(ctx, out.code, `Aggregate part '${p.name}' failed: ${out.detail}`);
          return;
        }
        failed[i] = true;
      } else {
        values[i] = out;
      }
      if (--pending > 0) return;
      answered = true;
      ctx.upstreamMs = performance.now() - sentAt;
      respondMerged(ctx, parts, values, failed);
    };

    const headers = ctx.upstreamHeaders;
    // upstreamMs of an aggregate: from sending the parts to the last answer it waited for.
    const sentAt = performance.now();
    for (let i = 0; i < n; i++) {
      const p = parts[i]!;
      const ac = controllers[i]!;
      const timer = setTimeout(() => ac.abort(new PartTimeout()), p.timeout);
      const target: SubrequestPart = { handler: p.handler, config: p.config, method: p.method, query: p.forwardQuery ? ctx.query : '' };
      subrequest(ctx, partHeaders(headers, p.forward), p.maxBody, { part: target, signal: ac.signal })
        .then(
          (res) => judge(p, res),
          (err: Error) => failureOf(p, err),
        )
        .then((out) => {
          clearTimeout(timer);
          settle(i, out);
        });
    }
  };

  return { description: `aggregate ${parts.map((p) => `${p.name}:${p.upstream}${p.optional ? '?' : ''}`).join(' ')}`, handle };
}

/** A part's upstream call: the route's settings with the part's upstream and path template. */
function compilePart(route: RouteConfig, name: string, cfg: AggregatePartConfig, deps: HandlerDeps): Part {
  const upstream = deps.upstreams.get(cfg.upstream);
  if (!upstream) throw new Error(`aggregate part '${name}': unknown upstream '${cfg.upstream}'`);
  const forward = new Set((cfg.forwardHeaders ?? DEFAULT_FORWARD_HEADERS).map((h) => h.toLowerCase()));
  for (const h of forward) registerHeaderName(h);
  const config = subcallConfig(route, cfg.upstream, { rewrite: { path: cfg.path }, ...(route.timeouts ? { timeouts: route.timeouts } : {}) });
  const call = compileUpstreamCall(config, upstream, deps);
  return {
    name,
    upstream: cfg.upstream,
    key: Buffer.from(`${JSON.stringify(name)}:`),
    optional: cfg.optional ?? false,
    timeout: cfg.timeout ?? 5000,
    maxBody: cfg.maxBodySize ?? 1_048_576,
    forwardQuery: cfg.query ?? true,
    forward,
    handler: { description: `upstream ${cfg.upstream}`, handle: call },
    config,
    method: cfg.method ?? 'GET',
  };
}

/** The headers a part sends: the listed ones from the request (as policies left them), and `Accept: application/json` unless `accept` is listed. */
export function partHeaders(from: HeaderList, forward: ReadonlySet<string>): HeaderList {
  const out: HeaderList = forward.has('accept') ? [] : ['accept', 'application/json'];
  for (let i = 0; i < from.length; i += 2) {
    const k = from[i]!;
    if (forward.has(k.toLowerCase())) out.push(k, from[i + 1]!);
  }
  return out;
}

/** The part's JSON body, or why it has none. */
function judge(p: Part, res: CapturedResponse): Buffer | PartFailure {
  if (res.errorCode !== undefined) {
    const code = res.errorCode as GatewayErrorCode;
    const timeout = res.errorCode === 'GW_ERR_UPSTREAM_TIMEOUT' || res.errorCode === 'GW_ERR_DEADLINE_EXCEEDED';
    return { code: timeout ? 'GW_ERR_AGGREGATE_PART_TIMEOUT' : 'GW_ERR_AGGREGATE_PART_FAILED', detail: `upstream '${p.upstream}' ${failurePhrase(code)}` };
  }
  if (res.status < 200 || res.status > 299) return bad(`upstream answered ${res.status}`);
  if (res.status === 204) return NULL;
  const encoding = getHeader(res.headers, 'content-encoding');
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return bad(`upstream sent a ${encoding}-encoded body`);
  const type = getHeader(res.headers, 'content-type');
  if (type === undefined || !isJsonType(type)) return bad(`upstream answered ${type === undefined ? 'without a content type' : `'${type.split(';')[0]!.trim()}'`}, not JSON`);
  try {
    // RFC 8259 §8.1: JSON exchanged between systems is UTF-8.
    JSON.parse(res.body.toString('utf8'));
  } catch {
    return bad('upstream sent invalid JSON');
  }
  return res.body;
}

/** `application/json` or a `+json` structured syntax suffix (RFC 6839 §3.1). */
function bad(detail: string): PartFailure {
  return { code: 'GW_ERR_AGGREGATE_PART_FAILED', detail };
}

/** Why the subrequest was cut off; undefined when the handler stopped it itself. */
function failureOf(p: Part, err: Error): PartFailure | undefined {
  if (err === CLIENT_GONE || err === ANSWERED) return undefined;
  if (err instanceof PartTimeout) return { code: 'GW_ERR_AGGREGATE_PART_TIMEOUT', detail: `upstream '${p.upstream}' did not answer within ${p.timeout}ms` };
  if (err instanceof SubrequestTooLarge) return bad(`the body exceeds maxBodySize (${p.maxBody} bytes)`);
  return bad(`the exchange with upstream '${p.upstream}' was cut off`);
}

/** 200 with `{ <part>: <body>, … }`; failed optional parts are `null` and named in X-Aggregate-Partial. */
function respondMerged(ctx: RequestContext, parts: readonly Part[], values: readonly (Buffer | undefined)[], failed: readonly boolean[]): void {
  const chunks: Buffer[] = [OPEN];
  let missing: string | undefined;
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) chunks.push(COMMA);
    chunks.push(parts[i]!.key, failed[i] ? NULL : values[i]!);
    if (failed[i]) missing = missing === undefined ? parts[i]!.name : `${missing}, ${parts[i]!.name}`;
  }
  chunks.push(CLOSE);
  const body = Buffer.concat(chunks);
  const headers: HeaderList = ['content-type', 'application/json', 'content-length', String(body.length)];
  if (missing !== undefined) headers.push(PARTIAL_HEADER, missing);
  respondReply(ctx, { status: 200, headers, body });
}

function logFailure(ctx: RequestContext, p: Part, f: PartFailure): void {
  const suppressed = failureLogGate(`${ctx.route?.name}|${p.name}`);
  if (suppressed < 0) return;
  ctx.logger.warn({ requestId: ctx.id, route: ctx.route?.name, part: p.name, upstream: p.upstream, code: f.code, detail: f.detail, suppressed }, 'aggregate part failed');
}
