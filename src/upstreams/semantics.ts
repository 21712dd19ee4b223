import type { GatewayConfig } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';
import { closest } from '../config/validate.js';

/**
 * Cross-reference checks of the resilience config that a schema cannot express: one
 * discovery source per upstream, upstream names in `split`, `mirror` and `fallback`
 * resolve, and route keys that need an upstream target are not put on static routes.
 * Runs on whatever passed (or partly passed) the schema, so it guards every access.
 */
export function checkResilience(config: GatewayConfig, source: ConfigSource): void {
  const upstreams = config.upstreams && typeof config.upstreams === 'object' ? config.upstreams : {};
  const names = Object.keys(upstreams);
  for (const [name, u] of Object.entries(upstreams)) {
    if (!u || typeof u !== 'object') continue;
    const sources = (['targets', 'dns', 'file'] as const).filter((k) => u[k] !== undefined);
    if (sources.length === 0) source.issueAt(['upstreams', name], 'upstream needs targets: one of targets, dns, file');
    if (sources.length > 1) source.issueAt(['upstreams', name, sources[1]!], `use one target source, not ${sources.join(' and ')}`);
    const weights = Array.isArray(u.targets) ? u.targets.map((t) => (typeof t === 'object' && t ? (t.weight ?? 1) : 1)) : [];
    if ((u.balance ?? 'round-robin') === 'round-robin' && weights.some((w) => w !== 1 && w !== 0)) {
      source.issueAt(['upstreams', name, 'balance'], 'round-robin ignores target weights; use balance: weighted', 'warning');
    }
    if (u.queue !== undefined && u.maxConcurrent === undefined) source.issueAt(['upstreams', name, 'queue'], 'queue needs maxConcurrent');
    checkTransport(name, u, source);
  }

  const ref = (path: (string | number)[], n: unknown) => {
    if (typeof n !== 'string' || Object.hasOwn(upstreams, n)) return;
    const hint = closest(n, names);
    source.issueAt(path, `unknown upstream '${n}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
  };
  const routes = Array.isArray(config.routes) ? config.routes : [];
  routes.forEach((r, i) => {
    if (!r || typeof r !== 'object') return;
    const at = (...p: (string | number)[]) => ['routes', i, ...p];
    const split = r.split;
    if (split !== undefined && split !== null) {
      const list = Array.isArray(split) ? split : split.to;
      const base = Array.isArray(split) ? at('split') : at('split', 'to');
      if (Array.isArray(list)) {
        list.forEach((s, j) => ref([...base, j, 'upstream'], s?.upstream));
        const seen = new Set<string>();
        list.forEach((s, j) => {
          if (typeof s?.upstream === 'string' && seen.has(s.upstream)) source.issueAt([...base, j, 'upstream'], `upstream '${s.upstream}' is split to twice`);
          if (typeof s?.upstream === 'string') seen.add(s.upstream);
        });
        if (list.every((s) => typeof s?.weight === 'number') && list.reduce((n, s) => n + s.weight, 0) === 0) source.issueAt(base, 'split weights add up to 0');
      }
    }
    if (r.mirror && typeof r.mirror === 'object') ref(at('mirror', 'upstream'), r.mirror.upstream);
    const fb = r.fallback;
    if (fb && typeof fb === 'object') {
      if ((fb.static === undefined) === (fb.upstream === undefined)) source.issueAt(at('fallback'), 'fallback needs exactly one of static, upstream');
      ref(at('fallback', 'upstream'), fb.upstream);
    }
    const proxied = r.upstream !== undefined || r.split !== undefined || (r as Record<string, unknown>).upstreamByTenant !== undefined;
    for (const key of ['retries', 'deadline', 'fallback', 'mirror'] as const) {
      if (r[key] !== undefined && !proxied) source.issueAt(at(key), `${key} applies to routes with upstream, split or upstreamByTenant`);
    }
  });
}

/** `tls:` and `http2:` of one upstream: a client certificate comes with its key, and settings that cannot apply are flagged. */
function checkTransport(name: string, u: NonNullable<GatewayConfig['upstreams']>[string], source: ConfigSource): void {
  const tls = u.tls;
  if (tls && typeof tls === 'object') {
    if (tls.cert !== undefined && tls.key === undefined) source.issueAt(['upstreams', name, 'tls', 'cert'], 'a client certificate needs its key: add tls.key');
    if (tls.key !== undefined && tls.cert === undefined) source.issueAt(['upstreams', name, 'tls', 'key'], 'a key needs its client certificate: add tls.cert');
    if (tls.verify === false) source.issueAt(['upstreams', name, 'tls', 'verify'], 'target certificates are not verified: anyone on the path can impersonate the upstream', 'warning');
    // Only static targets are known at load; discovered ones may be https.
    const urls = Array.isArray(u.targets) ? u.targets.map((t) => (typeof t === 'string' ? t : t?.url)) : [];
    if (urls.length > 0 && urls.every((url) => typeof url === 'string' && url.startsWith('http:'))) {
      source.issueAt(['upstreams', name, 'tls'], 'no target is https://: tls applies to https targets only', 'warning');
    }
  }
}
