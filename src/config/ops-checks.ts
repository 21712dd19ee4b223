import type { GatewayConfig } from './schema.js';
import type { ConfigSource } from './source.js';

/**
 * Checks of the operations sections (admin, telemetry, access log) that a schema cannot
 * express. Errors stop the config from loading.
 */
export function checkOps(config: GatewayConfig, source: ConfigSource): void {
  const admin = config.admin;
  if (admin && typeof admin === 'object' && (typeof admin.token !== 'string' || admin.token.trim() === '')) {
    source.issueAt(['admin', 'token'], 'the admin listener needs a bearer token (e.g. token: "${GANTRY_ADMIN_TOKEN}" with the variable set)');
  }
  if (admin && typeof admin === 'object' && typeof admin.token === 'string' && admin.token.length > 0 && admin.token.length < 16) {
    source.issueAt(['admin', 'token'], 'admin token is shorter than 16 characters; use a long random value', 'warning');
  }
  const listeners = Array.isArray(config.listeners) ? config.listeners : [];
  if (admin && typeof admin === 'object' && typeof admin.port === 'number' && admin.port !== 0) {
    listeners.forEach((l, i) => {
      if (l && l.port === admin.port && (l.host ?? '0.0.0.0') === '0.0.0.0') source.issueAt(['listeners', i, 'port'], `listener binds the admin port ${admin.port}`);
    });
  }
}
