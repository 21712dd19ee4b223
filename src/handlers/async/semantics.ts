import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { closest } from '../../config/validate.js';

/**
 * Checks of `async:` and `batch:` routes a schema cannot express: an async route's upstream
 * exists, no two async routes share a `jobsPath`, a positive `timeout`/`ttl`/sizes, and
 * `rewrite` (which does not apply) is not set on a batch route. Route-level `retries`,
 * `deadline`, `fallback` and `mirror` are refused for both by upstreams/semantics.ts.
 * Runs on whatever passed (or partly passed) the schema, so it guards every access.
 */
export function checkAsyncAndBatch(config: GatewayConfig, source: ConfigSource): void {
  const upstreams = config.upstreams && typeof config.upstreams === 'object' ? config.upstreams : {};
  const names = Object.keys(upstreams);
  const routes = Array.isArray(config.routes) ? config.routes : [];
  const jobsPaths = new Map<string, string>();
  routes.forEach((r, i) => {
    if (!r || typeof r !== 'object') return;
    const at = (...p: (string | number)[]) => ['routes', i, ...p];
    const a = r.async;
    if (a && typeof a === 'object') {
      const u = a.upstream;
      if (typeof u === 'string' && !Object.hasOwn(upstreams, u)) {
        const hint = closest(u, names);
        source.issueAt(at('async', 'upstream'), `unknown upstream '${u}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
      }
      const cb = a.callback;
      if (cb && typeof cb === 'object' && typeof cb.upstream === 'string' && !Object.hasOwn(upstreams, cb.upstream)) {
        const hint = closest(cb.upstream, names);
        source.issueAt(at('async', 'callback', 'upstream'), `unknown upstream '${cb.upstream}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
      }
      if (cb && typeof cb === 'object' && typeof cb.timeout === 'number' && cb.timeout <= 0) source.issueAt(at('async', 'callback', 'timeout'), 'timeout must be > 0');
      if (typeof a.jobsPath === 'string') {
        const other = jobsPaths.get(a.jobsPath);
        if (other !== undefined) source.issueAt(at('async', 'jobsPath'), `jobsPath '${a.jobsPath}' is already the jobs path of route '${other}'`);
        else jobsPaths.set(a.jobsPath, String(r.name));
      }
      for (const k of ['ttl', 'timeout', 'maxBodySize', 'maxResultSize'] as const) {
        if (typeof a[k] === 'number' && a[k] <= 0) source.issueAt(at('async', k), `${k} must be > 0`);
      }
    }
    const b = r.batch;
    if (b && typeof b === 'object') {
      if (r.rewrite !== undefined) source.issueAt(at('rewrite'), 'rewrite does not apply to batch routes');
      for (const k of ['maxBodySize', 'maxResponseSize'] as const) {
        if (typeof b[k] === 'number' && b[k] <= 0) source.issueAt(at('batch', k), `${k} must be > 0`);
      }
    }
  });
}
