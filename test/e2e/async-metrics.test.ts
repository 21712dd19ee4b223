import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, httpRequest, parseMetrics, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

const TOKEN = 'async-metrics-token-0123456789';

interface Envelope {
  id: string;
  status: string;
  href: string;
}

/**
 * The `gantry_async_*` series on the real /metrics endpoint after real jobs ran: outcomes
 * (accepted, succeeded, failed, timed_out, too_large, rejected_full, rejected), the pending
 * gauge while a job is held and after it ends, durations, and callbacks. The registry is
 * process-wide, so each check reads the change over its own jobs.
 */
describe('async job metrics', () => {
  let up: TestUpstream;
  let hooks: TestUpstream;
  let gw: TestGateway;
  let held: (() => void)[] = [];

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const path = req.url!.split('?')[0]!;
      if (path.endsWith('/big')) return void res.end('x'.repeat(5000));
      if (path.endsWith('/slow')) return void held.push(() => res.end('late'));
      if (path.endsWith('/stuck')) return; // never answers: the job's timeout ends it
      if (path.endsWith('/teapot')) return void res.writeHead(418).end('no');
      res.end('ok');
    });
    hooks = await startUpstream((req, res) => res.writeHead(req.url === '/refuse' ? 500 : 204).end());
    const dead = await freePort();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }
upstreams:
  work: { targets: [ "${up.url}" ] }
  dead: { targets: [ "http://127.0.0.1:${dead}" ] }
  hooks: { targets: [ "${hooks.url}" ] }
