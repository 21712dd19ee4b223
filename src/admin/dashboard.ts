import { readFile } from 'node:fs/promises';
import { ADMIN_ROUTES, type AdminReply } from './routes.js';

/**
 * The dashboard: a static page (HTML, one script, one stylesheet, no build step) served by
 * the admin listener at `/`. The files hold no data, so they are served without the token;
 * the page asks for the token and sends it as `Authorization: Bearer` on its calls to
 * `/api/status`, `/api/stats` and `/api/reload`. Files live in the package's `dashboard/`
 * folder (next to `dist/` and `src/`), read once on first request.
 *
 * @example
 *   open http://127.0.0.1:9901/   # then paste the admin token
 */

/**
 * Headers of every dashboard file: scripts and styles from this origin only, no inline
 * script (CSP, W3C CSP Level 3), never framed (RFC 7034 and CSP frame-ancestors), no
 * MIME sniffing, no referrer leaking the admin address.
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** URL path → file in `dashboard/` and its content type. */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** Same depth from src/admin/ and dist/admin/: the package root's dashboard/ folder. */
const DIR = new URL('../../dashboard/', import.meta.url);

const cache = new Map<string, Promise<string>>();

function load(file: string): Promise<string> {
  let p = cache.get(file);
  if (p === undefined) {
    p = readFile(new URL(file, DIR), 'utf8');
    // A missing file (a broken install) is retried on the next request, not cached.
    p.catch(() => cache.delete(file));
    cache.set(file, p);
  }
  return p;
}

for (const [path, { file, type }] of Object.entries(FILES)) {
  ADMIN_ROUTES.push({
    method: 'GET',
    path,
    public: true,
    description: path === '/' ? 'The dashboard page (no data in it; it asks for the token).' : `Dashboard asset ${file}.`,
    async handle(): Promise<AdminReply> {
      return { status: 200, body: await load(file), contentType: type, headers: DASHBOARD_HEADERS };
    },
  });
}
