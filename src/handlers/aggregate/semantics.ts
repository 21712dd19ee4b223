import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { closest } from '../../config/validate.js';
import { notParams, routeParams, unknownParams } from '../../config/route-params.js';

/**
 * Checks of `aggregate:` routes a schema cannot express: each part's upstream exists, its
 * path template names only params the route's `match.path` (or `pathRegex`) captures, and route keys that
 * only make sense for a single upstream (`rewrite`, `preserveHost`) are not set. Runs on
 * whatever passed (or partly passed) the schema, so it guards every access.
 */
export function checkAggregates(config: GatewayConfig, source: ConfigSource): void {
  const upstreams = config.upstreams && typeof config.upstreams === 'object' ? config.upstreams : {};
  const names = Object.keys(upstreams);
  const routes = Array.isArray(config.routes) ? config.routes : [];
  routes.forEach((r, i) => {
    if (!r || typeof r !== 'object') return;
    const agg = r.aggregate;
    if (!agg || typeof agg !== 'object' || Array.isArray(agg)) return;
    const at = (...p: (string | number)[]) => ['routes', i, ...p];
    if (r.rewrite !== undefined) source.issueAt(at('rewrite'), 'rewrite does not apply to aggregate routes: each part has its own path');
    if (r.preserveHost === true) source.issueAt(at('preserveHost'), 'preserveHost does not apply to aggregate routes');
    const params = routeParams(r.match);
    for (const [name, part] of Object.entries(agg)) {
      if (!part || typeof part !== 'object') continue;
      const u = part.upstream;
      if (typeof u === 'string' && !Object.hasOwn(upstreams, u)) {
        const hint = closest(u, names);
        source.issueAt(at('aggregate', name, 'upstream'), `unknown upstream '${u}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
      }
      if (typeof part.path === 'string' && params !== undefined) {
        const unknown = unknownParams(part.path, params.names);
        if (unknown.length > 0) source.issueAt(at('aggregate', name, 'path'), notParams(unknown, params));
      }
      if (typeof part.timeout === 'number' && part.timeout <= 0) source.issueAt(at('aggregate', name, 'timeout'), 'timeout must be > 0');
      if (typeof part.maxBodySize === 'number' && part.maxBodySize <= 0) source.issueAt(at('aggregate', name, 'maxBodySize'), 'maxBodySize must be > 0');
    }
  });
}
