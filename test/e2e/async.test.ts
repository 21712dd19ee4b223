import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, httpRequest, sleep, startGateway, startUpstream, type SimpleResponse, type TestGateway, type TestUpstream } from '../helpers.js';
import { hashApiKey } from '../../src/consumers/hash.js';

interface Envelope {
  id: string;
  status: string;
  href: string;
  result?: { status: number; headers: Record<string, string>; encoding: string; body: unknown };
  error?: { code: string; detail: string };
}

const ALICE = 'gk_live_async_alice_01';
const BOB = 'gk_live_async_bob_0001';

/** `async:` over real sockets: 202 + job, polling, results, failures, ttl, bounds, ownership, disconnects. */
describe('async jobs', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let hooks: TestUpstream;
  /** Releases requests to /slow… (one call releases all held so far). */
  let held: (() => void)[] = [];
  const release = () => {
    const h = held;
    held = [];
    for (const f of h) f();
  };

  beforeAll(async () => {
    up = await startUpstream((req, res, body) => {
      const path = req.url!.split('?')[0]!;
      const answer = () => {
        const text = JSON.stringify({ method: req.method, url: req.url, body: body.toString(), consumer: req.headers['x-consumer-id'] ?? null });
        res.writeHead(201, { 'content-type': 'application/json', etag: '"v1"', 'x-internal': 'secret', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (path.endsWith('/crash')) return req.socket.destroy();
      if (path.endsWith('/big')) return res.end('x'.repeat(5000));
      if (path.endsWith('/bytes')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return res.end(Buffer.from([0xff, 0x00, 0xfe]));
      }
      if (path.endsWith('/slow')) return void held.push(answer);
      if (path.endsWith('/delay')) return void setTimeout(answer, 300);
      answer();
    });
    hooks = await startUpstream((_req, res) => res.writeHead(204).end());
    const dead = await freePort();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers:
  - { id: alice, apiKeys: ["${hashApiKey(ALICE)}"] }
  - { id: bob, apiKeys: ["${hashApiKey(BOB)}"] }
upstreams:
  work: { targets: [ "${up.url}" ] }
  dead: { targets: [ "http://127.0.0.1:${dead}" ] }
  hooks: { targets: [ "${hooks.url}" ] }
routes:
  - name: hooked
    match: { path: /hooked/* }
    policies: [ { api-key: {} } ]
    async: { upstream: work, jobsPath: /hooked-jobs, callback: { upstream: hooks, path: /job-done } }
  - name: reports
    match: { path: /reports/*, methods: [POST, PUT, GET] }
    async: { upstream: work, jobsPath: /jobs, maxResultSize: 1kb, maxBodySize: 2kb }
  - name: dead
    match: { path: /dead/* }
    async: { upstream: dead, jobsPath: /dead-jobs }
  - name: brief
    match: { path: /brief/* }
    async: { upstream: work, jobsPath: /brief-jobs, ttl: 300ms, timeout: 2s }
  - name: bounded
    match: { path: /bounded/* }
    async: { upstream: work, jobsPath: /bounded-jobs, maxPending: 2 }
  - name: hasty
    match: { path: /hasty/* }
    async: { upstream: work, jobsPath: /hasty-jobs, timeout: 200ms }
  - name: owned
    match: { path: /owned/* }
    policies: [ { api-key: {} } ]
    async: { upstream: work, jobsPath: /owned-jobs }
`);
  });
  afterAll(async () => {
    release();
    await gw?.close();
    await up?.close();
    await hooks?.close();
  });

  const submit = (path: string, body?: string, headers: Record<string, string> = {}) =>
    httpRequest(gw.url + path, { method: body === undefined ? 'GET' : 'POST', headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, ...(body !== undefined ? { body } : {}) });

  /** Polls the job's href until it is done or failed. */
  const settled = (href: string, headers: Record<string, string> = {}) =>
    eventually(async () => {
      const r = await httpRequest(gw.url + href, { headers });
      const env = r.json<Envelope>();
      return env.status === 'done' || env.status === 'failed' ? env : undefined;
    }, 10_000, `job ${href}`);

  it('answers 202 with Location and a pending job, then the upstream result', async () => {
    const res = await submit('/reports/run?x=1', '{"from":"2026-01-01"}');
    expect(res.status).toBe(202);
    const job = res.json<Envelope>();
    expect(job.status).toBe('pending');
    expect(job.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.location).toBe(`/jobs/${job.id}`);
    expect(job.href).toBe(res.headers.location);
    const env = await settled(job.href);
    expect(env.status).toBe('done');
    expect(env.result!.status).toBe(201);
    // Only the kept headers.
    expect(env.result!.headers).toEqual({ 'content-type': 'application/json', etag: '"v1"' });
    expect(env.result!.encoding).toBe('json');
    expect(env.result!.body).toEqual({ method: 'POST', url: '/reports/run?x=1', body: '{"from":"2026-01-01"}', consumer: null });

    const raw = await httpRequest(`${gw.url}${job.href}?result=raw`);
    expect(raw.status).toBe(201);
    expect(raw.headers.etag).toBe('"v1"');
    expect(raw.headers['x-internal']).toBeUndefined();
    expect(raw.json()).toEqual(env.result!.body);
  });

  it('stores a binary result as base64, and refuses a bad result parameter', async () => {
    const job = (await submit('/reports/bytes', '')).json<Envelope>();
    const env = await settled(job.href);
    expect(env.result).toMatchObject({ status: 200, encoding: 'base64', body: Buffer.from([0xff, 0x00, 0xfe]).toString('base64') });
    expect((await httpRequest(`${gw.url}${job.href}?result=zip`)).status).toBe(400);
  });

  it('records an upstream that fails as failed, and replays it as the problem', async () => {
    const job = (await submit('/reports/crash', '{}')).json<Envelope>();
    const env = await settled(job.href);
    expect(env.status).toBe('failed');
    expect(env.error!.code).toBe('GW_ERR_UPSTREAM_RESET');
    const raw = await httpRequest(`${gw.url}${job.href}?result=raw`);
    expect(raw.status).toBe(502);
    expect(raw.headers['content-type']).toMatch(/problem\+json/);

    const down = (await submit('/dead/x', '{}')).json<Envelope>();
    expect((await settled(down.href)).error!.code).toBe('GW_ERR_UPSTREAM_UNAVAILABLE');

    const big = (await submit('/reports/big', '{}')).json<Envelope>();
    expect((await settled(big.href)).error!.code).toBe('GW_ERR_JOB_RESULT_TOO_LARGE');
  });

  it('answers 409 for the raw result of a job still running, and 404 for unknown ids', async () => {
    const job = (await submit('/reports/slow', '{}')).json<Envelope>();
    await eventually(() => (held.length > 0 ? true : undefined), 5000, 'the upstream to hold the job');
    const running = await httpRequest(gw.url + job.href);
    expect(running.json<Envelope>().status).toBe('running');
    expect(running.headers['retry-after']).toBe('1');
    const raw = await httpRequest(`${gw.url}${job.href}?result=raw`);
    expect(raw.status).toBe(409);
    release();
    expect((await settled(job.href)).status).toBe('done');
    expect((await httpRequest(`${gw.url}/jobs/${crypto.randomUUID()}`)).status).toBe(404);
    expect((await httpRequest(`${gw.url}/jobs/not-an-id`)).status).toBe(404);
    // Another route's jobs path does not serve this route's jobs.
    expect((await httpRequest(`${gw.url}/dead-jobs/${job.id}`)).status).toBe(404);
  });

  it('fails a job whose upstream does not answer within timeout, and stops the exchange', async () => {
    const before = held.length;
    const job = (await submit('/hasty/slow', '{}')).json<Envelope>();
    const env = await settled(job.href);
    expect(env.status).toBe('failed');
    expect(env.error).toEqual({ code: 'GW_ERR_UPSTREAM_TIMEOUT', detail: "Upstream 'work' did not answer within 200ms." });
    expect(held.length).toBe(before + 1);
  });

  it('calls back the callback upstream with the finished job, done or failed', async () => {
    const ok = (await submit('/hooked/x', '{"a":1}', { 'x-api-key': ALICE })).json<Envelope>();
    const failed = (await submit('/hooked/crash', '{}', { 'x-api-key': ALICE })).json<Envelope>();
    const hook = async (id: string) => {
      const seen = await eventually(() => hooks.seen.find((s) => s.body.toString().includes(id)), 10_000, `the callback of ${id}`);
      expect(seen.method).toBe('POST');
      expect(seen.url).toBe('/job-done');
      expect(seen.headers['content-type']).toBe('application/json');
      return JSON.parse(seen.body.toString()) as Envelope & { consumer: string };
    };
    const done = await hook(ok.id);
    expect(done).toMatchObject({ id: ok.id, status: 'done', href: ok.href, consumer: 'alice', result: { status: 201, encoding: 'json', body: { body: '{"a":1}' } } });
    // The callback carries what the status endpoint answers.
    const polled = (await httpRequest(gw.url + ok.href, { headers: { 'x-api-key': ALICE } })).json<Envelope>();
    expect({ ...done, consumer: undefined }).toEqual({ ...polled, consumer: undefined });
    expect(await hook(failed.id)).toMatchObject({ status: 'failed', error: { code: 'GW_ERR_UPSTREAM_RESET' } });
  });

  it('refuses a body over maxBodySize with 413', async () => {
    const res = await submit('/reports/x', JSON.stringify({ pad: 'y'.repeat(3000) }));
    expect(res.status).toBe(413);
  });

  it('forgets a finished job after its ttl, but keeps a running one past it', async () => {
    const job = (await submit('/brief/x', '{}')).json<Envelope>();
    expect((await settled(job.href)).status).toBe('done');
    await eventually(async () => ((await httpRequest(gw.url + job.href)).status === 404 ? true : undefined), 5000, 'the job to expire');
    const slow = (await submit('/brief/slow', '{}')).json<Envelope>();
    await sleep(600);
    expect((await httpRequest(gw.url + slow.href)).json<Envelope>().status).toBe('running');
    await eventually(() => (held.length > 0 ? true : undefined), 5000, 'the upstream to hold the job');
    release();
    expect((await settled(slow.href)).status).toBe('done');
  });

  it('refuses jobs past maxPending with 503 and Retry-After, and takes them again once some finish', async () => {
    const a = await submit('/bounded/slow', '{}');
    const b = await submit('/bounded/slow', '{}');
    expect([a.status, b.status]).toEqual([202, 202]);
    const c = await submit('/bounded/slow', '{}');
    expect(c.status).toBe(503);
    expect(c.headers['retry-after']).toBe('1');
    expect(c.json<{ type: string }>().type).toMatch(/job-queue-full$/);
    await eventually(() => (held.length >= 2 ? true : undefined), 5000, 'both jobs held');
    release();
    await settled(a.json<Envelope>().href);
    await settled(b.json<Envelope>().href);
    await eventually(async () => ((await submit('/bounded/x', '{}')).status === 202 ? true : undefined), 5000, 'a free slot');
  });

  it('lets only the consumer that created a job read it', async () => {
    const res = await submit('/owned/x', '{}', { 'x-api-key': ALICE });
    expect(res.status).toBe(202);
    const job = res.json<Envelope>();
    const env = await settled(job.href, { 'x-api-key': ALICE });
    expect(env.result!.body).toMatchObject({ consumer: 'alice' });
    expect((await httpRequest(gw.url + job.href, { headers: { 'x-api-key': BOB } })).status).toBe(404);
    // The jobs path runs the route's policies: no key, no answer.
    expect((await httpRequest(gw.url + job.href)).status).toBe(401);
    expect((await submit('/owned/x', '{}')).status).toBe(401);
  });

  it('completes a job whose client went away right after the 202', async () => {
    const before = up.seen.length;
    const body = '{"leave":true}';
    const head = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(gw.port, '127.0.0.1');
      let got = '';
      sock.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        if (got.includes('\r\n\r\n')) {
          sock.destroy();
          resolve(got);
        }
      });
      sock.on('error', reject);
      sock.write(`POST /reports/delay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    expect(head).toMatch(/^HTTP\/1\.1 202/);
    const href = /\r\nlocation: (\S+)\r\n/i.exec(head)![1]!;
    const env = await settled(href);
    expect(env.status).toBe('done');
    expect(env.result!.body).toMatchObject({ body });
    expect(up.seen.length).toBeGreaterThan(before);
  });

  it('lists the jobs endpoint in the status output as a route of its own', () => {
    const routes = gw.gw.runtime.routes.filter((r) => r.name === 'reports');
    expect(routes.map((r) => r.pattern)).toEqual(['/reports/*', '/jobs/:id']);
  });

  it('keeps jobs running while a client request body is slow', async () => {
    // A request whose body arrives late is answered only once it is complete.
    const req = http.request(`${gw.url}/reports/x`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '2' }, agent: false });
    const got = new Promise<SimpleResponse['status']>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
    });
    req.write('{');
    await sleep(100);
    req.end('}');
    expect(await got).toBe(202);
  });
});
