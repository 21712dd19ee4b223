import type { ReadyOutcome, ReloadOutcome } from './commands.js';
import type { GatewayStatus } from './status.js';

/**
 * What the admin server runs against: one gateway in this process, or (cluster mode) the
 * primary relaying to every worker. `run` returns one result per gateway process.
 */
export interface AdminBackend {
  run(command: string, payload?: unknown): Promise<unknown[]>;
  /** Prometheus exposition of every process (aggregated in cluster mode). */
  metrics(): Promise<string>;
  readonly metricsContentType: string;
  /** `single` or `cluster` with the worker pids, for status output. */
  describe(): { mode: 'single' | 'cluster'; workers: number[] };
}

/** A request to an admin route, body parsed as JSON when there is one. */
export interface AdminRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  backend: AdminBackend;
}

/**
 * What an admin route answers: a JSON body (or text with its content type), and any
 * response headers beyond the ones the server sets (`content-type`, `content-length`,
 * `cache-control: no-store`, which a route cannot replace).
 *
 * @example
 *   return { status: 503, body: problem, contentType: PROBLEM_CONTENT_TYPE, headers: { 'retry-after': '5' } };
 */
export interface AdminReply {
  status: number;
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

/**
 * One admin endpoint. `public: true` skips the bearer token (probes only).
 *
 * @example
 *   ADMIN_ROUTES.push({ method: 'POST', path: '/api/cache/purge', async handle(req) {
 *     const results = await req.backend.run('cache.purge', req.body);
 *     return { status: 200, body: { results } };
 *   } });
 */
export interface AdminRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  public?: boolean;
  description: string;
  handle(req: AdminRequest): Promise<AdminReply>;
}

/** The admin endpoints. Other features add theirs with one `push` in their own module. */
export const ADMIN_ROUTES: AdminRoute[] = [
  {
    method: 'GET',
    path: '/healthz',
    public: true,
    description: 'Liveness: the process answers.',
    async handle() {
      return { status: 200, body: { status: 'ok' } };
    },
  },
  {
    method: 'GET',
    path: '/readyz',
    public: true,
    description: 'Readiness: config loaded, not draining, store reachable (every worker).',
    async handle(req) {
      const results = (await req.backend.run('ready')) as ReadyOutcome[];
      const ready = results.length > 0 && results.every((r) => r.ready);
      return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not ready', workers: results } };
    },
  },
  {
    method: 'GET',
    path: '/metrics',
    description: 'Prometheus metrics (all workers aggregated).',
    async handle(req) {
      return { status: 200, body: await req.backend.metrics(), contentType: req.backend.metricsContentType };
    },
  },
  {
    method: 'GET',
    path: '/api/status',
    description: 'Config version and hash, routes, upstreams with per-target health and circuit state, last reload.',
    async handle(req) {
      const results = (await req.backend.run('status')) as GatewayStatus[];
      const first = results[0];
      const mode = req.backend.describe();
      return {
        status: 200,
        body: { ...first, mode: mode.mode, workers: results.map((r) => ({ pid: r.pid, version: r.config.version, hash: r.config.hash, lastReload: r.lastReload })) },
      };
    },
  },
  {
    method: 'POST',
    path: '/api/reload',
    description: 'Re-reads the config; the old one keeps serving when the new one is invalid (422 with the errors).',
    async handle(req) {
      const results = (await req.backend.run('reload')) as ReloadOutcome[];
      const ok = results.length > 0 && results.every((r) => r.ok);
      const first = results.find((r) => !r.ok) ?? results[0];
      return { status: ok ? 200 : 422, body: { ok, version: first?.version, hash: first?.hash, issues: first?.issues, workers: results } };
    },
  },
];
