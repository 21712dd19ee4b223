import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, httpRequest, spawnGateway, type SpawnedGateway } from '../helpers.js';
import { handshake, issue, makeCa, writePems, type Issued } from '../tls-fixtures.js';

/**
 * Cluster mode (`gantry start --workers 2`): each worker does its own TLS, so a certificate
 * rotation must reach every worker's listener in place; a bad new certificate reaches none.
 */

const TOKEN = 'cluster-tls-token-000001';
const auth = { authorization: `Bearer ${TOKEN}` };

describe('cluster mode: certificates rotate in every worker', () => {
  let gantry: SpawnedGateway;
  let ca: Issued;
  let a: Issued;
  let b: Issued;
  let files: ReturnType<typeof writePems>;
  let pub: number;
  let admin: number;

  beforeAll(async () => {
    ca = await makeCa('Cluster TLS CA');
    [a, b] = await Promise.all([issue(ca, { cn: 'api-A', usage: 'server', dns: ['api.example.com'] }), issue(ca, { cn: 'api-B', usage: 'server', dns: ['api.example.com'] })]);
    const def = await issue(ca, { cn: 'default', usage: 'server', dns: ['default.test'] });
    [pub, admin] = [await freePort(), await freePort()];
    const yaml = `version: 1
listeners:
  - name: public
    port: ${pub}
    host: 127.0.0.1
    protocol: https
    tls:
      cert: def.pem
      key: def-key.pem
      certificates:
        - { serverNames: [api.example.com], cert: api.pem, key: api-key.pem }
reload: { watch: false }
log: { level: warn, access: false }
admin: { host: 127.0.0.1, port: ${admin}, token: "${TOKEN}" }
routes: [ { name: r, match: { path: /* }, static: { status: 200 } } ]
`;
    files = writePems({ 'gateway.yaml': yaml, 'def.pem': def.cert, 'def-key.pem': def.key, 'api.pem': a.cert, 'api-key.pem': a.key });
    gantry = await spawnGateway(yaml, { file: files.path('gateway.yaml'), args: ['--workers', '2'], readyUrl: `http://127.0.0.1:${admin}/readyz` });
  });
  afterAll(async () => {
    await gantry?.stop();
  });

  /** The certificate names of several handshakes (connections alternate between the workers). */
  const served = async () => {
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push((await handshake(pub, 'api.example.com', { ca: ca.cert })).cn);
    return [...new Set(seen)];
  };

  it('a bad new key fails the reload in the primary; every worker keeps the old certificate', async () => {
    expect(await served()).toEqual(['api-A']);
    writeFileSync(files.path('api-key.pem'), b.key);
    const res = await httpRequest(`http://127.0.0.1:${admin}/api/reload`, { method: 'POST', headers: auth });
    expect(res.status).toBe(422);
    expect(res.text).toMatch(/listeners\[0\]\.tls\.certificates\[0\]: unusable certificate or key/);
    expect(await served()).toEqual(['api-A']);
  });

  it('new files and a reload: every worker serves the new certificate', async () => {
    writeFileSync(files.path('api.pem'), b.cert);
    const res = await httpRequest(`http://127.0.0.1:${admin}/api/reload`, { method: 'POST', headers: auth });
    expect(res.status).toBe(200);
    expect(res.json<{ workers: { ok: boolean }[] }>().workers.map((w) => w.ok)).toEqual([true, true]);
    expect(await served()).toEqual(['api-B']);
  });
});
