import type { GatewayConfig } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';
import { closest } from '../config/validate.js';
import { forEachPolicyEntry } from '../config/entries.js';
import { compileSpec, limitProblem, withTier, type LimitFields } from './spec.js';

const LIMIT_POLICIES = new Set(['rate-limit', 'quota']);

/**
 * Load-time checks of limits, tiers and tenancy that a schema cannot express, each naming
 * file:line:path: a rate-limit's fields make one algorithm's limit; tier limits name an
 * existing rate-limit/quota policy and combine with it; `upstreamByTenant` names known
 * upstreams; consumers' tiers exist.
 */
export function checkLimits(config: GatewayConfig, source: ConfigSource): void {
  const named = new Map<string, LimitFields | null>();
  forEachPolicyEntry(config, (name, settings, at) => {
    if (!LIMIT_POLICIES.has(name) || typeof settings !== 'object' || settings === null) return;
    const c = settings as Record<string, unknown>;
    if (name === 'quota') {
      if (typeof c.name === 'string') named.set(c.name, null);
      return;
    }
    const f: LimitFields = { algorithm: (c.algorithm as LimitFields['algorithm']) ?? 'sliding-window', limit: num(c.limit), window: num(c.window), rate: str(c.rate), burst: num(c.burst) };
    const problem = limitProblem(f);
    if (problem) source.issueAt(at, problem);
    else if (typeof c.name === 'string') named.set(c.name, f);
  });

  const tiers = config.tiers && typeof config.tiers === 'object' ? config.tiers : {};
  for (const [tier, def] of Object.entries(tiers)) {
    for (const [limitName, t] of Object.entries(def?.limits ?? {})) {
      const at = ['tiers', tier, 'limits', limitName];
      if (!named.has(limitName)) {
        const hint = closest(limitName, [...named.keys()]);
        source.issueAt(at, `no rate-limit or quota policy is named '${limitName}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
        continue;
      }
      const f = named.get(limitName);
      if (t && typeof t === 'object' && t.limit === undefined) {
        if (f === null) source.issueAt(at, `'${limitName}' is a quota: its tier limit needs 'limit'`);
        else if (t.rate === undefined) source.issueAt(at, "a tier limit needs 'limit' (or 'rate' for a token-bucket or GCRA policy)");
        if (f === null || t.rate === undefined) continue;
      }
      if (f && t && typeof t === 'object') {
        try {
          compileSpec(withTier(f, t));
        } catch (e) {
          source.issueAt(at, (e as Error).message);
        }
      }
    }
  }

  const consumers = Array.isArray((config as { consumers?: unknown }).consumers) ? (config as { consumers: { tier?: unknown }[] }).consumers : [];
  if (Object.keys(tiers).length > 0) {
    consumers.forEach((c, i) => {
      if (typeof c?.tier === 'string' && !Object.hasOwn(tiers, c.tier)) source.issueAt(['consumers', i, 'tier'], `unknown tier '${c.tier}' (tiers: ${Object.keys(tiers).join(', ')})`);
    });
  }

  const upstreams = config.upstreams && typeof config.upstreams === 'object' ? config.upstreams : {};
  const routes = Array.isArray(config.routes) ? config.routes : [];
  routes.forEach((r, i) => {
    const u = r?.upstreamByTenant;
    if (!u || typeof u !== 'object') return;
    const check = (name: unknown, at: (string | number)[]) => {
      if (typeof name === 'string' && !Object.hasOwn(upstreams, name)) {
        const hint = closest(name, Object.keys(upstreams));
        source.issueAt(at, `unknown upstream '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
      }
    };
    for (const [tenant, name] of Object.entries(u.tenants ?? {})) check(name, ['routes', i, 'upstreamByTenant', 'tenants', tenant]);
    check(u.default, ['routes', i, 'upstreamByTenant', 'default']);
  });
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
