import { describe, expect, it } from 'vitest';
import { AggregatorRegistry } from 'prom-client';
import { GatewayMetrics, statusClass } from './metrics.js';
import { parseMetrics } from '../../test/helpers.js';

describe('metrics', () => {
  it('counts requests by route, method and status class with a latency histogram', async () => {
    const m = new GatewayMetrics({ processMetrics: false });
    m.requestDone('products', 'GET', 200, 0.003);
    m.requestDone('products', 'GET', 204, 0.2);
    m.requestDone('products', 'BREW', 503, 0.0001);
    m.requestDone(undefined, 'GET', 404, 0.0001);
    m.requestDone('products', 'GET', 0, 1);
    const v = parseMetrics(await m.text());
    expect(v.get('gantry_http_requests_total{route="products",method="GET",status_class="2xx"}')).toBe(2);
    expect(v.get('gantry_http_requests_total{route="products",method="OTHER",status_class="5xx"}')).toBe(1);
    expect(v.get('gantry_http_requests_total{route="(unmatched)",method="GET",status_class="4xx"}')).toBe(1);
    expect(v.get('gantry_http_requests_total{route="products",method="GET",status_class="aborted"}')).toBe(1);
    const h = 'gantry_http_request_duration_seconds';
    expect(v.get(`${h}_bucket{route="products",method="GET",status_class="2xx",le="0.0025"}`)).toBe(0);
    expect(v.get(`${h}_bucket{route="products",method="GET",status_class="2xx",le="0.005"}`)).toBe(1);
    expect(v.get(`${h}_bucket{route="products",method="GET",status_class="2xx",le="0.25"}`)).toBe(2);
    expect(v.get(`${h}_bucket{route="products",method="GET",status_class="2xx",le="+Inf"}`)).toBe(2);
    expect(v.get(`${h}_count{route="products",method="GET",status_class="2xx"}`)).toBe(2);
    expect(v.get(`${h}_sum{route="products",method="GET",status_class="2xx"}`)).toBeCloseTo(0.203);
  });

  it('records upstream attempts, health, circuit, cache, rate-limit, store and reload events', async () => {
    const m = new GatewayMetrics({ processMetrics: false });
    m.upstreamAttempt('catalog', 'http://a:1', 200, 0.01);
    m.upstreamAttempt('catalog', 'http://a:1', 'connect_error', 0.001);
    m.targetHealth('catalog', 'http://a:1', false);
    m.circuitState('catalog', 'http://a:1', 'open');
    m.cacheResult('products', 'hit');
    m.cacheResult('products', 'hit');
    m.rateLimitDecision('products', 'per-consumer', false);
    m.storeError('redis', 'incr');
    m.reloadResult(true, { version: 3, hash: 'abc' });
    m.reloadResult(false);
    const v = parseMetrics(await m.text());
    expect(v.get('gantry_upstream_attempts_total{upstream="catalog",target="http://a:1",outcome="2xx"}')).toBe(1);
    expect(v.get('gantry_upstream_attempts_total{upstream="catalog",target="http://a:1",outcome="connect_error"}')).toBe(1);
    expect(v.get('gantry_upstream_attempt_duration_seconds_count{upstream="catalog",target="http://a:1"}')).toBe(2);
    expect(v.get('gantry_upstream_target_healthy{upstream="catalog",target="http://a:1"}')).toBe(0);
    expect(v.get('gantry_upstream_circuit_state{upstream="catalog",target="http://a:1",state="open"}')).toBe(1);
    expect(v.get('gantry_upstream_circuit_state{upstream="catalog",target="http://a:1",state="closed"}')).toBe(0);
    expect(v.get('gantry_cache_requests_total{route="products",result="hit"}')).toBe(2);
    expect(v.get('gantry_rate_limit_decisions_total{route="products",policy="per-consumer",decision="denied"}')).toBe(1);
    expect(v.get('gantry_store_errors_total{store="redis",operation="incr"}')).toBe(1);
    expect(v.get('gantry_config_reloads_total{result="success"}')).toBe(1);
    expect(v.get('gantry_config_reloads_total{result="failure"}')).toBe(1);
    expect(v.get('gantry_config_last_reload_successful')).toBe(0);
    expect(v.get('gantry_config_info{version="3",hash="abc"}')).toBe(1);
  });

  it('drops the series of removed routes, upstreams and targets', async () => {
    const m = new GatewayMetrics({ processMetrics: false });
    for (const r of ['a', 'b', 'c']) {
      m.requestDone(r, 'GET', 200, 0.001);
      m.cacheResult(r, 'miss');
    }
    m.upstreamAttempt('u1', 'http://x:1', 200, 0.001);
    m.upstreamAttempt('u1', 'http://x:2', 200, 0.001);
    m.upstreamAttempt('u2', 'http://y:1', 200, 0.001);
    m.forgetRoutes(['a', 'c']);
    m.forgetUpstream('u2');
    m.forgetTargets(new Map([['u1', ['http://x:1']]]));
    const text = await m.text();
    expect(text).not.toMatch(/route="a"|route="c"|upstream="u2"|http:\/\/x:2/);
    expect(text).toContain('route="b"');
    expect(text).toContain('target="http://x:1"');
    expect(m.requests.size).toBe(1);
    // A forgotten route that serves again (in-flight on the old config) starts fresh.
    m.requestDone('a', 'GET', 200, 0.001);
    expect(parseMetrics(await m.text()).get('gantry_http_requests_total{route="a",method="GET",status_class="2xx"}')).toBe(1);
  });

  it('aggregates across workers with prom-client AggregatorRegistry (sums, histograms too)', async () => {
    const w1 = new GatewayMetrics({ processMetrics: false });
    const w2 = new GatewayMetrics({ processMetrics: false });
    w1.requestDone('r', 'GET', 200, 0.001);
    w2.requestDone('r', 'GET', 200, 0.002);
    w2.requestDone('r', 'GET', 200, 0.002);
    const agg = AggregatorRegistry.aggregate([await w1.registry.getMetricsAsJSON(), await w2.registry.getMetricsAsJSON()] as never);
    const v = parseMetrics(await agg.metrics());
    expect(v.get('gantry_http_requests_total{route="r",method="GET",status_class="2xx"}')).toBe(3);
    expect(v.get('gantry_http_request_duration_seconds_bucket{route="r",method="GET",status_class="2xx",le="0.001"}')).toBe(1);
    expect(v.get('gantry_http_request_duration_seconds_count{route="r",method="GET",status_class="2xx"}')).toBe(3);
  });

  it.each([
    [100, '1xx'],
    [204, '2xx'],
    [308, '3xx'],
    [429, '4xx'],
    [599, '5xx'],
    [0, 'aborted'],
  ])('status %i is class %s', (status, cls) => {
    expect(statusClass(status)).toBe(cls);
  });
});