routes:
  - name: am-jobs
    match: { path: /jobs-in/* }
    async: { upstream: work, jobsPath: /am-jobs, maxResultSize: 1kb, maxBodySize: 1kb, timeout: 300ms, callback: { upstream: hooks, path: /done } }
  - name: am-held
    match: { path: /held/* }
    async: { upstream: work, jobsPath: /am-held-jobs, maxPending: 2, timeout: 30s }
  - name: am-dead
    match: { path: /dead/* }
    async: { upstream: dead, jobsPath: /am-dead-jobs, callback: { upstream: hooks, path: /refuse } }
`);
  });
  afterAll(async () => {
    for (const f of held) f();
    await gw?.close();
    await up?.close();
    await hooks?.close();
  });

  const scrape = async () => parseMetrics((await httpRequest(`http://127.0.0.1:${gw.gw.adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text);
  const jobs = (m: Map<string, number>, route: string, outcome: string) => m.get(`gantry_async_jobs_total{route="${route}",outcome="${outcome}"}`) ?? NaN;
  const pending = (m: Map<string, number>, route: string) => m.get(`gantry_async_jobs_pending{route="${route}"}`) ?? NaN;
  const durations = (m: Map<string, number>, route: string, outcome: string) => m.get(`gantry_async_job_duration_seconds_count{route="${route}",outcome="${outcome}"}`) ?? NaN;
  const callbacks = (m: Map<string, number>, route: string, outcome: string) => m.get(`gantry_async_callbacks_total{route="${route}",outcome="${outcome}"}`) ?? NaN;
  const submit = (path: string, body = '{}') => httpRequest(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const settled = (href: string) =>
    eventually(async () => {
      const env = (await httpRequest(gw.url + href)).json<Envelope>();
      return env.status === 'done' || env.status === 'failed' ? env : undefined;
    }, 5000, `job ${href}`);

  it('declares every outcome of a route at zero from the start', async () => {
    const m = await scrape();
    for (const o of ['accepted', 'rejected_full', 'rejected', 'abandoned', 'succeeded', 'failed', 'timed_out', 'too_large', 'shutdown']) expect(jobs(m, 'am-dead', o)).toBe(0);
    expect(pending(m, 'am-dead')).toBe(0);
    expect(m.get('gantry_async_job_duration_seconds_bucket{route="am-dead",outcome="succeeded",le="3600"}')).toBe(0);
  });

  it('counts how jobs end, with durations, and the callbacks', async () => {
    const before = await scrape();
    const hrefs: string[] = [];
    for (const path of ['/jobs-in/ok', '/jobs-in/teapot', '/jobs-in/big', '/jobs-in/stuck']) {
      const r = await submit(path);
      expect(r.status).toBe(202);
      const env = await settled(r.json<Envelope>().href);
      hrefs.push(env.status);
    }
    const dead = await submit('/dead/x');
    expect(dead.status).toBe(202);
    expect((await settled(dead.json<Envelope>().href)).status).toBe('failed');
    expect(hrefs).toEqual(['done', 'done', 'failed', 'failed']);
    // A body over maxBodySize is refused before it becomes a job.
    expect((await submit('/jobs-in/ok', JSON.stringify({ pad: 'x'.repeat(2000) }))).status).toBe(413);

    const after = await eventually(async () => {
      const m = await scrape();
      return pending(m, 'am-jobs') === 0 && callbacks(m, 'am-dead', 'failed') - callbacks(before, 'am-dead', 'failed') === 1 && callbacks(m, 'am-jobs', 'delivered') - callbacks(before, 'am-jobs', 'delivered') === 4 ? m : undefined;
    }, 5000, 'jobs and callbacks ended');
    const d = (f: (m: Map<string, number>) => number) => f(after) - f(before);
    expect(d((m) => jobs(m, 'am-jobs', 'accepted'))).toBe(4);
    expect(d((m) => jobs(m, 'am-jobs', 'succeeded'))).toBe(2); // 200 and 418: the upstream answered
    expect(d((m) => jobs(m, 'am-jobs', 'too_large'))).toBe(1);
    expect(d((m) => jobs(m, 'am-jobs', 'timed_out'))).toBe(1);
    expect(d((m) => jobs(m, 'am-jobs', 'rejected'))).toBe(1);
    expect(d((m) => jobs(m, 'am-jobs', 'failed'))).toBe(0);
    expect(d((m) => jobs(m, 'am-dead', 'accepted'))).toBe(1);
    expect(d((m) => jobs(m, 'am-dead', 'failed'))).toBe(1);
    expect(d((m) => durations(m, 'am-jobs', 'succeeded'))).toBe(2);
    expect(d((m) => durations(m, 'am-jobs', 'timed_out'))).toBe(1);
    // The timed-out job ran its 300 ms timeout: its duration sum grew by at least that.
    expect(d((m) => m.get('gantry_async_job_duration_seconds_sum{route="am-jobs",outcome="timed_out"}') ?? NaN)).toBeGreaterThanOrEqual(0.29);
    expect(d((m) => callbacks(m, 'am-jobs', 'delivered'))).toBe(4);
    expect(pending(after, 'am-dead')).toBe(0);
  });

  it('shows held jobs as pending and refuses one over maxPending', async () => {
    const before = await scrape();
    const a = await submit('/held/slow');
    const b = await submit('/held/slow');
    expect([a.status, b.status]).toEqual([202, 202]);
    const full = await submit('/held/slow');
    expect(full.status).toBe(503);
    expect(full.headers['retry-after']).toBe('1');
    await eventually(() => (held.length === 2 ? true : undefined), 5000, 'both jobs upstream');
    const during = await scrape();
    expect(pending(during, 'am-held')).toBe(2);
    expect(jobs(during, 'am-held', 'rejected_full') - jobs(before, 'am-held', 'rejected_full')).toBe(1);
    expect(jobs(during, 'am-held', 'succeeded') - jobs(before, 'am-held', 'succeeded')).toBe(0);
    for (const f of held.splice(0)) f();
    await settled(a.json<Envelope>().href);
    await settled(b.json<Envelope>().href);
    const after = await eventually(async () => {
      const m = await scrape();
      return pending(m, 'am-held') === 0 ? m : undefined;
    }, 5000, 'pending back to 0');
    expect(jobs(after, 'am-held', 'succeeded') - jobs(before, 'am-held', 'succeeded')).toBe(2);
    expect(jobs(after, 'am-held', 'accepted') - jobs(before, 'am-held', 'accepted')).toBe(2);
  });
});
