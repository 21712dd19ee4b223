import { Type } from '@sinclair/typebox';
import { Agent, request } from 'undici';
import { definePolicy } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { Duration, HttpUrl } from '../../config/types.js';
import { VerifiedCache, type Loaded } from '../auth/verified-cache.js';
import { consumerView, denied } from '../auth/authz.js';
import { AUTHZ_RESULTS, counters } from '../auth/counters.js';
import { problemReply } from '../auth/authenticator.js';

/**
 * `opa`: asks Open Policy Agent for the decision through its Data API
 * (`POST <url>/v1/data/<path>` with `{ "input": … }` → `{ "result": … }`). The result must
 * be `true` or `{ "allow": true }`; anything else denies (403). OPA unreachable, slow,
 * erroring or returning no result: 503, fail closed. Decisions are cached per distinct
 * input for `cacheTtl`, so a repeated decision costs no call and no Promise.
 *
 * @example
 *   - opa: { url: http://127.0.0.1:8181, path: httpapi/authz/allow, timeout: 250ms, cacheTtl: 10s, headers: [x-tenant] }
 */
export const schema = Type.Object(
  {
    url: HttpUrl({ description: 'OPA base URL.' }),
    path: Type.String({ pattern: '^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)*$', description: 'Document path under /v1/data, e.g. `httpapi/authz/allow`.' }),
    timeout: Duration({ default: '500ms', description: 'Time allowed for one decision; longer → 503.' }),
    cacheTtl: Duration({ default: '10s', description: 'How long a decision is reused for the same input; 0 disables.' }),
    cacheSize: Type.Integer({ minimum: 1, default: 10_000, description: 'Decisions kept (LRU).' }),
    headers: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Request headers included in input.headers. Only those listed are sent, which keeps secrets out of OPA and the cache effective.',
    }),
  },
  { additionalProperties: false },
);

const ALLOW = 1;
const DENY = 2;

/** `result` → allow? OPA returns no `result` at all when the document is undefined. */
function allows(body: unknown): boolean | undefined {
  if (typeof body !== 'object' || body === null || !('result' in body)) return undefined;
  const r = (body as { result: unknown }).result;
  return r === true || (typeof r === 'object' && r !== null && (r as { allow?: unknown }).allow === true);
}

export default definePolicy({
  name: 'opa',
  description: 'Delegates the decision to Open Policy Agent (Data API), with a timeout, a decision cache and fail-closed errors.',
  schema,
  create(config, deps) {
    const count = counters('opa', deps.routeName, AUTHZ_RESULTS);
    const endpoint = `${config.url.replace(/\/$/, '')}/v1/data/${config.path}`;
    const headerNames = config.headers.map((h) => h.toLowerCase());
    const cache = new VerifiedCache<number>(config.cacheTtl > 0 ? config.cacheSize : 0);
    const agent = new Agent({ connections: 32, keepAliveTimeout: 30_000 });

    const input = (ctx: RequestContext): string => {
      const headers: Record<string, string> = {};
      for (const h of headerNames) {
        const v = ctx.header(h);
        if (v !== undefined) headers[h] = v;
      }
      return JSON.stringify({
        input: {
          method: ctx.method,
          path: ctx.path,
          query: ctx.query.length > 1 ? ctx.query.slice(1) : '',
          route: ctx.route?.name ?? null,
          params: ctx.params,
          headers,
          ip: ctx.clientIp,
          consumer: consumerView(ctx),
          claims: ctx.consumer?.claims ?? {},
        },
      });
    };

    const ask = async (body: string): Promise<Loaded<number, number | undefined>> => {
      try {
        const res = await request(endpoint, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body,
          signal: AbortSignal.timeout(config.timeout),
        });
        if (res.statusCode !== 200) {
          await res.body.dump();
          deps.logger.warn({ status: res.statusCode, endpoint }, 'OPA answered with an error');
          return { result: undefined };
        }
        const verdict = allows(await res.body.json());
        if (verdict === undefined) {
          deps.logger.warn({ endpoint }, 'OPA returned no result (undefined document?)');
          return { result: undefined };
        }
        const d = verdict ? ALLOW : DENY;
        return { result: d, cache: { value: d, until: Date.now() + config.cacheTtl } };
      } catch (e) {
        deps.logger.warn({ err: e, endpoint }, 'OPA decision failed');
        return { result: undefined };
      }
    };

    const reply = (ctx: RequestContext, d: number | undefined) => {
      if (d === ALLOW) {
        count.allowed.value++;
        return undefined;
      }
      if (d === DENY) {
        count.denied.value++;
        return denied(ctx, 'The authorization policy denied this request.');
      }
      count.unavailable.value++;
      return problemReply(ctx, 'GW_ERR_AUTH_UNAVAILABLE', 'The authorization decision could not be made; retry later.', ['retry-after', '1']);
    };

    return {
      request: function opa(ctx: RequestContext) {
        const body = input(ctx);
        const key = cache.key(body);
        const hit = cache.get(key);
        if (hit !== undefined) return reply(ctx, hit);
        return cache.load(key, () => ask(body)).then((d) => reply(ctx, d));
      },
      close: () => agent.close(),
    };
  },
});
