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
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Auth rows (bench/auth.yaml): a fresh RSA key and API key per run, passed to the gateway
// through its environment; the token is signed here with node:crypto (RS256, RFC 7518 §3.3).
const API_KEY = 'bench-api-key-0123456789abcdef';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
const jwtInput = `${b64({ alg: 'RS256', kid: 'bench', typ: 'JWT' })}.${b64({ iss: 'https://bench.gantry.test', aud: 'bench', sub: 'bench-user', scope: 'read', exp: Math.floor(Date.now() / 1000) + 86_400 })}`;
const JWT = `${jwtInput}.${sign('sha256', Buffer.from(jwtInput), rsa.privateKey).toString('base64url')}`;
// internal-token signs with a file: a fresh EC P-256 key per run, under bench/.run.
const RUN_DIR = join(dirname(fileURLToPath(import.meta.url)), '.run');
const SIGNING_KEY = join(RUN_DIR, 'internal-token.pem');
mkdirSync(RUN_DIR, { recursive: true });
writeFileSync(SIGNING_KEY, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
const AUTH = {
  config: 'bench/auth.yaml',
  env: {
    BENCH_API_KEY_HASH: `sha256:${createHash('sha256').update(API_KEY).digest('hex')}`,
    BENCH_PUBLIC_KEY: rsa.publicKey.export({ type: 'spki', format: 'pem' }),
    BENCH_SIGNING_KEY: SIGNING_KEY,
  },
};

export const ROWS = [
  { name: 'direct (no proxy)', path: '/', target: 'direct' },
  { name: 'node ceiling (bare undici proxy)', path: '/', target: 'ceiling' },
  { name: 'bare proxy route', path: '/', baseline: true },
  // Cluster mode: the primary spreads connections over two workers (both CPUs; the load
  // generator shares them, so on 2 cores this row shows the cost/benefit of --workers 2).
  { name: 'bare proxy route, --workers 2', path: '/', gateway: { workers: 2 } },
  // Tracing configured, nothing sampled: the per-request cost of having tracing on.
  { name: 'bare proxy route, tracing on (0% sampled)', path: '/', gateway: { config: 'bench/gateway-tracing.yaml' } },
  { name: 'request-id + headers + access log', path: '/policies/' },
  { name: 'cache hit (memory)', path: '/cached/' },
  { name: 'cache hit (Redis)', path: '/cached/', gateway: { config: 'bench/cache-redis.yaml' }, needs: ['redis'] },
  { name: 'compressed 10 KB JSON (gzip)', path: '/compressed/json-10k', headers: { 'accept-encoding': 'gzip' } },
  { name: 'rate-limit (memory store)', path: '/rl/', gateway: { config: 'bench/rate-limit.yaml' } },
  { name: 'rate-limit (Redis, exact)', path: '/rl/', gateway: { config: 'bench/rate-limit.yaml', env: { RL_STORE: 'redis' } }, needs: ['redis'] },
  { name: 'rate-limit (Redis, lease)', path: '/rl-lease/', gateway: { config: 'bench/rate-limit.yaml', env: { RL_STORE: 'redis' } }, needs: ['redis'] },
  { name: 'api-key', path: '/apikey/', gateway: AUTH, headers: { 'x-api-key': API_KEY } },
  { name: 'jwt RS256 (verified-token cache)', path: '/jwt/', gateway: AUTH, headers: { authorization: `Bearer ${JWT}` } },
  { name: 'jwt RS256, no cache (verify each request)', path: '/jwt-nocache/', gateway: AUTH, headers: { authorization: `Bearer ${JWT}` } },
  { name: 'api-key + internal-token ES256 (signed token reused)', path: '/apikey-internal/', gateway: AUTH, headers: { 'x-api-key': API_KEY } },
  { name: 'jwt RS256, no cache + internal-token ES256 (token reused across identity objects)', path: '/jwt-nocache-internal/', gateway: AUTH, headers: { authorization: `Bearer ${JWT}` } },
];
