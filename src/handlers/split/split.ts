import type { RouteConfig } from '../../config/schema.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { SplitConfig } from '../../upstreams/schema.js';
import { keyHash } from '../../upstreams/balancers/consistent-hash.js';
import { getCookie } from '../../upstreams/keys.js';
import type { Handler, HandlerDeps } from '../handler.js';
import { compileUpstreamCall } from '../proxy/proxy.js';

interface Side {
  name: string;
  /** Upper end of this side's share on [0, total). */
  upTo: number;
  call: (ctx: RequestContext) => void;
}

/**
 * `split:`: weighted canary and blue/green between upstreams. Each side is a full
 * upstream call (its own balancer, retries, breaker), compiled once.
 *
 * - `override: { header | cookie }` whose value names a side forces it (testers, QA).
 * - `stickyBy: consumer | ip` hashes the key onto the weights, so a client stays on one
 *   side with no state (and raising a canary weight moves only the clients at the margin);
 *   `stickyBy: cookie` draws a side once and remembers it in a cookie.
 * - Without `stickyBy`, every request draws by weight.
 *
 * @example
 *   split:
 *     to: [ { upstream: shop-v1, weight: 90 }, { upstream: shop-v2, weight: 10 } ]
 *     override: { header: x-canary }
 *     stickyBy: consumer
 */
export function createSplitHandler(route: RouteConfig, deps: HandlerDeps): Handler {
  const cfg = normalize(route.split!);
  let total = 0;
  const sides: Side[] = cfg.to.map((s) => {
    const upstream = deps.upstreams.get(s.upstream);
    if (!upstream) throw new Error(`split: unknown upstream '${s.upstream}'`);
    total += s.weight;
    return { name: s.upstream, upTo: total, call: compileUpstreamCall(route, upstream, deps) };
  });
  if (total === 0) throw new Error('split: the weights add up to 0');
  const byName = new Map(sides.map((s) => [s.name, s]));
  const overrideHeader = cfg.override?.header?.toLowerCase();
  const overrideCookie = cfg.override?.cookie;
  const sticky = cfg.stickyBy;
  const cookie = cfg.cookie ?? 'gantry-split';

  const draw = (x: number): Side => {
    for (const s of sides) if (x < s.upTo) return s;
    return sides[sides.length - 1]!;
  };

  return {
    description: `split ${cfg.to.map((s) => `${s.upstream}:${s.weight}`).join(' ')}`,
    handle: function split(ctx) {
      let side: Side | undefined;
      if (overrideHeader !== undefined) side = byName.get(ctx.header(overrideHeader) ?? '');
      if (side === undefined && overrideCookie !== undefined) side = byName.get(getCookie(ctx.header('cookie'), overrideCookie) ?? '');
      if (side === undefined) {
        if (sticky === 'cookie') {
          side = byName.get(getCookie(ctx.header('cookie'), cookie) ?? '');
          if (side === undefined) {
            side = draw(Math.random() * total);
            ctx.addResponseHeader('set-cookie', `${cookie}=${side.name}; Path=/; HttpOnly; SameSite=Lax`);
          }
        } else if (sticky !== undefined) {
          const key = sticky === 'consumer' ? (ctx.consumer?.id ?? ctx.clientIp) : ctx.clientIp;
          side = draw((keyHash(key) / 2 ** 32) * total);
        } else {
          side = draw(Math.random() * total);
        }
      }
      side.call(ctx);
    },
  };
}

/** The list shorthand `[{ upstream, weight }]` as the full form. */
function normalize(split: NonNullable<SplitConfig>): Exclude<NonNullable<SplitConfig>, unknown[]> {
  return Array.isArray(split) ? { to: split } : split;
}
