import http, { type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/** The upstream side of one exchange. */
interface Exchange {
  res: ServerResponse;
  finished?: number;
  cut?: number;
}

/**
 * The `etag` policy reads the whole response before it answers. When the client goes away
 * meanwhile, the read is cancelled: the upstream request is aborted and the background-work
 * count (which a drain waits for) drops, instead of downloading up to `maxSize` for nobody.
 */
describe('etag: the client going away cancels the fetch', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const exchanges: Exchange[] = [];

  beforeAll(async () => {
    // Half the body now, the rest in 5 s.
    up = await startUpstream((_req, res) => {
      const ex: Exchange = { res };
      exchanges.push(ex);
      res.once('finish', () => (ex.finished = Date.now()));
      res.once('close', () => {
        if (!res.writableFinished) ex.cut = Date.now();
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '20' });
      res.write('{"data":"01234');
      const timer = setTimeout(() => res.end('56789"}'), 5000);
      res.once('close', () => clearTimeout(timer));
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams: { origin: { targets: [ "${up.url}" ] } }
routes:
  - { name: tagged, match: { path: /* }, upstream: origin, policies: [ { etag: {} } ] }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('the upstream request is aborted and the work count drops to 0 long before the body would end', async () => {
    const client = http.request(`${gw.url}/slow`, { agent: false });
    client.on('error', () => {});
    client.end();
    // The fetch is under way: it counts as background work, the client waits for its answer.
    await eventually(() => exchanges[0], 5000, 'the upstream request');
    await eventually(() => (gw.gw.background === 1 ? true : undefined), 2000, 'the fetch to count as background work');
    expect(gw.gw.inFlight).toBe(1);

    client.destroy();
    // Bounded well under the 5 s the body would take (a cancelled fetch closes in milliseconds).
    await eventually(() => exchanges[0]!.cut, 2000, 'the upstream request to be closed');
    await eventually(() => (gw.gw.background === 0 && gw.gw.inFlight === 0 ? true : undefined), 1000, 'the counts to drop');
    expect(exchanges[0]!.finished).toBeUndefined();
    expect(exchanges).toHaveLength(1);
    expect(gw.logs.filter((l) => l.msg === 'policy failed')).toEqual([]);
  });
});
