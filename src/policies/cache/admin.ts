import { ADMIN_ROUTES } from '../../admin/routes.js';
import { GATEWAY_COMMANDS } from '../../admin/commands.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE } from '../../errors.js';
import type { PurgeSelector } from './store.js';

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

GATEWAY_COMMANDS['cache.purge'] = async (gw, payload) => {
  const p = payload as PurgeRequest;
  return { purged: await gw.purgeCache(p.selector, p.zone) };
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
    const results = (await req.backend.run('cache.purge', p)) as { purged: number }[];
    return { status: 200, body: { purged: results.reduce((n, r) => n + r.purged, 0), workers: results } };
  },
});
