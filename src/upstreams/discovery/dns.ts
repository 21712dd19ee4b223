import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { DnsDiscoveryConfig } from '../schema.js';
import type { Discovery, TargetSpec } from './discovery.js';

/**
 * `dns: { name, type, port, refresh, servers }`: targets from A, AAAA or SRV records,
 * re-resolved every `refresh`. SRV follows RFC 2782: only the records of the lowest
 * priority are used, their weights become target weights, and each record's target name
 * is resolved to addresses (A, then AAAA). A failed lookup keeps the last good set.
 *
 * @example
 *   upstreams:
 *     api: { dns: { name: _http._tcp.api.internal, type: SRV, refresh: 10s, servers: ["127.0.0.1:8600"] } }
 */
export function dnsDiscovery(cfg: DnsDiscoveryConfig, logger: Logger): Discovery {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  if (cfg.servers) resolver.setServers(cfg.servers);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const lookup = async (): Promise<TargetSpec[]> => {
    const url = (host: string, port: number) => `${cfg.scheme}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
    if (cfg.type === 'A') return (await resolver.resolve4(cfg.name)).map((ip) => ({ url: url(ip, cfg.port), weight: 1 }));
    if (cfg.type === 'AAAA') return (await resolver.resolve6(cfg.name)).map((ip) => ({ url: url(ip, cfg.port), weight: 1 }));
    const records = await resolver.resolveSrv(cfg.name);
    if (records.length === 0) return [];
    const top = Math.min(...records.map((r) => r.priority));
    const chosen = records.filter((r) => r.priority === top);
    // RFC 2782: weight 0 records get a very small share when others have weight; all-zero means equal.
    const allZero = chosen.every((r) => r.weight === 0);
    const out: TargetSpec[] = [];
    for (const r of chosen) {
      const addrs = isIP(r.name) ? [r.name] : await resolveHost(resolver, r.name);
      for (const a of addrs) out.push({ url: url(a, r.port), weight: allZero ? 1 : Math.max(r.weight, 0) });
    }
    return out;
  };

  return {
    description: `dns ${cfg.type} ${cfg.name}`,
    async start(update) {
      const round = async () => {
        try {
          const specs = await lookup();
          if (!closed) update(specs);
        } catch (e) {
          if (!closed) logger.warn({ name: cfg.name, type: cfg.type, err: { code: (e as { code?: string }).code, message: (e as Error).message } }, 'dns discovery failed; keeping the last targets');
        }
      };
      const loop = () => {
        if (closed) return;
        timer = setTimeout(() => void round().then(loop), cfg.refresh);
        timer.unref();
      };
      await round();
      loop();
    },
    close() {
      closed = true;
      clearTimeout(timer);
      resolver.cancel();
    },
  };
}

async function resolveHost(resolver: Resolver, host: string): Promise<string[]> {
  try {
    return await resolver.resolve4(host);
  } catch {
    return resolver.resolve6(host);
  }
}
