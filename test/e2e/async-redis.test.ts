import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRedis } from '../redis.js';
import { eventually, httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

interface Envelope {
  id: string;
  status: string;
  href: string;
  result?: { status: number; body: unknown };
  error?: { code: string };
}

/**
 * `async:` with `store: redis`: two gateways share one real redis-server, so a job created
 * on one is read on the other; a drain waits for running jobs, then records the rest failed.
 */
describeRedis('async jobs shared through redis', (redis) => {
  let up: TestUpstream;
  let a: TestGateway;
  let b: TestGateway;
  let drained = false;
  const held: (() => void)[] = [];
  const closed: string[] = [];

  beforeAll(async () => {
    up = await startUpstream((req, res, body) => {
      const answer = () => {
        const text = JSON.stringify({ url: req.url, body: body.toString() });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      res.on('close', () => {
        if (!res.writableFinished) closed.push(req.url!);
      });
      if (req.url!.startsWith('/work/slow')) return void held.push(answer);
      if (req.url!.startsWith('/work/delay')) return void setTimeout(answer, 200);
      answer();
    });
    const yaml = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
server: { drainTimeout: 1s }
store: { kind: redis, url: "${redis().url}", keyPrefix: "async-test:" }
upstreams:
  work: { targets: [ "${up.url}" ] }
routes:
  - { name: work, match: { path: /work/*, methods: [POST] }, async: { upstream: work, jobsPath: /jobs } }
`;
    a = await startGateway(yaml);
    b = await startGateway(yaml);
  });
  afterAll(async () => {
    for (const f of held) f();
    if (!drained) await a?.close();
    await b?.close();
    await up?.close();
  });

  const submit = async (gw: TestGateway, path: string, body: string) => {
    const res = await httpRequest(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(202);
    return res.json<Envelope>();
  };
  const settled = (gw: TestGateway, href: string) =>
    eventually(async () => {
      const env = (await httpRequest(gw.url + href)).json<Envelope>();
      return env.status === 'done' || env.status === 'failed' ? env : undefined;
    }, 10_000, `job ${href}`);

  it('serves a job created on one gateway from the other', async () => {
    const job = await submit(a, '/work/report', '{"n":42}');
    const env = await settled(b, job.href);
    expect(env.status).toBe('done');
    expect(env.result).toEqual({ status: 200, headers: { 'content-type': 'application/json' }, encoding: 'json', body: { url: '/work/report', body: '{"n":42}' } });
    const raw = await httpRequest(`${b.url}${job.href}?result=raw`);
    expect(raw.status).toBe(200);
    expect(raw.json()).toEqual({ url: '/work/report', body: '{"n":42}' });
  });

  it('drains: a job that finishes within drainTimeout completes, one that does not is recorded failed', async () => {
    const quick = await submit(a, '/work/delay', '{}');
    const stuck = await submit(a, '/work/slow', '{}');
    await eventually(() => (held.length > 0 ? true : undefined), 5000, 'the upstream to hold the job');
    drained = true;
    expect(await a.gw.drain()).toBe(false);
    expect((await settled(b, quick.href)).status).toBe('done');
    const env = await settled(b, stuck.href);
    expect(env.status).toBe('failed');
    expect(env.error!.code).toBe('GW_ERR_SHUTTING_DOWN');
    // Its upstream exchange was stopped.
    await eventually(() => (closed.includes('/work/slow') ? true : undefined), 5000, 'the upstream request to be cancelled');
  });
});
