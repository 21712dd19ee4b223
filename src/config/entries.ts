import type { GatewayConfig } from './schema.js';

/** A config path, as `ConfigSource.issueAt` takes it: `['routes', 2, 'policies', 0, 'cache']`. */
export type ConfigPath = (string | number)[];

/**
 * Calls `fn` for every policy entry of a config — the global `policies` list, then each
 * upstream's, each route's and each consumer's — with the policy's name, its settings as the YAML holds them (not validated
 * yet: check their shape), the path of the settings, and the entry itself. An entry that
 * is not an object with exactly one key is skipped: the schema reports it. Load-time
 * checks that span entries (cross-references, keys, sizes) walk the config this way.
 *
 * @example
 *   forEachPolicyEntry(config, (name, settings, at) => {
 *     if (name === 'cache' && isObject(settings)) checkZone(settings, at, source);
 *   });
 */
export function forEachPolicyEntry(
  config: GatewayConfig,
  fn: (name: string, settings: unknown, at: ConfigPath, entry: Record<string, unknown>) => void,
): void {
  const lists: [ConfigPath, unknown][] = [[['policies'], config.policies]];
  const upstreams: unknown = config.upstreams;
  if (typeof upstreams === 'object' && upstreams !== null && !Array.isArray(upstreams)) {
    for (const [name, u] of Object.entries(upstreams)) lists.push([['upstreams', name, 'policies'], policiesOf(u)]);
  }
  if (Array.isArray(config.routes)) config.routes.forEach((r, i) => lists.push([['routes', i, 'policies'], policiesOf(r)]));
  if (Array.isArray(config.consumers)) config.consumers.forEach((c, i) => lists.push([['consumers', i, 'policies'], policiesOf(c)]));
  for (const [base, list] of lists) {
    if (!Array.isArray(list)) continue;
    list.forEach((entry: unknown, j) => {
      if (typeof entry !== 'object' || entry === null) return;
      const keys = Object.keys(entry);
      if (keys.length !== 1) return;
      const name = keys[0]!;
      fn(name, (entry as Record<string, unknown>)[name], [...base, j, name], entry as Record<string, unknown>);
    });
  }
}

function policiesOf(section: unknown): unknown {
  return typeof section === 'object' && section !== null ? (section as { policies?: unknown }).policies : undefined;
}
