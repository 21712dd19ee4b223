import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startGateway, startUpstream, statusOf, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * Requests the listener refuses before any route sees them are answered with the same
 * problem+json as every other gateway error, and never reach the upstream. Found by
 * `npm run fuzz` (scripts/fuzz-http.mjs): Node answered these itself, with an empty body.
 */
describe('protocol errors are problem+json', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: echo, match: { path: /* }, upstream: echo }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const cases: [desc: string, request: string, status: number, type: string][] = [
    ['HTTP/1.1 without Host (RFC 9112 §3.2)', 'GET /x HTTP/1.1\r\nX-A: 1\r\n\r\n', 400, 'bad-request'],
    ['an Expect other than 100-continue (RFC 9110 §10.1.1)', 'POST /x HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\nhello', 417, 'expectation-failed'],
    ['HTTP/2.0 in an HTTP/1 request line', 'GET /x HTTP/2.0\r\nHost: a\r\n\r\n', 505, 'http-version-not-supported'],
    ['an escape that is not UTF-8 (was 404: the router could not decode it)', 'GET /x/%FF HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad-request'],
    ['an overlong UTF-8 dot-dot', 'GET /x/%C0%AE%C0%AE/y HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'bad-request'],
  ];
  for (const [desc, request, status, type] of cases) {
    it(`${status} problem+json, nothing forwarded: ${desc}`, async () => {
      const before = up.seen.length;
      const raw = await rawRequest(gw.port, request, 1500);
      expect(statusOf(raw)).toBe(status);
      expect(raw).toMatch(/\r\ncontent-type: application\/problem\+json\r\n/i);
      const problem = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { type: string; status: number };
      expect(problem).toMatchObject({ type: `https://gantry.dev/problems/${type}`, status });
      expect(up.seen.length).toBe(before);
    });
  }

  it('HTTP/1.0 without Host is still served', async () => {
    const raw = await rawRequest(gw.port, 'GET /x HTTP/1.0\r\n\r\n', 1500);
    expect(statusOf(raw)).toBe(200);
  });
});
