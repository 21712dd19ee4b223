import { definePolicy, type Reply } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { HeaderList } from '../../http/headers.js';
import { problemReply } from '../auth/authenticator.js';
import { compileOrigins } from './origins.js';
import { schema, type CorsConfig } from './schema.js';

/** The prefix of the CORS response headers, which the gateway owns on a route with `cors`. */
const PREFIX = 'access-control-';

/** Drops the target's `Access-Control-*` response headers, in one pass over the list. */
function dropCorsHeaders(list: HeaderList): void {
  let w = 0;
  for (let r = 0; r < list.length; r += 2) {
    const n = list[r]!;
    // First letter first (a/A): most names are ruled out without a substring.
    if (n.length > PREFIX.length && (n.charCodeAt(0) | 0x20) === 0x61 && n.slice(0, PREFIX.length).toLowerCase() === PREFIX) continue;
    if (w !== r) {
      list[w] = n;
      list[w + 1] = list[r + 1]!;
    }
    w += 2;
  }
  if (w < list.length) list.length = w;
}

/**
 * A CORS-preflight request (Fetch §3.2.2): OPTIONS with Origin and
 * Access-Control-Request-Method. The router also hands such a request to a route whose
 * methods do not include OPTIONS, when that route answers preflights (see `answersPreflights`).
 */
export function isPreflight(ctx: RequestContext): boolean {
  if (ctx.method !== 'OPTIONS') return false;
  const h = ctx.req.headers;
  return h.origin !== undefined && h['access-control-request-method'] !== undefined;
}

/**
 * `cors`: the Fetch standard's CORS protocol at the gateway
 * (https://fetch.spec.whatwg.org/#http-cors-protocol).
 *
 * - Preflights are answered here (204, never forwarded); one from an origin not allowed, or
 *   asking for a method or header not allowed, is refused with 403 problem+json
 *   (GW_ERR_CORS_REJECTED) and no CORS headers, so the browser fails it.
 * - Other requests go on; an allowed Origin gets Access-Control-Allow-Origin (and
 *   -Credentials, -Expose-Headers) on whatever response the request gets, including the
 *   gateway's own errors from later policies (401, 429, 502), so scripts can read them.
 * - `Vary: Origin` on every response whose CORS headers depend on Origin (all but a plain
 *   `*`), so that shared caches keep one answer per origin (Fetch §3.2.5).
 *
 * @example
 *   policies:
 *     - cors: { origins: ["https://*.example.com"], credentials: true, exposeHeaders: [x-request-id] }
 */
export default definePolicy({
  name: 'cors',
  description: 'CORS (Fetch standard): answers preflights at the gateway and adds Access-Control-* headers to responses.',
  schema,
  create(config) {
    const origins = compileOrigins(config.origins, config.originRegex);
    const creds = config.credentials;
    // `*` as the answer (no credentials): the same for every origin.
    const star = origins.any && !creds;
    const expose = config.exposeHeaders.length > 0 ? config.exposeHeaders.join(', ') : undefined;
    const answerPreflight = config.preflight ? compilePreflight(config, star) : undefined;

    return {
      request: function cors(ctx) {
        const origin = ctx.req.headers.origin;
        if (answerPreflight !== undefined && origin !== undefined && isPreflight(ctx)) return answerPreflight(ctx, origin, origins.match(origin));
        if (star) {
          if (origin === undefined) return undefined;
          ctx.addResponseHeader('access-control-allow-origin', '*');
          if (expose !== undefined) ctx.addResponseHeader('access-control-expose-headers', expose);
          return undefined;
        }
        // The answer depends on Origin, also for a request without one (Fetch §3.2.5).
        ctx.addResponseHeader('vary', 'Origin');
        if (origin === undefined || !origins.match(origin)) return undefined;
        ctx.addResponseHeader('access-control-allow-origin', origin);
        if (creds) ctx.addResponseHeader('access-control-allow-credentials', 'true');
        if (expose !== undefined) ctx.addResponseHeader('access-control-expose-headers', expose);
        return undefined;
      },
      // The gateway's CORS headers (added after this hook) replace the target's: two
      // Access-Control-Allow-Origin fields make browsers fail the request.
      response: function corsOwnHeaders(ctx, head) {
        if (isPreflight(ctx)) return; // answered here (headers of our own), or forwarded with `preflight: false`
        dropCorsHeaders(head.headers);
      },
    };
  },
});

type PreflightAnswer = (ctx: RequestContext, origin: string, allowed: boolean) => Reply;

/** Builds the preflight answer once: the static header values are joined at load. */
function compilePreflight(config: CorsConfig, star: boolean): PreflightAnswer {
  const creds = config.credentials;
  const anyMethod = config.methods.includes('*');
  const methods = new Set(config.methods);
  const methodList = config.methods.join(', ');
  const reflectHeaders = config.allowHeaders === 'reflect' || (config.allowHeaders.includes('*') && creds);
  const anyHeader = config.allowHeaders !== 'reflect' && config.allowHeaders.includes('*');
  const headerSet = new Set(config.allowHeaders === 'reflect' ? [] : config.allowHeaders.map((h) => h.toLowerCase()));
  const headerList = config.allowHeaders === 'reflect' ? '' : config.allowHeaders.join(', ');
  const maxAge = String(Math.floor(config.maxAge / 1000));
  const status = config.preflightStatus;
  // With credentials, `*` is a literal name to browsers (Fetch §3.2.3): echo what was asked instead.
  const vary = [star ? '' : 'Origin', anyMethod && creds ? 'Access-Control-Request-Method' : '', reflectHeaders ? 'Access-Control-Request-Headers' : '']
    .filter(Boolean)
    .join(', ');
  const varyHeader: HeaderList = vary ? ['vary', vary] : [];

  return function preflight(ctx, origin, allowed) {
    const method = ctx.req.headers['access-control-request-method'] as string;
    const asked = ctx.req.headers['access-control-request-headers'];
    if (!allowed) return refuse(ctx, `Origin ${origin} is not allowed here.`, varyHeader);
    if (!anyMethod && !methods.has(method)) return refuse(ctx, `Method ${method} is not allowed for cross-origin requests (allowed: ${methodList}).`, varyHeader);
    if (!reflectHeaders && !anyHeader && asked !== undefined) {
      for (const raw of asked.split(',')) {
        const name = raw.trim().toLowerCase();
        if (name !== '' && !headerSet.has(name)) return refuse(ctx, `Request header ${name} is not allowed for cross-origin requests (allowed: ${headerList}).`, varyHeader);
      }
    }
    const headers: HeaderList = ['access-control-allow-origin', star ? '*' : origin];
    if (creds) headers.push('access-control-allow-credentials', 'true');
    headers.push('access-control-allow-methods', anyMethod ? (creds ? method : '*') : methodList);
    if (reflectHeaders) {
      if (asked !== undefined && asked !== '') headers.push('access-control-allow-headers', asked);
    } else if (headerList !== '') {
      headers.push('access-control-allow-headers', headerList);
    }
    headers.push('access-control-max-age', maxAge);
    for (let i = 0; i < varyHeader.length; i++) headers.push(varyHeader[i]!);
    if (status === 200) headers.push('content-length', '0');
    return { status, headers, body: null };
  };
}

function refuse(ctx: RequestContext, detail: string, vary: HeaderList): Reply {
  return problemReply(ctx, 'GW_ERR_CORS_REJECTED', detail, vary);
}
