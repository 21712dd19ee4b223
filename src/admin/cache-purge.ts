import { ADMIN_ROUTES } from './routes.js';
import { GATEWAY_COMMANDS } from './commands.js';
import { PROBLEM_CONTENT_TYPE, problemFor } from '../errors.js';
// Registers `POST /api/cache/purge` and `cache.purge`; this module refines that route.
import { parsePurge } from '../policies/cache/admin.js';
import { zonesOf } from '../policies/cache/zones.js';

/**
 * Admin-side refinements of `POST /api/cache/purge` (the route itself lives with the cache):
 * - a purge naming a `zone` that no gateway process has answers 404 problem+json naming it
 *   and listing the zones there are, instead of `200 {"purged":0}` (a typo would otherwise
 *   look like a purge that found nothing);
 * - its 503 (a zone's shared store failed the purge) carries `Retry-After` (RFC 9110 §10.2.3).
 *
 * @example
 *   // POST /api/cache/purge {"tag":"t","zone":"catalgo"}
 *   // → 404 {"type":".../cache-zone-unknown","detail":"No cache zone 'catalgo' …","zone":"catalgo","zones":["catalog"]}
 */

/** Seconds a client should wait before sending a purge the shared store failed again. */
export const PURGE_RETRY_AFTER_S = 5;

/** `cache.zones`: names of the cache zones of this process's serving config (sorted, unique). */
GATEWAY_COMMANDS['cache.zones'] = async (gw): Promise<string[]> => [...new Set(zonesOf(gw.runtime.loaded.baseDir).map((z) => z.name))].sort();

const route = ADMIN_ROUTES.find((r) => r.method === 'POST' && r.path === '/api/cache/purge');
if (route !== undefined) {
  const purge = route.handle.bind(route);
  route.handle = async (req) => {
    const p = parsePurge(req.body);
    if (typeof p !== 'string' && p.zone !== undefined) {
      // Union over workers: during a reload one may already have a zone the others lack.
      const zones = [...new Set(((await req.backend.run('cache.zones')) as string[][]).flat())].sort();
      if (!zones.includes(p.zone)) {
        const known = zones.length === 0 ? 'there are no cache zones' : `zones: ${zones.map((z) => `'${z}'`).join(', ')}`;
        const detail = `No cache zone '${p.zone}' (${known}). Omit "zone" to purge every zone.`;
        return { status: 404, contentType: PROBLEM_CONTENT_TYPE, body: { ...problemFor('GW_ERR_CACHE_ZONE_UNKNOWN', detail), zone: p.zone, zones } };
      }
    }
    const reply = await purge(req);
    if (reply.status === 503) reply.headers = { ...reply.headers, 'retry-after': String(PURGE_RETRY_AFTER_S) };
    return reply;
  };
}
