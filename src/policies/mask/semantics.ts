import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { forEachPolicyEntry } from '../../config/entries.js';
import { parsePath } from './path.js';

/**
 * Parses every `mask` rule path at load, so that a bad one is reported as
 * `file:line routes[0].policies[1].mask.rules[2].path: …` by `gantry validate` and at startup.
 *
 * @example
 *   checkMaskEntries(config, source); // …mask.rules[0].path: 'items[x]': [x] is not an index, [*] or a quoted name
 */
export function checkMaskEntries(config: GatewayConfig, source: ConfigSource): void {
  forEachPolicyEntry(config, (name, settings, at) => {
    if (name !== 'mask' || typeof settings !== 'object' || settings === null) return;
    const rules = (settings as { rules?: unknown }).rules;
    if (!Array.isArray(rules)) return;
    rules.forEach((r: unknown, i) => {
      const path = (r as { path?: unknown } | null)?.path;
      if (typeof path !== 'string' || path === '') return;
      try {
        parsePath(path);
      } catch (e) {
        source.issueAt([...at, 'rules', i, 'path'], (e as Error).message);
      }
    });
  });
}
