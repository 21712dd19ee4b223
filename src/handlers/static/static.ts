import { Buffer } from 'node:buffer';
import type { RouteConfig } from '../../config/schema.js';
import type { Handler } from '../handler.js';
import { respondReply } from '../../pipeline/respond.js';
import type { HeaderList } from '../../http/headers.js';

/**
 * `static: { status, headers, body }`: a fixed response for mocks, maintenance pages and
 * health stubs. The body is serialised once at load; each request copies only the header list.
 *
 * @example
 *   - name: maintenance
 *     match: { path: /checkout/* }
 *     static: { status: 503, headers: { retry-after: "120" }, body: { message: back soon } }
 */
export function createStaticHandler(route: RouteConfig): Handler {
  const cfg = route.static!;
  const headers: HeaderList = [];
  for (const [k, v] of Object.entries(cfg.headers ?? {})) headers.push(k.toLowerCase(), v);
  const hasType = headers.some((h, i) => i % 2 === 0 && h === 'content-type');
  let body: Buffer | undefined;
  if (typeof cfg.body === 'string') {
    body = Buffer.from(cfg.body);
    if (!hasType) headers.push('content-type', 'text/plain; charset=utf-8');
  } else if (cfg.body !== undefined && cfg.body !== null) {
    body = Buffer.from(JSON.stringify(cfg.body));
    if (!hasType) headers.push('content-type', 'application/json');
  }
  headers.push('content-length', String(body?.length ?? 0));
  const status = cfg.status ?? 200;
  return {
    description: `static ${status}`,
    handle: function staticReply(ctx) {
      respondReply(ctx, { status, headers: headers.slice(), body });
    },
  };
}
