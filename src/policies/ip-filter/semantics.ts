import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { forEachPolicyEntry } from '../../config/entries.js';

/**
 * Checks on `ip-filter` entries that the schema cannot express, naming file:line:path: an
 * entry needs a rule (an empty filter would admit everyone while looking like protection).
 *
 * @example
 *   checkIpFilterEntries(config, source); // routes[0].policies[0].ip-filter: needs an allow or a deny list
 */
export function checkIpFilterEntries(config: GatewayConfig, source: ConfigSource): void {
  forEachPolicyEntry(config, (name, settings, at) => {
    if (name !== 'ip-filter' || typeof settings !== 'object' || settings === null) return;
    const { allow, deny } = settings as Record<string, unknown>;
    if (!Array.isArray(allow) || !Array.isArray(deny)) return;
    if (allow.length === 0 && deny.length === 0) source.issueAt(at, 'needs an allow or a deny list (an empty filter admits everyone)');
  });
}
