import type { Logger } from 'pino';
import type { UpstreamConfig } from '../../config/schema.js';
import { dnsDiscovery } from './dns.js';
import { fileDiscovery } from './file.js';
import { staticDiscovery, type Discovery } from './discovery.js';

export type { Discovery, TargetSpec } from './discovery.js';

/** The discovery source an upstream config names (exactly one of `targets`, `dns`, `file`; see config/semantics.ts). */
export function createDiscovery(cfg: UpstreamConfig, baseDir: string, logger: Logger): Discovery {
  if (cfg.dns) return dnsDiscovery(cfg.dns, logger);
  if (cfg.file) return fileDiscovery(cfg.file, baseDir, logger);
  return staticDiscovery(cfg.targets ?? []);
}
