import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, httpRequest, spawnGateway, writeTempConfig, type SimpleResponse, type SpawnedGateway } from '../helpers.js';

/**
 * Cluster mode bounds a worker's start: a replacement worker that never reports ready (its
 * plugin factory never resolves) is killed after the start timeout (lowered here through
 * GANTRY_WORKER_START_TIMEOUT), so a reload queued behind it still answers, the other worker
 * keeps serving, and the replacement is forked again until one starts.
 *
 * The plugin `hang.mjs`, written by the test next to the config, never resolves its factory
 * in a worker forked after the first two (cluster id > 2) while the file `hang.marker`
 * exists (in every worker when HANG_EVERY_WORKER=1); it writes `hanging.<pid>` when it starts
 * to hang.
 */

const TOKEN = 'cluster-start-timeout-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const START_TIMEOUT = 8000; // worker start under a loaded 2-core CI machine takes up to ~4 s; twice that keeps the bound honest

describe('cluster mode: a worker that never gets ready', { timeout: 6 * START_TIMEOUT }, () => {
  let gantry: SpawnedGateway;
  let pub: string;
  let admin: string;
  let dir: string;

  const config = (body: string) => `version: 1
listeners: [ { name: public, port: ${new URL(pub).port}, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: ${new URL(admin).port}, token: "${TOKEN}" }
reload: { watch: false }
log: { level: warn, access: false }
plugins: [ ./hang.mjs ]
routes:
  - { name: text, match: { path: /text }, static: { body: ${body} }, policies: [ { hang-build: {} } ] }
`;

  beforeAll(async () => {
    pub = `http://127.0.0.1:${await freePort()}`;
    admin = `http://127.0.0.1:${await freePort()}`;
    const file = writeTempConfig(config('one'));
    dir = dirname(file);
    writeFileSync(join(dir, 'hang.mjs'), `import cluster from 'node:cluster';
import { existsSync, writeFileSync } from 'node:fs';
export default {
  name: 'hang-build',
  description: 'Never finishes building in a replacement worker while hang.marker exists.',
  schema: { type: 'object' },
  create() {
    const stuck = process.env.HANG_EVERY_WORKER === '1' || (cluster.worker?.id ?? 0) > 2;
    if (!stuck || !existsSync(${JSON.stringify(join(dir, 'hang.marker'))})) return {};
    writeFileSync(${JSON.stringify(dir)} + '/hanging.' + process.pid, '');
    return new Promise(() => {});
  },
};
`);
    gantry = await spawnGateway('', { file, args: ['--workers', '2'], readyUrl: `${admin}/readyz`, env: { GANTRY_WORKER_START_TIMEOUT: String(START_TIMEOUT) } });
  });
  afterAll(async () => {
    await gantry?.stop();
  });

  const workers = async () => (await httpRequest(`${admin}/api/status`, { headers: auth })).json<{ workers: { pid: number; version: number }[] }>().workers;
  /** What the listener serves over fresh connections. */
  const served = async () => new Set(await Promise.all(Array.from({ length: 8 }, async () => (await httpRequest(`${pub}/text`)).text)));
  const hanging = () => readdirSync(dir).filter((f) => f.startsWith('hanging.'));

  it('kills the replacement after the start timeout; a reload queued behind it answers and the other worker serves', async () => {
    const [victim, survivor] = (await workers()).map((w) => w.pid);
    writeFileSync(join(dir, 'hang.marker'), '');
    process.kill(victim!, 'SIGKILL');
    // The replacement is forked and stuck in its plugin factory, holding the queue.
    await eventually(() => hanging().length > 0 || undefined, 15_000, 'a replacement worker to hang');
    expect(await served()).toEqual(new Set(['one']));

    writeFileSync(gantry.file, config('two'));
    const reload = httpRequest(`${admin}/api/reload`, { method: 'POST', headers: auth });
    const bound = new Promise<SimpleResponse>((_, reject) => setTimeout(() => reject(new Error('the reload did not answer within 3 start timeouts')), 3 * START_TIMEOUT).unref());
    const res = await Promise.race([reload, bound]);
    expect(res.status).toBe(200);
    const body = res.json<{ workers: { ok: boolean; version: number }[] }>();
    expect(body.workers.map((w) => [w.ok, w.version])).toEqual([[true, 2]]);
    expect(await served()).toEqual(new Set(['two']));
    expect((await workers()).map((w) => w.pid)).toEqual([survivor]);

    // The primary's log lines reach the test's pipe asynchronously.
    const logged = (msg: string) => eventually(() => gantry.logs.find((l) => l.msg === msg), 5000, `the log line '${msg}'`);
    const killed = await logged('worker not ready within the start timeout; killing it');
    expect(killed).toMatchObject({ level: 'error', startTimeout: START_TIMEOUT });
    const failed = await logged('replacement worker failed');
    expect((failed.err as { message?: string }).message).toMatch(new RegExp(`was not ready within the start timeout \\(${START_TIMEOUT} ms\\)`));
    await eventually(() => !existsSync(`/proc/${killed.pid as number}`) || undefined, 5000, 'the stuck worker to be gone');
  });

  it('forks the replacement again, like a crashed worker, until one starts on the current config', async () => {
    rmSync(join(dir, 'hang.marker'));
    const after = await eventually(async () => {
      const st = await workers();
      return st.length === 2 ? st : undefined;
    }, 4 * START_TIMEOUT, 'a replacement worker that starts');
    expect(after.map((w) => w.version)).toEqual([2, 2]);
    expect(await served()).toEqual(new Set(['two']));
  });

  it('a cluster whose first workers never get ready exits 1 naming the start timeout', async () => {
    // Another instance on its own ports and folder, the same plugin, every worker stuck.
    const yaml = config('one').replace(new URL(pub).port, String(await freePort())).replace(new URL(admin).port, String(await freePort()));
    const file = writeTempConfig(yaml);
    writeFileSync(join(dirname(file), 'hang.mjs'), readFileSync(join(dir, 'hang.mjs'), 'utf8').replaceAll(dir, dirname(file)));
    writeFileSync(join(dirname(file), 'hang.marker'), '');
    const started = spawnGateway('', { file, args: ['--workers', '2'], env: { GANTRY_WORKER_START_TIMEOUT: String(START_TIMEOUT), HANG_EVERY_WORKER: '1' } });
    await expect(started).rejects.toThrow(new RegExp(`gateway exited \\(1\\)[^]*cluster failed to start[^]*was not ready within the start timeout \\(${START_TIMEOUT} ms\\)`));
  });

  it('a start timeout that is not a positive number of milliseconds is named in a warning and the default applies', async () => {
    const port = await freePort();
    const file = writeTempConfig(`version: 1
listeners: [ { name: public, port: ${port}, host: 127.0.0.1 } ]
reload: { watch: false }
log: { level: warn, access: false }
routes:
  - { name: text, match: { path: /text }, static: { body: fine } }
`);
    const other = await spawnGateway('', { file, args: ['--workers', '2'], readyUrl: `http://127.0.0.1:${port}/text`, env: { GANTRY_WORKER_START_TIMEOUT: '10s' } });
    try {
      const warned = await eventually(() => other.logs.find((l) => l.msg === 'GANTRY_WORKER_START_TIMEOUT is not a positive number of milliseconds; using the default'), 5000, 'the warning');
      expect(warned).toMatchObject({ level: 'warn', value: '10s', startTimeout: 30_000 });
      expect((await httpRequest(`http://127.0.0.1:${port}/text`)).text).toBe('fine');
    } finally {
      await other.stop();
    }
  });
});
