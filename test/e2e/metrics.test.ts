import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, parseMetrics, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

const TOKEN = 'metrics-token-0123456789';


/** Policies' metrics reach /metrics with route and policy names; a reload drops removed routes' series. */
describe('metrics across features', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const config = (withLimited: boolean) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
upstreams:
  app: { targets: [ "${up.url}" ] }
routes:
  - name: cached
    match: { path: /cached }
    upstream: app
    policies: [ { cache: { ttl: 30s } } ]
${withLimited ? `  - name: limited
    match: { path: /limited }
    upstream: app
    policies: [ { rate-limit: { name: two-per-hour, algorithm: fixed-window, limit: 2, window: 1h } } ]
` : ''}`;
  const scrape = async () => parseMetrics((await httpRequest(`http://127.0.0.1:${gw.gw.adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text);

  beforeAll(async () => {
    up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '2' });
      res.end('ok');
    });
    gw = await startGateway(config(true));
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('counts rate-limit decisions and cache results by route and policy name', async () => {
    const limited = [];
    for (let i = 0; i < 3; i++) limited.push((await httpRequest(`${gw.url}/limited`)).status);
    expect(limited).toEqual([200, 200, 429]);
    for (let i = 0; i < 3; i++) expect((await httpRequest(`${gw.url}/cached`)).status).toBe(200);
    const v = await scrape();
    expect(v.get('gantry_rate_limit_decisions_total{route="limited",policy="two-per-hour",decision="allowed"}')).toBe(2);
    expect(v.get('gantry_rate_limit_decisions_total{route="limited",policy="two-per-hour",decision="denied"}')).toBe(1);
    expect(v.get('gantry_http_requests_total{route="limited",method="GET",status_class="4xx"}')).toBe(1);
    expect(v.get('gantry_cache_requests_total{route="cached",result="miss"}')).toBe(1);
    expect(v.get('gantry_cache_requests_total{route="cached",result="hit"}')).toBe(2);
    // Only the miss reached the upstream.
    expect(v.get(`gantry_upstream_attempts_total{upstream="app",target="${up.url}",outcome="2xx"}`)).toBe(3);
  });

  it('a reload that removes a route drops its series', async () => {
    writeFileSync(gw.file, config(false));
    expect((await gw.gw.reload()).ok).toBe(true);
    // Series are dropped once the old config has no request left (retire is asynchronous).
    const text = await eventually(async () => {
      const t = [...(await scrape()).keys()].join('\n');
      return t.includes('route="limited"') ? undefined : t;
    }, 5000, 'the removed route\'s series to be dropped');
    expect(text).toContain('route="cached"');
  });
});
