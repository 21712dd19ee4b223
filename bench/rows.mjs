/**
 * Benchmark rows. Each row is one load run per round against a path.
 *
 *   name      label in the table
 *   path      request path
 *   target    'direct' (the upstream itself), 'ceiling' (the peer harness's bare undici proxy,
 *             ../shared/bench/peers/node-ceiling.js, when present) or 'gateway' (default)
 *   gateway   { config, workers, env } — which gateway process serves the row
 *             (default: bench/gateway.yaml, 1 worker); rows sharing a spec share a process
 *   headers   request headers for the load generator
 *   needs     ['redis'] — started by run.mjs when a selected row needs it (skipped if missing)
 *   prepare   async () => ({ headers }) — computed once before measuring (tokens, keys)
 *   baseline  true for the row others are compared with ("vs bare")
 *
 * Add a row: a route in bench/gateway.yaml (or your own config) and an entry here.
 */
export const ROWS = [
  { name: 'direct (no proxy)', path: '/', target: 'direct' },
  { name: 'node ceiling (bare undici proxy)', path: '/', target: 'ceiling' },
  { name: 'bare proxy route', path: '/', baseline: true },
  { name: 'request-id + headers + access log', path: '/policies/' },
  { name: 'cache hit (memory)', path: '/cached/' },
  { name: 'compressed 10 KB JSON (gzip)', path: '/compressed/json-10k', headers: { 'accept-encoding': 'gzip' } },
  { name: 'rate-limit (memory store)', path: '/rl/', gateway: { config: 'bench/rate-limit.yaml' } },
  { name: 'rate-limit (Redis, exact)', path: '/rl/', gateway: { config: 'bench/rate-limit.yaml', env: { RL_STORE: 'redis' } }, needs: ['redis'] },
  { name: 'rate-limit (Redis, lease)', path: '/rl-lease/', gateway: { config: 'bench/rate-limit.yaml', env: { RL_STORE: 'redis' } }, needs: ['redis'] },
];
