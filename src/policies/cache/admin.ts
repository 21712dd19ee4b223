import { ADMIN_ROUTES, type AdminReply, type AdminRequest } from '../../admin/routes.js';
import { GATEWAY_COMMANDS } from '../../admin/commands.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, problemFor } from '../../errors.js';
import type { PurgeSelector } from './store.js';
import { CachePurgeError, configZones } from './zones.js';

/**
 * `POST /api/cache/purge` with `{ "key" | "prefix" | "tag": "…", "zone"?: "…" }`: removes
 * cached responses in every gateway process (cluster workers included) and answers with
 * how many each removed. Shared (Redis) zones apply the purge to every instance at once.
 *
 * @example
 *   curl -X POST -H "authorization: Bearer $TOKEN" -d '{"tag":"product-42"}' http://127.0.0.1:9901/api/cache/purge
 */
export interface PurgeRequest {
  selector: PurgeSelector;
  zone: string | undefined;
}

/** Validates a purge body; returns the request or a message naming what is wrong. */
export function parsePurge(body: unknown): PurgeRequest | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object: { "key" | "prefix" | "tag": "…" }';
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !['key', 'prefix', 'tag', 'zone'].includes(k));
  if (unknown.length > 0) return `unknown field '${unknown[0]}' (fields: key, prefix, tag, zone)`;
  const given = (['key', 'prefix', 'tag'] as const).filter((k) => b[k] !== undefined);
  if (given.length !== 1) return 'give exactly one of key, prefix, tag';
  const field = given[0]!;
  const value = b[field];
  if (typeof value !== 'string' || value === '') return `${field} must be a non-empty string`;
  if (b.zone !== undefined && (typeof b.zone !== 'string' || b.zone === '')) return 'zone must be a non-empty string';
  return { selector: { [field]: value } as PurgeSelector, zone: b.zone as string | undefined };
}

/** What one gateway process answers to `cache.purge`: `failed` names the zones it could not purge. */
export interface PurgeOutcome {
  purged: number;
  failed?: string[];
}

/** Seconds a client should wait before sending again a purge the shared store failed. */
export const PURGE_RETRY_AFTER_S = 5;

/**
 * `cache.zones`: names of the cache zones of this process's serving config (sorted, unique).
 * Zones only a retiring config version still holds (a reload removed them) are not listed:
 * a purge naming one answers 404 right after the reload, not once the old version drained.
 */
GATEWAY_COMMANDS['cache.zones'] = async (gw): Promise<string[]> => configZones(gw.runtime.config);

/**
 * A 404 when `zone` names a zone no gateway process has: a typo would otherwise look like a
 * purge that found nothing (`200 {"purged":0}`). The union over workers, since during a
 * reload one may already have a zone the others lack.
 */
async function unknownZone(req: AdminRequest, zone: string): Promise<AdminReply | undefined> {
  const zones = [...new Set(((await req.backend.run('cache.zones')) as string[][]).flat())].sort();
  if (zones.includes(zone)) return undefined;
  const known = zones.length === 0 ? 'there are no cache zones' : `zones: ${zones.map((z) => `'${z}'`).join(', ')}`;
  const detail = `No cache zone '${zone}' (${known}). Omit "zone" to purge every zone.`;
  return { status: 404, contentType: PROBLEM_CONTENT_TYPE, body: { ...problemFor('GW_ERR_CACHE_ZONE_UNKNOWN', detail), zone, zones } };
}

GATEWAY_COMMANDS['cache.purge'] = async (gw, payload): Promise<PurgeOutcome> => {
  const p = payload as PurgeRequest;
  try {
    return { purged: await gw.purgeCache(p.selector, p.zone) };
  } catch (e) {
    if (!(e instanceof CachePurgeError)) throw e;
    // The store's own message stays in the log; the admin answer names the zones only.
    gw.logger.error({ err: e.cause, zones: e.zones }, e.message);
    return { purged: e.purged, failed: e.zones };
  }
};

ADMIN_ROUTES.push({
  method: 'POST',
  path: '/api/cache/purge',
  description: 'Purges cached responses by exact key, key prefix or tag (`{ "key" | "prefix" | "tag": "…", "zone"?: "…" }`).',
  async handle(req) {
    const p = parsePurge(req.body);
    if (typeof p === 'string') {
      return { status: 400, contentType: PROBLEM_CONTENT_TYPE, body: { type: PROBLEM_TYPE_BASE + 'bad-request', title: 'Bad request', status: 400, detail: p } };
    }
    if (p.zone !== undefined) {
      const missing = await unknownZone(req, p.zone);
      if (missing !== undefined) return missing;
    }
    const results = (await req.backend.run('cache.purge', p)) as PurgeOutcome[];
    const purged = results.reduce((n, r) => n + r.purged, 0);
    const zones = [...new Set(results.flatMap((r) => r.failed ?? []))];
    if (zones.length === 0) return { status: 200, body: { purged, workers: results } };
    const detail =
      `Could not purge cache zone${zones.length > 1 ? 's' : ''} ${zones.map((z) => `'${z}'`).join(', ')}: the shared store is unavailable or refused the purge. ` +
      'Every other zone was purged. Send the purge again once the store answers (the gateway log has the store error).';
    return {
      status: 503,
      contentType: PROBLEM_CONTENT_TYPE,
      headers: { 'retry-after': String(PURGE_RETRY_AFTER_S) }, // RFC 9110 §10.2.3
      body: { ...problemFor('GW_ERR_STORE_UNAVAILABLE', detail), zones, purged, workers: results },
    };
  },
});
