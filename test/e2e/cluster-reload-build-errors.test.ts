import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, httpRequest, spawnGateway, type SpawnedGateway } from '../helpers.js';

/**
 * Cluster mode (`gantry start --workers 2`): a reload whose admin listener cannot bind in
 * the primary answers 422 with the same issue a single process gives (file:line admin:
 * reason), the old admin listener keeps serving, and no worker reloads (all stay on one
 * config version). A rebind that works moves the admin listener along with the workers, and
 * the reload asked for on the old listener gets its answer there.
 */

const TOKEN = 'cluster-build-errors-token-01';
const auth = { authorization: `Bearer ${TOKEN}` };

const config = (pub: number, admin: number, body = 'one') => `version: 1
listeners: [ { name: public, port: ${pub}, host: 127.0.0.1 } ]
reload: { watch: false }
log: { level: warn, access: false }
admin:
  host: 127.0.0.1
  port: ${admin}
  token: "${TOKEN}"
routes:
  - { name: hello, match: { path: /hello }, static: { body: ${body} } }
`;

interface WorkerStatus {
  pid: number;
  version: number;
  lastReload: { ok: boolean; issues?: string[] } | null;
}

describe('cluster mode: a reload whose admin listener cannot bind', () => {
  let gantry: SpawnedGateway;
  let squatter: net.Server;
  let pub: number;
  let adminPort: number;
  let taken: number;

  beforeAll(async () => {
    squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    taken = (squatter.address() as net.AddressInfo).port;
    pub = await freePort();
    adminPort = await freePort();
    gantry = await spawnGateway(config(pub, adminPort), { args: ['--workers', '2'], readyUrl: `http://127.0.0.1:${adminPort}/readyz` });
  });
  afterAll(async () => {
    await gantry?.stop();
    await new Promise((r) => squatter?.close(r));
  });

  const workers = async (port = adminPort) =>
    (await httpRequest(`http://127.0.0.1:${port}/api/status`, { headers: auth })).json<{ workers: WorkerStatus[] }>().workers;

  it('answers 422 naming file:line admin and the reason; the old admin listener and every worker keep their config', async () => {
    const before = await workers();
    expect(before.map((w) => w.version)).toEqual([1, 1]);
    const text = config(pub, taken, 'two');
    writeFileSync(gantry.file, text);
    const res = await httpRequest(`http://127.0.0.1:${adminPort}/api/reload`, { method: 'POST', headers: auth });
    expect(res.status).toBe(422);
    const line = text.split('\n').findIndex((l) => l.startsWith('admin:')) + 1;
    const issue = `${gantry.file}:${line} admin: cannot listen on 127.0.0.1:${taken}: address in use (EADDRINUSE)`;
    const body = res.json<{ ok: boolean; version: number; issues: string[]; workers: { ok: boolean; version: number }[] }>();
    expect(body).toMatchObject({ ok: false, version: 1, issues: [issue] });
    expect(body.workers.map((w) => [w.ok, w.version])).toEqual([
      [false, 1],
      [false, 1],
    ]);
    // No worker took the config the primary could not apply; each shows the failed reload.
    const after = await workers();
    expect(after.map((w) => [w.pid, w.version, w.lastReload?.ok, w.lastReload?.issues])).toEqual(before.map((w) => [w.pid, 1, false, [issue]]));
    for (let i = 0; i < 4; i++) expect((await httpRequest(`http://127.0.0.1:${pub}/hello`)).text).toBe('one');
    const metrics = (await httpRequest(`http://127.0.0.1:${adminPort}/metrics`, { headers: auth })).text;
    expect(metrics).toMatch(/gantry_config_last_reload_successful 0\b/);
  });

  it('a rebind that works moves the admin listener once every worker reloaded, answering on the old one', async () => {
    const moved = await freePort();
    writeFileSync(gantry.file, config(pub, moved, 'two'));
    const res = await httpRequest(`http://127.0.0.1:${adminPort}/api/reload`, { method: 'POST', headers: auth });
    expect(res.status).toBe(200);
    expect(res.json<{ workers: { ok: boolean; version: number }[] }>().workers.map((w) => [w.ok, w.version])).toEqual([
      [true, 2],
      [true, 2],
    ]);
    const after = await workers(moved);
    expect(after.map((w) => [w.version, w.lastReload?.ok])).toEqual([
      [2, true],
      [2, true],
    ]);
    expect((await httpRequest(`http://127.0.0.1:${pub}/hello`)).text).toBe('two');
    await expect(httpRequest(`http://127.0.0.1:${adminPort}/readyz`)).rejects.toThrow(/ECONNREFUSED/);
  });
});
