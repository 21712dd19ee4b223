import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, httpRequest, spawnGateway, startGateway, startUpstream, type SpawnedGateway, type TestGateway, type TestUpstream } from '../helpers.js';

/** The revalidation's exchange on the upstream side. */
interface Revalidation {
  at?: number;
  finished?: number;
  cut?: number;
}

/**
 * An origin whose first answer is stored already stale (Age 10 s, max-age=1, with
 * stale-while-revalidate), and whose answer to the revalidation takes a second.
 */
function slowRevalidation(revalidation: Revalidation) {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers['if-none-match'] === undefined) {
      res.writeHead(200, { etag: '"a"', age: '10', 'cache-control': 'max-age=1, stale-while-revalidate=60', 'content-length': '2' }).end('v1');
      return;
    }
    revalidation.at = Date.now();
    res.once('finish', () => (revalidation.finished = Date.now()));
    res.once('close', () => {
      if (!res.writableFinished) revalidation.cut = Date.now();
    });
    setTimeout(() => {
      if (!res.destroyed) res.writeHead(200, { etag: '"b"', 'cache-control': 'max-age=60', 'content-length': '2' }).end('v2');
    }, 1000);
  };
}

const config = (origin: string, extra = '', drainTimeout = '10s') => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { drainTimeout: ${drainTimeout} }
upstreams: { origin: { targets: [ "${origin}" ] } }
routes:
  - { name: cached, match: { path: /* }, upstream: origin, policies: [ { cache: {} } ] }
${extra}`;

/** Stores the entry, then gets it stale: the background revalidation is under way. */
async function staleHit(url: string): Promise<void> {
  const first = await httpRequest(url);
  expect(first.headers['cache-status']).toMatch(/fwd=uri-miss; fwd-status=200; stored/);
  const stale = await httpRequest(url);
  expect(stale.text).toBe('v1');
  expect(stale.headers['cache-status']).toMatch(/hit; detail=stale-while-revalidate/);
}

/**
 * Background work outlives the client request that started it: a stale-while-revalidate
 * hit answers at once and refreshes the entry afterwards (RFC 5861). A SIGTERM that comes
 * right after must let that refresh finish (within `drainTimeout`) before pools and
 * stores close and the process exits.
 */
describe('drain waits for background work', () => {
  let up: TestUpstream | undefined;
  let gw: SpawnedGateway | undefined;
  afterEach(async () => {
    await gw?.stop('SIGKILL');
    await up?.close();
    gw = up = undefined;
  });

  let inProcess: TestGateway | undefined;
  afterEach(async () => {
    await inProcess?.close();
    inProcess = undefined;
  });

  it('SIGTERM after a stale hit: the revalidation reaches the upstream, completes, and the process exits 0 after it', async () => {
    const revalidation: Revalidation = {};
    up = await startUpstream(slowRevalidation(revalidation));
    gw = await spawnGateway(config(up.url));
    await staleHit(`http://127.0.0.1:${gw.port}/item`);

    // The client requests are over; only the background revalidation is left.
    const code = await gw.stop('SIGTERM');
    const exitedAt = Date.now();
    expect(code).toBe(0);
    expect(up.seen.map((r) => r.headers['if-none-match'])).toEqual([undefined, '"a"']);
    expect(revalidation.cut).toBeUndefined();
    expect(revalidation.finished).toBeDefined();
    expect(revalidation.finished!).toBeLessThanOrEqual(exitedAt);
    const draining = gw.logs.find((l) => l.msg === 'draining');
    expect(draining).toMatchObject({ inFlight: 0, background: 2 }); // the revalidation and its subrequest
    expect(gw.logs.find((l) => l.msg === 'drained')).toMatchObject({ inTime: true });
    expect(gw.logs.filter((l) => l.msg === 'background cache revalidation failed')).toEqual([]);
  });

  it('past drainTimeout the revalidation is cancelled: the process exits 1 without waiting for it', async () => {
    const revalidation: Revalidation = {};
    up = await startUpstream(slowRevalidation(revalidation));
    gw = await spawnGateway(config(up.url, '', '200ms'));
    await staleHit(`http://127.0.0.1:${gw.port}/item`);
    expect(await gw.stop('SIGTERM')).toBe(1);
    expect(gw.logs.find((l) => l.msg === 'drained')).toMatchObject({ inTime: false });
    // The upstream exchange was aborted, not waited for.
    await eventually(() => revalidation.cut, 2000, 'the revalidation to be cut');
    expect(revalidation.finished).toBeUndefined();
  });

  it('a reload after a stale hit: the old config retires only once the revalidation is done', async () => {
    const revalidation: Revalidation = {};
    up = await startUpstream(slowRevalidation(revalidation));
    inProcess = await startGateway(config(up.url));
    const old = inProcess.gw.runtime;
    await staleHit(`${inProcess.url}/item`);
    writeFileSync(inProcess.file, config(up.url, '  - { name: other, match: { path: /other }, upstream: origin }\n'));
    expect(await inProcess.gw.reload()).toMatchObject({ ok: true });
    expect(inProcess.gw.runtime).not.toBe(old);
    // Client requests are done; the old version still counts its background work.
    expect(inProcess.gw.inFlight).toBe(0);
    expect(inProcess.gw.background).toBe(2);
    expect(old.inFlight).toBe(2);
    expect(revalidation.finished).toBeUndefined();
    await eventually(() => (old.inFlight === 0 ? true : undefined), 5000, 'the old config to finish its background work');
    expect(revalidation.finished).toBeDefined();
    expect(revalidation.cut).toBeUndefined();
    expect(inProcess.gw.background).toBe(0);
    // The refreshed entry was stored: the next request is a fresh hit.
    const after = await httpRequest(`${inProcess.url}/item`);
    expect(after.text).toBe('v2');
    expect(after.headers['cache-status']).toMatch(/^gantry; hit/);
  });
});
