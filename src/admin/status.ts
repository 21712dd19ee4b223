import type { Gateway, LastReload } from '../gateway.js';
import type { Upstream } from '../upstreams/upstream.js';

/** One target in `GET /api/status`. */
export interface TargetStatus {
  url: string;
  weight: number;
  inFlight: number;
  /** Health-check verdict; true until health checks say otherwise. */
  healthy: boolean;
  /** Circuit-breaker state when the upstream has a breaker. */
  circuit?: string;
  [more: string]: unknown;
}

/** The body of `GET /api/status` (one process). */
export interface GatewayStatus {
  pid: number;
  uptimeSeconds: number;
  config: { version: number; hash: string; file: string; loadedAt: string };
  lastReload: LastReload | null;
  /** The last reload outcomes (up to 10), newest first. */
  recentReloads: readonly LastReload[];
  draining: boolean;
  listeners: Record<string, { host: string; port: number }>;
  routes: { name: string; match: Record<string, unknown>; target: string; policies: readonly string[]; listeners: readonly string[] | 'all'; priority: number }[];
  upstreams: { name: string; targets: TargetStatus[]; [more: string]: unknown }[];
}

/**
 * Upstream status: the upstream's own `status()` when it has one (health checks, circuit
 * breakers and balancers report there), otherwise what every upstream knows.
 */
function upstreamStatus(u: Upstream): GatewayStatus['upstreams'][number] {
  const own = (u as unknown as { status?: () => Record<string, unknown> }).status;
  if (typeof own === 'function') {
    const s = own.call(u);
    return { name: u.name, targets: [], ...s };
  }
  return {
    name: u.name,
    targets: u.targets.map((t) => ({ url: t.url, weight: t.weight, inFlight: t.inFlight, healthy: true })),
  };
}

/**
 * Builds the status document of a gateway.
 *
 * @example
 *   const s = gatewayStatus(gw); // { config: { version: 3, hash: '…' }, routes: [...], upstreams: [...] }
 */
export function gatewayStatus(gw: Gateway): GatewayStatus {
  const rt = gw.runtime;
  return {
    pid: process.pid,
    uptimeSeconds: Math.round(process.uptime()),
    config: { version: rt.version, hash: rt.loaded.hash, file: gw.configPath, loadedAt: rt.loadedAt },
    lastReload: gw.lastReload ?? null,
    recentReloads: gw.recentReloads,
    draining: gw.draining,
    listeners: gw.addresses(),
    routes: rt.routes.map((r) => ({
      name: r.name,
      match: r.config.match as Record<string, unknown>,
      target: r.handler.description,
      policies: r.pipeline.policies,
      listeners: r.listeners ?? 'all',
      priority: r.priority,
    })),
    upstreams: [...rt.upstreams.values()].map(upstreamStatus),
  };
}
