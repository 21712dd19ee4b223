import http, { type ClientRequest, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, parseMetrics, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

const TOKEN = 'in-flight-token-0123456789';

/**
 * `gantry_requests_in_flight` and `gantry_background_in_flight`, scraped from the admin
 * listener while requests are held open by a slow upstream.
 */
describe('in-flight gauges', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  /** Upstream responses held open; `release` ends them all. */
  const held: ServerResponse[] = [];
  const release = () => {
    for (const res of held.splice(0)) res.end('"done"}');
  };

  beforeAll(async () => {
    up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '15' });
      res.write('{"data":');
      held.push(res);
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
upstreams: { origin: { targets: [ "${up.url}" ] } }
routes:
  - { name: tagged, match: { path: /tagged }, upstream: origin, policies: [ { etag: {} } ] }
  - { name: plain, match: { path: /* }, upstream: origin }
`);
  });
  afterAll(async () => {
    release();
    await gw?.close();
    await up?.close();
  });

  const scrape = async () => {
    const m = parseMetrics((await httpRequest(`http://127.0.0.1:${gw.gw.adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text);
    return [m.get('gantry_requests_in_flight'), m.get('gantry_background_in_flight')];
  };

  /** Starts a request whose upstream answer is held; resolves with the client request once the upstream has it. */
  async function hold(path: string): Promise<ClientRequest> {
    const before = held.length;
    const req = http.request(`${gw.url}${path}`, { agent: false });
    req.on('error', () => {});
    req.on('response', (res) => res.resume());
    req.end();
    await eventually(() => (held.length > before ? true : undefined), 5000, `the upstream to hold ${path}`);
    return req;
  }

  it('count client requests and background work at scrape time, and return to 0', async () => {
    expect(await scrape()).toEqual([0, 0]);

    const plain = await hold('/plain');
    expect(await scrape()).toEqual([1, 0]);

    // The etag policy reads the whole body through a subrequest: one request, one piece of background work.
    const tagged = await hold('/tagged');
    expect(await scrape()).toEqual([2, 1]);

    tagged.destroy();
    await eventually(async () => ((await scrape())[1] === 0 ? true : undefined), 5000, 'the cancelled fetch to leave the gauge');
    expect(await scrape()).toEqual([1, 0]);

    release();
    await eventually(async () => ((await scrape())[0] === 0 ? true : undefined), 5000, 'the plain request to finish');
    expect(await scrape()).toEqual([0, 0]);
  });
});
