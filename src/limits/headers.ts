import { Buffer } from 'node:buffer';
import type { RequestContext } from '../pipeline/context.js';
import type { Reply, ResponseHead } from '../pipeline/policy.js';
import { PROBLEM_CONTENT_TYPE, problemFor, type GatewayErrorCode } from '../errors.js';

/**
 * Rate-limit response headers, for every limit a request passed through (several
 * rate-limit and quota policies may apply to one route):
 *
 * - `RateLimit-Policy: "burst";q=10;w=1` and `RateLimit: "burst";r=3;t=1`, one list member
 *   per policy (draft-ietf-httpapi-ratelimit-headers-09 §3, §4: q quota, w window seconds,
 *   r remaining, t seconds until the quota resets);
 * - legacy `X-RateLimit-Limit / -Remaining / -Reset` (delta seconds) for the tightest
 *   limit, the one with the fewest remaining units;
 * - `Retry-After` (RFC 9110 §10.2.3, delay-seconds) on a 429.
 *
 * Policies record their outcome in the request hook; the first limit policy's response
 * hook writes them all, on whatever response the request gets (upstream, 429, error).
 */
export interface LimitRecord {
  /** Precomputed `"name";q=…;w=…` item. */
  policyItem: string;
  name: string;
  limit: number;
  remaining: number;
  resetMs: number;
}

const RECORDS = Symbol('limit-records');
const EMITTED: LimitRecord[] = [];

/** Notes a limit's outcome for the response headers. */
export function recordLimit(ctx: RequestContext, policyItem: string, name: string, limit: number, remaining: number, resetMs: number): void {
  const locals = ctx.locals;
  let list = locals.get(RECORDS) as LimitRecord[] | undefined;
  if (list === undefined) {
    list = [];
    locals.set(RECORDS, list);
  } else if (list === EMITTED) return;
  list.push({ policyItem, name, limit, remaining: Math.max(0, Math.floor(remaining)), resetMs });
}

/** The structured-field item of a policy (a quoted sf-string, RFC 9651 §3.3.3). */
export function policyItem(name: string, quota: number, windowSeconds: number): string {
  return `"${name}";q=${quota};w=${windowSeconds}`;
}

/** Writes the recorded limits' headers once per request (response hook of every limit policy). */
export function emitLimitHeaders(ctx: RequestContext, head: ResponseHead): void {
  const list = ctx.locals.get(RECORDS) as LimitRecord[] | undefined;
  if (list === undefined || list === EMITTED) return;
  ctx.locals.set(RECORDS, EMITTED);
  if (list.length === 0) return;
  const h = head.headers;
  let tight = list[0]!;
  for (const r of list) {
    const t = seconds(r.resetMs);
    h.push('ratelimit-policy', r.policyItem, 'ratelimit', `"${r.name}";r=${r.remaining};t=${t}`);
    if (r.remaining < tight.remaining) tight = r;
  }
  h.push('x-ratelimit-limit', String(tight.limit), 'x-ratelimit-remaining', String(tight.remaining), 'x-ratelimit-reset', String(seconds(tight.resetMs)));
}

/** Whole seconds, rounded up (a client waiting that long will find the quota back). */
export function seconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

/**
 * A problem+json reply (RFC 9457) for a request a limit policy refuses, naming the policy.
 * `extra` adds members such as `resetAt`.
 */
export function limitReply(
  ctx: RequestContext,
  code: GatewayErrorCode,
  policy: string,
  detail: string,
  retryAfterMs: number,
  extra?: Record<string, unknown>,
): Reply {
  ctx.errorCode = code;
  const problem = problemFor(code, detail, ctx.id);
  problem.instance = ctx.path;
  problem.policy = policy;
  if (extra) Object.assign(problem, extra);
  return {
    status: problem.status,
    headers: ['content-type', PROBLEM_CONTENT_TYPE, 'cache-control', 'no-store', 'retry-after', String(Math.max(1, seconds(retryAfterMs)))],
    body: Buffer.from(JSON.stringify(problem)),
  };
}
