import { Buffer } from 'node:buffer';
import { GraphQLError } from 'graphql';
import type { RouteConfig } from '../../config/schema.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { GatewayErrorCode } from '../../errors.js';
import { getHeader, isJsonType, type HeaderList } from '../../http/headers.js';
import { subrequest, SubrequestTooLarge, type CapturedResponse } from '../../pipeline/subrequest.js';
import { failurePhrase } from '../../proxy/forward.js';
import { registerHeaderName } from '../../proxy/undici-names.js';
import type { Handler, HandlerDeps } from '../handler.js';
import { compileUpstreamCall, subcallConfig } from '../proxy/proxy.js';
import { partHeaders } from '../aggregate/aggregate.js';
import { compileWildcardRest } from '../../routing/matchers.js';
import { DEFAULT_FORWARD_HEADERS } from '../aggregate/schema.js';
import type { GraphqlResolverConfig } from './schema.js';
import { compileTarget, type Target } from './template.js';

/** One field's upstream call, compiled at load. */
export interface FieldCall {
  /** `Type.field`, for errors and logs. */
  key: string;
  upstream: string;
  method: string;
  target: Target;
  /** `undefined`: no body; `null`: all arguments; a name: that argument. */
  body: string | null | undefined;
  select: string[] | undefined;
  nullOnNotFound: boolean;
  timeout: number;
  maxBody: number;
  forward: ReadonlySet<string>;
  /** Dedupe key prefix: upstream, method and forwarded header set (calls differing in these never share). */
  dedupe: string;
  handler: Handler;
  config: RouteConfig;
}

/** What one upstream exchange gave: a JSON value, a 404, or a failure. */
type Fetched = { value: unknown } | { notFound: true } | CallFailure;

/** Why a call has no value; becomes the field error's message and `extensions`. */
class CallFailure {
  constructor(
    readonly code: 'UPSTREAM_FAILED' | 'UPSTREAM_TIMEOUT',
    readonly detail: string,
    readonly gatewayCode?: string,
  ) {}
}

/** The handler aborts calls itself with these (they are not upstream failures). */
export const CLIENT_GONE = new Error('the client went away');
class CallTimeout extends Error {}

/**
 * Compiles a resolver's call: the route's settings with the resolver's upstream, no path
 * rewrite (the path is filled per call), the same upstream machinery as `aggregate:`.
 */
export function compileFieldCall(route: RouteConfig, key: string, cfg: GraphqlResolverConfig, deps: HandlerDeps): FieldCall {
  const upstream = deps.upstreams.get(cfg.upstream);
  if (!upstream) throw new Error(`graphql resolver '${key}': unknown upstream '${cfg.upstream}'`);
  const forward = new Set((cfg.forwardHeaders ?? DEFAULT_FORWARD_HEADERS).map((h) => h.toLowerCase()));
  for (const h of forward) registerHeaderName(h);
  const config = subcallConfig(route, cfg.upstream, route.timeouts ? { timeouts: route.timeouts } : {});
  const method = cfg.method ?? 'GET';
  return {
    key,
    upstream: cfg.upstream,
    method,
    target: compileTarget(cfg.path, compileWildcardRest(route.match)),
    body: cfg.body === undefined ? undefined : cfg.body === 'args' ? null : cfg.body.slice(5),
    select: cfg.select?.split('.'),
    nullOnNotFound: cfg.nullOnNotFound ?? false,
    timeout: cfg.timeout ?? 5000,
    maxBody: cfg.maxBodySize ?? 1_048_576,
    forward,
    dedupe: `${cfg.upstream} ${method} ${[...forward].sort().join(',')} `,
    handler: { description: `upstream ${cfg.upstream}`, handle: compileUpstreamCall(config, upstream, deps) },
    config,
  };
}

/**
 * The upstream calls of one GraphQL request: identical GET calls (same upstream, method,
 * forwarded headers and filled path) share one exchange, as a DataLoader cache would
 * (there is no batch endpoint to merge them into, so batching itself adds nothing: a Map
 * of Promises is the whole mechanism). Every call in flight is cancelled when the client
 * goes away.
 */
export class RequestCalls {
  readonly #ctx: RequestContext;
  #seen: Map<string, Promise<Fetched>> | undefined = undefined;
  readonly #inFlight = new Set<AbortController>();
  #gone = false;

  constructor(ctx: RequestContext) {
    this.#ctx = ctx;
  }

  /** The client request the calls are made for. */
  get ctx(): RequestContext {
    return this.#ctx;
  }

