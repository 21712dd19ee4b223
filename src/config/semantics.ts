import type { GatewayConfig } from './schema.js';
import type { ConfigSource } from './source.js';
import { closest } from './validate.js';
import { ROUTE_TARGET_KEYS } from '../handlers/index.js';
import { checkConsumers } from '../consumers/semantics.js';
import { checkLimits } from '../limits/semantics.js';
import { checkResilience } from '../upstreams/semantics.js';
import { checkCacheEntries } from '../policies/cache/semantics.js';
import { checkAggregates } from '../handlers/aggregate/semantics.js';
import { checkIpFilterEntries } from '../policies/ip-filter/semantics.js';
import { checkCorsEntries } from '../policies/cors/semantics.js';
import { checkAsyncAndBatch } from '../handlers/async/semantics.js';
import { checkMaskEntries } from '../policies/mask/semantics.js';
import { notParams, routeParams, unknownParams } from './route-params.js';

/**
 * Checks a schema cannot express: unique names, references that resolve, exactly one
 * target per route. Runs on whatever passed (or partly passed) the schema, so it guards
 * every access.
 */
export function checkSemantics(config: GatewayConfig, source: ConfigSource): void {
  const listeners = Array.isArray(config.listeners) ? config.listeners : [];
  const routes = Array.isArray(config.routes) ? config.routes : [];
  const upstreams = config.upstreams && typeof config.upstreams === 'object' ? config.upstreams : {};

  unique(listeners.map((l) => l?.name), (i, name) => source.issueAt(['listeners', i, 'name'], `listener name '${name}' is used twice`));
  unique(
    listeners.map((l) => (l && typeof l.port === 'number' && l.port !== 0 ? `${l.host ?? '0.0.0.0'}:${l.port}` : undefined)),
    (i, where) => source.issueAt(['listeners', i, 'port'], `two listeners bind ${where}`),
  );
  unique(routes.map((r) => r?.name), (i, name) => source.issueAt(['routes', i, 'name'], `route name '${name}' is used twice`));

  const listenerNames = listeners.map((l) => l?.name).filter((n): n is string => typeof n === 'string');
  const upstreamNames = Object.keys(upstreams);
  routes.forEach((r, i) => {
    if (!r || typeof r !== 'object') return;
    const targets = ROUTE_TARGET_KEYS.filter((k) => (r as Record<string, unknown>)[k] !== undefined);
    if (targets.length === 0) source.issueAt(['routes', i], `route needs a target: one of ${ROUTE_TARGET_KEYS.join(', ')}`);
    if (targets.length > 1) source.issueAt(['routes', i, targets[1]!], `route has more than one target (${targets.join(', ')}); keep one`);
    if (typeof r.upstream === 'string' && !Object.hasOwn(upstreams, r.upstream)) {
      const hint = closest(r.upstream, upstreamNames);
      source.issueAt(['routes', i, 'upstream'], `unknown upstream '${r.upstream}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
    }
    // A tunnel goes to one upstream target; static, split and per-tenant targets do not tunnel.
    if (r.websocket !== undefined && r.websocket !== false && targets.length === 1 && targets[0] !== 'upstream') {
      source.issueAt(['routes', i, 'websocket'], `websocket needs an 'upstream:' target, not '${targets[0]}'`);
    }
    const rw = r.rewrite;
    if (rw && typeof rw === 'object' && typeof rw.path === 'string') {
      const params = routeParams(r.match);
      const unknown = params === undefined ? [] : unknownParams(rw.path, params.names);
      if (unknown.length > 0) source.issueAt(['routes', i, 'rewrite', 'path'], notParams(unknown, params!));
    }
    if (rw && typeof rw === 'object' && rw.location === true) {
      // Only prefix steps have an inverse: a template or a regex may map many paths to one.
      const step = rw.path !== undefined ? 'path' : rw.replace !== undefined ? 'replace' : undefined;
      if (step !== undefined) {
        source.issueAt(['routes', i, 'rewrite', 'location'], `location cannot be mapped back through rewrite.${step} (not invertible); use stripPrefix/addPrefix, or drop location`);
      }
    }
    if (Array.isArray(r.listeners)) {
      r.listeners.forEach((l, j) => {
        if (typeof l === 'string' && !listenerNames.includes(l)) source.issueAt(['routes', i, 'listeners', j], `unknown listener '${l}'`);
      });
    }
    const m = r.match;
    if (m && typeof m === 'object' && m.path !== undefined && m.pathRegex !== undefined) {
      source.issueAt(['routes', i, 'match', 'pathRegex'], 'use either path or pathRegex, not both');
    }
    if (m && typeof m.path === 'string') {
      const star = m.path.indexOf('*');
      if (star >= 0 && star !== m.path.length - 1) source.issueAt(['routes', i, 'match', 'path'], "'*' is only allowed at the end of a path (prefix match)");
      if (/\/\/|\/\.\.?(\/|$)/.test(m.path)) source.issueAt(['routes', i, 'match', 'path'], 'path must be normalised (no //, /./ or /../)');
    }
  });
  checkConsumers(config, source);
  checkLimits(config, source);
  checkResilience(config, source);
  checkCacheEntries(config, source);
  checkAggregates(config, source);
  checkIpFilterEntries(config, source);
  checkCorsEntries(config, source);
  checkAsyncAndBatch(config, source);
  checkMaskEntries(config, source);
}

function unique(values: unknown[], onDuplicate: (index: number, value: string) => void): void {
  const seen = new Set<string>();
  values.forEach((v, i) => {
    if (typeof v !== 'string') return;
    if (seen.has(v)) onDuplicate(i, v);
    seen.add(v);
  });
}
