import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, httpRequest, sleep, spawnGateway, type SpawnedGateway } from '../helpers.js';

const TOKEN = 'reload-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const DURATION_S = 20;
const RELOADS = 20;
/** Reload indexes that write an invalid config: a YAML syntax error and a bad reference. */
const INVALID: Record<number, string> = { 6: 'routes: [ { name: x,, }\n', 13: 'bad-ref' };

/**
 * Zero-downtime reload: while a load generator keeps ≥ 2,000 req/s on the gateway for 20 s,
 * 20 reloads (two valid configs alternating, by SIGHUP and by the admin API, plus two
 * invalid configs) cause no failed or reset request, and the invalid ones change nothing.
 */
describe('reload under load', () => {
  let upstream: http.Server;
  let upUrl: string;
  let gantry: SpawnedGateway;
  let file: string;
  let pub: string;
  let admin: string;

  const config = (variant: 'a' | 'b' | 'bad-ref') => `version: 1
listeners: [ { name: public, port: ${new URL(pub).port}, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: ${new URL(admin).port}, token: "${TOKEN}" }
reload: { watch: false }
log: { level: error, access: false }
upstreams:
  app: { targets: [ "${upUrl}" ], pool: { connections: 64 } }
routes:
  - { name: load, match: { path: /load/* }, upstream: ${variant === 'bad-ref' ? 'missing' : 'app'}, rewrite: { addPrefix: /${variant === 'b' ? 'b' : 'a'} } }
${variant === 'b' ? '  - { name: only-b, match: { path: /only-b }, static: { status: 200, body: b } }\n' : ''}`;

  beforeAll(async () => {
    // Tiny upstream: answers with the path it saw, so a probe tells which config served it.
    upstream = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(req.url!) });
      res.end(req.url);
    });
    upstream.keepAliveTimeout = 60_000;
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    upUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    pub = `http://127.0.0.1:${await freePort()}`;
    admin = `http://127.0.0.1:${await freePort()}`;
    gantry = await spawnGateway(config('a'), { readyUrl: `${admin}/readyz` });
    file = gantry.file;
  });
  afterAll(async () => {
    await gantry?.stop();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => upstream?.close(() => r()));
  });

  const status = async () =>
    (await httpRequest(`${admin}/api/status`, { headers: auth })).json<{ config: { version: number; hash: string }; lastReload: { at: string; ok: boolean } | null }>();

  it('serves every request across 20 reloads (2 invalid) at ≥ 2,000 req/s', { timeout: 90_000 }, async () => {
    const load = autocannon({ url: `${pub}/load/x`, connections: 16, duration: DURATION_S, timeout: 5 });
    const log: string[] = [];
    let served = await status();
    let expectVariant: 'a' | 'b' = 'a';
    const t0 = Date.now();
    for (let i = 0; i < RELOADS; i++) {
      await sleep(Math.max(0, t0 + (i + 1) * ((DURATION_S - 1.5) * 1000) / RELOADS - Date.now()));
      const invalid = INVALID[i];
      const variant: 'a' | 'b' | undefined = invalid === undefined ? (expectVariant === 'a' ? 'b' : 'a') : undefined;
      writeFileSync(file, invalid === 'bad-ref' ? config('bad-ref') : (invalid ?? config(variant!)));
      const before = served;
      if (i % 2 === 0) {
        gantry.signal('SIGHUP');
      } else {
        const r = await httpRequest(`${admin}/api/reload`, { method: 'POST', headers: auth });
        expect(r.status).toBe(invalid === undefined ? 200 : 422);
      }
      served = await eventually(async () => {
        const s = await status();
        return s.lastReload && s.lastReload.at !== before.lastReload?.at ? s : undefined;
      }, 10_000, `reload ${i}`);
      if (invalid !== undefined) {
        // Rejected: same version and hash as before, and the old config still answers.
        expect(served.lastReload!.ok).toBe(false);
        expect(served.config).toEqual(before.config);
      } else {
        expect(served.lastReload!.ok).toBe(true);
        expect(served.config.version).toBe(before.config.version + 1);
        expectVariant = variant!;
      }
      const probe = await httpRequest(`${pub}/load/probe`);
      expect(probe.text).toBe(`/${expectVariant}/load/probe`);
      log.push(`${i}:${invalid === undefined ? variant : 'invalid'}:v${served.config.version}`);
    }
    const result = await load;
    const rps = result.requests.total / DURATION_S;
    console.log(
      `reload under load: ${result.requests.total} requests in ${DURATION_S}s (${Math.round(rps)} req/s avg), p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ` +
        `errors ${result.errors}, timeouts ${result.timeouts}, non-2xx ${result.non2xx}, resets ${result.resets}; reloads ${log.join(' ')}`,
    );
    expect(result.errors).toBe(0);
    expect(result.timeouts).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result.resets).toBe(0);
    expect(result['2xx']).toBe(result.requests.total);
    // The load level is what makes this test mean something; CI (a quiet machine, CI=1 from
    // .ci/run) enforces it. A shared dev box running other suites may not reach it: there
    // the zero-failure checks above still hold, and the shortfall is reported.
    if (process.env.CI) expect(rps).toBeGreaterThanOrEqual(2000);
    else if (rps < 2000) console.warn(`reload under load: only ${Math.round(rps)} req/s on this (busy) machine; CI enforces ≥ 2,000`);
    const final = await status();
    expect(final.config.version).toBe(1 + RELOADS - Object.keys(INVALID).length);
  });
});