  /** Cancels every call in flight and any started later. */
  cancel(): void {
    this.#gone = true;
    for (const ac of this.#inFlight) ac.abort(CLIENT_GONE);
  }

  /** The field's value from its upstream; throws a GraphQLError (a field error) when there is none. */
  async resolve(call: FieldCall, parent: unknown, args: Record<string, unknown>): Promise<unknown> {
    const filled = call.target.fill(parent, args, this.#ctx.params, this.#ctx.path);
    if (typeof filled !== 'object') throw fieldError(call, new CallFailure('UPSTREAM_FAILED', `cannot build the upstream path: ${filled}`));
    let fetched: Fetched;
    if (call.method === 'GET') {
      const key = call.dedupe + filled.path + filled.query;
      const seen = (this.#seen ??= new Map());
      let p = seen.get(key);
      if (p === undefined) seen.set(key, (p = this.#fetch(call, filled.path, filled.query, undefined)));
      fetched = await p;
    } else {
      const value = call.body === undefined ? undefined : call.body === null ? args : args[call.body];
      const body = call.body === undefined ? undefined : Buffer.from(JSON.stringify(value ?? null));
      fetched = await this.#fetch(call, filled.path, filled.query, body);
    }
    if (fetched instanceof CallFailure) throw fieldError(call, fetched);
    if ('notFound' in fetched) {
      if (call.nullOnNotFound) return null;
      throw fieldError(call, new CallFailure('UPSTREAM_FAILED', `upstream '${call.upstream}' answered 404`));
    }
    return call.select === undefined ? fetched.value : pick(fetched.value, call.select);
  }

  #fetch(call: FieldCall, path: string, query: string, body: Buffer | undefined): Promise<Fetched> {
    if (this.#gone) return Promise.resolve(new CallFailure('UPSTREAM_FAILED', 'the client went away'));
    const ac = new AbortController();
    this.#inFlight.add(ac);
    const timer = setTimeout(() => ac.abort(new CallTimeout()), call.timeout);
    const headers: HeaderList = partHeaders(this.#ctx.upstreamHeaders, call.forward);
    if (body !== undefined) headers.push('content-type', 'application/json');
    const part = { handler: call.handler, config: call.config, method: call.method, query, path, ...(body !== undefined ? { body } : {}) };
    return subrequest(this.#ctx, headers, call.maxBody, { part, signal: ac.signal })
      .then(
        (res) => judge(call, res),
        (err: Error) => failureOf(call, err),
      )
      .finally(() => {
        clearTimeout(timer);
        this.#inFlight.delete(ac);
      });
  }
}

/** The call's JSON value, a 404, or why it has none. */
function judge(call: FieldCall, res: CapturedResponse): Fetched {
  if (res.errorCode !== undefined) {
    const code = res.errorCode as GatewayErrorCode;
    const timeout = code === 'GW_ERR_UPSTREAM_TIMEOUT' || code === 'GW_ERR_DEADLINE_EXCEEDED';
    return new CallFailure(timeout ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_FAILED', `upstream '${call.upstream}' ${failurePhrase(code)}`, code);
  }
  if (res.status === 404) return { notFound: true };
  if (res.status < 200 || res.status > 299) return new CallFailure('UPSTREAM_FAILED', `upstream '${call.upstream}' answered ${res.status}`);
  if (res.status === 204) return { value: null };
  const encoding = getHeader(res.headers, 'content-encoding');
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return new CallFailure('UPSTREAM_FAILED', `upstream '${call.upstream}' sent a ${encoding}-encoded body`);
  const type = getHeader(res.headers, 'content-type');
  if (type === undefined || !isJsonType(type)) return new CallFailure('UPSTREAM_FAILED', `upstream '${call.upstream}' answered ${type === undefined ? 'without a content type' : `'${type.split(';')[0]!.trim()}'`}, not JSON`);
  try {
    // RFC 8259 §8.1: JSON exchanged between systems is UTF-8.
    return { value: JSON.parse(res.body.toString('utf8')) as unknown };
  } catch {
    return new CallFailure('UPSTREAM_FAILED', `upstream '${call.upstream}' sent invalid JSON`);
  }
}

function failureOf(call: FieldCall, err: Error): CallFailure {
  if (err instanceof CallTimeout) return new CallFailure('UPSTREAM_TIMEOUT', `upstream '${call.upstream}' did not answer within ${call.timeout}ms`);
  if (err instanceof SubrequestTooLarge) return new CallFailure('UPSTREAM_FAILED', `upstream '${call.upstream}' sent a body over maxBodySize (${call.maxBody} bytes)`);
  if (err === CLIENT_GONE) return new CallFailure('UPSTREAM_FAILED', 'the client went away');
  return new CallFailure('UPSTREAM_FAILED', `the exchange with upstream '${call.upstream}' was cut off`);
}

/** A field error (GraphQL spec §7.1.2): graphql-js adds the path and applies nullability. */
function fieldError(call: FieldCall, f: CallFailure): GraphQLError {
  const extensions: Record<string, unknown> = { code: f.code, upstream: call.upstream };
  if (f.gatewayCode !== undefined) extensions.gatewayCode = f.gatewayCode;
  return new GraphQLError(`${call.key}: ${f.detail}`, { extensions });
}

/** `value.a.b`, or null when a step is missing. */
function pick(value: unknown, path: readonly string[]): unknown {
  let v = value;
  for (const k of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, k)) return null;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}
