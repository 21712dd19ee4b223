import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { cacheClock } from '../../src/policies/cache/clock.js';

/**
 * A 304 whose validators select nothing stored makes the cache fetch the resource again,
 * without validators, for the client (RFC 9111 §4.3.4). That refetch is the client's own
 * exchange: when the client goes away, it is cancelled like the first upstream request,
 * whether its head has arrived yet or not. The upstream sees the refetch's connection closed
 * at once (not when its headers or body timeout fires), the background-work count that a
 * drain waits for drops to 0, and the gateway goes on serving.
 */

/** How the origin answers the refetch (the second request without validators). */
type Refetch = 'no-head' | 'endless-body';

/** The upstream side of one refetch. */
interface Seen {
  res: ServerResponse;
  cut?: number;
}

const mode = new Map<string, Refetch | 'plain'>();
/** Unconditional requests per path (the first stores v1, the second is the refetch). */
const unconditional = new Map<string, number>();
const refetches = new Map<string, Seen>();
let now = Date.now();

function origin(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url!;
  const m = mode.get(path) ?? 'plain';
  const cc = 'max-age=5';
  if (req.headers['if-none-match'] !== undefined) {
    // Validators for another version than the stored one ("a"): nothing stored is selected.
    res.writeHead(304, { etag: '"b"', 'cache-control': cc }).end();
    return;
  }
  const n = (unconditional.get(path) ?? 0) + 1;
  unconditional.set(path, n);
  if (n === 1 || m === 'plain') {
    res.writeHead(200, { etag: n === 1 ? '"a"' : '"c"', 'cache-control': cc, 'content-type': 'text/plain', 'content-length': '2' }).end(n === 1 ? 'v1' : 'v3');
    return;
  }
  const seen: Seen = { res };
  refetches.set(path, seen);
  res.once('close', () => {
    if (!res.writableFinished) seen.cut = Date.now();
  });
  if (m === 'no-head') return; // never answers: only a cancel frees this request
  res.writeHead(200, { etag: '"b"', 'cache-control': cc, 'content-type': 'text/plain' });
  const timer = setInterval(() => res.write('e'.repeat(1024)), 20);
  res.once('close', () => clearInterval(timer));
}

describe('cache: the client going away cancels the refetch after a non-matching 304', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    cacheClock.set(() => now);
    up = await startUpstream(origin);
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams: { origin: { targets: [ "${up.url}" ] } }
routes:
  - { name: cached, match: { path: /* }, upstream: origin, policies: [ { cache: { maxEntrySize: 1kb } } ] }
`);
  });
  afterAll(async () => {
    cacheClock.reset();
    await gw?.close();
    await up?.close();
  });

  const cases: { refetch: Refetch; desc: string }[] = [
    { refetch: 'no-head', desc: 'before the refetch has a response head' },
    { refetch: 'endless-body', desc: 'while the refetch body streams' },
  ];
  for (const c of cases) {
    it(`${c.desc}: the refetch is closed upstream, the work count drops, the gateway still serves`, async () => {
      const path = `/${c.refetch}`;
      mode.set(path, c.refetch);
      const first = await httpRequest(gw.url + path);
      expect(first.headers['cache-status']).toMatch(/fwd=uri-miss; fwd-status=200; stored/);
      now += 10_000; // past max-age=5: the next request revalidates with If-None-Match "a"

      const client = http.request(gw.url + path, { agent: false });
      client.on('error', () => {});
      let bytes = 0;
      client.on('response', (res) => res.on('data', (d: Buffer) => (bytes += d.length)));
      client.end();
      const seen = await eventually(() => refetches.get(path), 5000, 'the refetch to reach the upstream');
      if (c.refetch === 'endless-body') await eventually(() => (bytes > 0 ? true : undefined), 5000, 'the refetched body to reach the client');
      expect(gw.gw.background).toBe(1);

      client.destroy();
      // Far below the upstream's headers and body timeouts: a cancelled refetch closes at once.
      await eventually(() => seen.cut, 2000, 'the upstream to see the refetch closed');
      await eventually(() => (gw.gw.background === 0 && gw.gw.inFlight === 0 ? true : undefined), 2000, 'the counts to drop to 0');
      expect(gw.logs.filter((l) => (l.level as number) >= 40)).toEqual([]);

      mode.set(path, 'plain');
      const after = await httpRequest(gw.url + path);
      expect(after.status).toBe(200);
      expect(after.text).toBe('v3');
      expect(after.headers['cache-status']).toMatch(/^gantry; fwd=uri-miss; fwd-status=200; stored/);
    });
  }
});
