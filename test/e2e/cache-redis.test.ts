import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describeRedis } from '../redis.js';
import { freePort, httpRequest, sleep, startGateway, startUpstream, writeTempConfig, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * The shared cache: two gateway processes (the built CLI) on one real redis-server see
 * each other's entries, and a purge from a third instance reaches both.
 */

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

interface Proc {
  child: ChildProcess;
  url: string;
}


/** Starts `gantry start --config FILE` and resolves once its /readyz answers. */
async function startProcess(yaml: string): Promise<Proc> {
  const port = await freePort();
  const file = writeTempConfig(yaml.replace('port: 0', `port: ${port}`));
  const child = spawn(process.execPath, [CLI, 'start', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway process exited with ${child.exitCode}: ${err}`);
    try {
      if ((await httpRequest(url + '/readyz')).status === 200) return { child, url };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway process did not become ready: ${err}`);
    }
    await sleep(50);
  }
}

function stopProcess(p: Proc | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null) return Promise.resolve();
  return new Promise((r) => {
    p.child.once('exit', () => r());
    p.child.kill('SIGTERM');
  });
}

describeRedis('shared cache in redis', (redis) => {
  let up: TestUpstream;
  let a: Proc | undefined;
  let b: Proc | undefined;
  let purger: TestGateway | undefined;
  const hits = new Map<string, number>();

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const n = (hits.get(req.url!) ?? 0) + 1;
      hits.set(req.url!, n);
      const tag = req.url!.includes('/red/') ? 'red' : 'blue';
      const body = `${req.url} #${n}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=300', 'surrogate-key': tag, etag: `"${n}"`, vary: 'accept-language' });
      res.end(body);
    });
    const yaml = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
store: { kind: redis, url: "${redis().url}", keyPrefix: "gantry-test:" }
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: products, match: { path: /p/* }, upstream: up, policies: [ { cache: { zone: products } } ] }
`;
    // Each instance reads its own copy (its own directory), as on separate machines.
    [a, b] = await Promise.all([startProcess(yaml), startProcess(yaml)]);
    purger = await startGateway(yaml);
  });
  afterAll(async () => {
    await Promise.all([stopProcess(a), stopProcess(b), purger?.close()]);
    await up?.close();
  });

  // Behind a load balancer every instance sees the same Host (it is part of the key).
  const get = (p: Proc, path: string, lang = 'en') => httpRequest(p.url + path, { headers: { host: 'api.example.com', 'accept-language': lang } });

  it('an entry stored by one instance is a hit on the other', async () => {
    const first = await get(a!, '/p/red/1');
    // Chunked (no Content-Length): stored once complete, but not announced at the head.
    expect(first.headers['cache-status']).toBe('gantry; fwd=uri-miss; fwd-status=200');
    const other = await get(b!, '/p/red/1');
    expect(other.text).toBe('/p/red/1 #1');
    expect(other.headers['cache-status']).toMatch(/^gantry; hit/);
    expect(other.headers['surrogate-key']).toBeUndefined();
    // Vary works across instances too.
    const fr = await get(b!, '/p/red/1', 'fr');
    expect(fr.headers['cache-status']).toMatch(/fwd=vary-miss/);
    expect((await get(a!, '/p/red/1', 'fr')).text).toBe('/p/red/1 #2');
    expect(hits.get('/p/red/1')).toBe(2);
  });

  it('client validators are answered from the shared entry', async () => {
    await get(a!, '/p/blue/9');
    const r = await httpRequest(b!.url + '/p/blue/9', { headers: { host: 'api.example.com', 'accept-language': 'en', 'if-none-match': '"1"' } });
    expect(r.status).toBe(304);
    expect(hits.get('/p/blue/9')).toBe(1);
  });

  it('purge by tag, prefix and key from a third instance reaches both', async () => {
    await get(a!, '/p/red/2');
    await get(a!, '/p/blue/1');
    await get(a!, '/p/blue/2');
    expect((await get(b!, '/p/red/2')).headers['cache-status']).toMatch(/hit/);

    await purger!.gw.purgeCache({ tag: 'red' });
    expect((await get(b!, '/p/red/2')).text).toBe('/p/red/2 #2');
    expect((await get(a!, '/p/red/2')).headers['cache-status']).toMatch(/hit/);
    expect((await get(a!, '/p/blue/1')).headers['cache-status']).toMatch(/hit/);

    await purger!.gw.purgeCache({ key: '/p/blue/1' });
    expect((await get(a!, '/p/blue/1')).text).toBe('/p/blue/1 #2');
    expect((await get(b!, '/p/blue/2')).headers['cache-status']).toMatch(/hit/);

    await purger!.gw.purgeCache({ prefix: '/p/blue/' });
    expect((await get(b!, '/p/blue/2')).text).toBe('/p/blue/2 #2');
    expect((await get(a!, '/p/blue/2')).headers['cache-status']).toMatch(/hit/);
  });
});
