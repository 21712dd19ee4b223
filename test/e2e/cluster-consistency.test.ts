import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, httpRequest, spawnGateway, writeTempConfig, type SpawnedGateway } from '../helpers.js';

/**
 * Cluster mode (`gantry start --workers 2`): every worker serves the primary's current
 * config, text and version. The workers build the text the primary read (an edit of the file
 * during a reload does not reach them), a reload one worker cannot build is taken by none,
 * and a worker started after a refused reload serves the accepted config, not the file.
 *
 * The plugins are written by the test next to the config: `edit.mjs` rewrites the config
 * file when the primary loads it (between the primary's read and any later read), and
 * `split.mjs` throws in its factory only in the worker whose cluster id is 2, and records
 * its `close()` (the other worker's discarded config).
 */

const TOKEN = 'cluster-consistency-token-01';
const auth = { authorization: `Bearer ${TOKEN}` };

interface WorkerStatus {
  pid: number;
  version: number;
  hash: string;
  lastReload: { ok: boolean; issues?: string[] } | null;
}

const hashOf = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

describe('cluster mode: every worker serves the primary’s config', () => {
  let gantry: SpawnedGateway;
  let pub: string;
  let admin: string;
  let dir: string;
  /** The config whose text the workers serve once reload (b) is accepted. */
  let accepted: string;

  const config = (body: string, extra = '') => `version: 1
listeners: [ { name: public, port: ${new URL(pub).port}, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: ${new URL(admin).port}, token: "${TOKEN}" }
reload: { watch: false }
log: { level: warn, access: false }
${extra}
routes:
  - { name: text, match: { path: /text }, static: { body: ${body} }, policies: [ ${extra.includes('split.mjs') ? '{ split-build: {} }' : ''} ] }
`;

  beforeAll(async () => {
    pub = `http://127.0.0.1:${await freePort()}`;
    admin = `http://127.0.0.1:${await freePort()}`;
    gantry = await spawnGateway('', { file: writeTempConfig(config('one')), args: ['--workers', '2'], readyUrl: `${admin}/readyz` });
    dir = dirname(gantry.file);
  });
  afterAll(async () => {
    await gantry?.stop();
  });

  const workers = async () => (await httpRequest(`${admin}/api/status`, { headers: auth })).json<{ workers: WorkerStatus[] }>().workers;
  const reload = () => httpRequest(`${admin}/api/reload`, { method: 'POST', headers: auth });
  /** What the listener serves over fresh connections, which the primary spreads over both workers. */
  const served = async () => new Set(await Promise.all(Array.from({ length: 8 }, async () => (await httpRequest(`${pub}/text`)).text)));

  it('every worker builds the text the primary read, even when the file changes during the reload', async () => {
    const edited = config('edited');
    writeFileSync(join(dir, 'edit.mjs'), `import cluster from 'node:cluster';
import { writeFileSync } from 'node:fs';
// Loaded by the primary while it validates the reload: the file changes after its read.
if (cluster.isPrimary) writeFileSync(${JSON.stringify(gantry.file)}, ${JSON.stringify(edited)});
export default { name: 'edit-marker', description: 'Marks the edit.', schema: { type: 'object' }, create: () => ({}) };
`);
    accepted = config('two', 'plugins: [ ./edit.mjs ]');
    writeFileSync(gantry.file, accepted);
    const res = await reload();
    expect(res.status).toBe(200);
    expect(readFileSync(gantry.file, 'utf8')).toBe(edited); // the edit did happen
    const after = await workers();
    expect(after.map((w) => [w.version, w.hash])).toEqual([
      [2, hashOf(accepted)],
      [2, hashOf(accepted)],
    ]);
    expect(await served()).toEqual(new Set(['two']));
  });

  it('a reload one worker cannot build is taken by no worker: 422 with that worker’s error', async () => {
    writeFileSync(join(dir, 'split.mjs'), `import cluster from 'node:cluster';
import { appendFileSync } from 'node:fs';
export default {
  name: 'split-build',
  description: 'Builds in every worker but the one whose cluster id is 2.',
  schema: { type: 'object' },
  create() {
    if (cluster.worker?.id === 2) throw new Error('this worker cannot build split-build');
    return { close: () => appendFileSync(${JSON.stringify(join(dir, 'closed.log'))}, process.pid + '\\n') };
  },
};
`);
    const refused = config('three', 'plugins: [ ./split.mjs ]');
    writeFileSync(gantry.file, refused);
    const res = await reload();
    expect(res.status).toBe(422);
    const body = res.json<{ ok: boolean; version: number; issues: string[]; workers: { ok: boolean; version: number }[] }>();
    const line = refused.split('\n').findIndex((l) => l.includes('split-build: {}')) + 1;
    const issue = `${gantry.file}:${line} routes[0].policies[0].split-build: route "text": this worker cannot build split-build`;
    expect(body.issues).toEqual([issue]);
    expect(body.workers.map((w) => [w.ok, w.version])).toEqual([
      [false, 2],
      [false, 2],
    ]);
    const after = await workers();
    expect(after.map((w) => [w.version, w.hash, w.lastReload?.ok, w.lastReload?.issues])).toEqual([
      [2, hashOf(accepted), false, body.issues],
      [2, hashOf(accepted), false, body.issues],
    ]);
    expect(await served()).toEqual(new Set(['two']));
    // The worker that could build it closed what it built.
    const closed = await eventually(() => (existsSync(join(dir, 'closed.log')) ? readFileSync(join(dir, 'closed.log'), 'utf8').trim().split('\n') : undefined));
    expect(closed).toHaveLength(1);
    expect(after.map((w) => String(w.pid))).toContain(closed[0]);
  });

  it('a worker started after refused reloads serves the accepted config and version, not the file', async () => {
    // On disk now: the config only one worker refused (a new worker, cluster id 3, could build it).
    const replaced = async (victim: number) =>
      eventually(async () => {
        const st = await workers();
        return st.length === 2 && !st.some((w) => w.pid === victim) ? st : undefined;
      }, 15_000, 'a replacement worker');
    let victim = (await workers())[0]!.pid;
    process.kill(victim, 'SIGKILL');
    let after = await replaced(victim);
    expect(after.map((w) => [w.version, w.hash])).toEqual([
      [2, hashOf(accepted)],
      [2, hashOf(accepted)],
    ]);
    expect(await served()).toEqual(new Set(['two']));

    // An invalid file, refused by the primary: a new worker still starts, on the accepted config.
    writeFileSync(gantry.file, 'version: 1\nroutes: [ { name: broken\n');
    expect((await reload()).status).toBe(422);
    victim = after[1]!.pid;
    process.kill(victim, 'SIGKILL');
    after = await replaced(victim);
    expect(after.map((w) => [w.version, w.hash])).toEqual([
      [2, hashOf(accepted)],
      [2, hashOf(accepted)],
    ]);
    expect(await served()).toEqual(new Set(['two']));

    // The next accepted reload takes every worker, the new ones included, to the next version.
    writeFileSync(gantry.file, config('four'));
    expect((await reload()).status).toBe(200);
    expect((await workers()).map((w) => w.version)).toEqual([3, 3]);
    expect(await served()).toEqual(new Set(['four']));
  });
});
