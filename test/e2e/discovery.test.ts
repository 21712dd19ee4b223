import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, startGateway, startUpstream, writeTempConfig, type TestGateway, type TestUpstream } from '../helpers.js';
import { load, tally } from '../load.js';

/**
 * A real UDP DNS server on 127.0.0.1 answering from a table the test edits (dns-packet
 * encodes the wire format); the gateway's resolver is pointed at it with `dns.servers`.
 */
async function startDnsStub(): Promise<{ port: number; records: Map<string, dnsPacket.Answer[]>; queries: number; close(): void }> {
  const records = new Map<string, dnsPacket.Answer[]>();
  const sock: Socket = createSocket('udp4');
  const stub = { port: 0, records, queries: 0, close: () => sock.close() };
  sock.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (!question) return;
    stub.queries++;
    const answers = (records.get(`${question.type} ${question.name}`) ?? []).map((a) => ({ ...a, name: question.name }));
    const reply = dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers } as dnsPacket.Packet);
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  stub.port = sock.address().port;
  return stub;
}

const named = (name: string) => startUpstream((_q, res) => res.end(name));
const LISTENER = 'listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]';

describe('DNS discovery (local resolver stub)', () => {
  let dns: Awaited<ReturnType<typeof startDnsStub>>;
  let a: TestUpstream;
  let b: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    dns = await startDnsStub();
    a = await named('a');
    b = await named('b');
    // Both upstreams listen on 127.0.0.1; SRV records tell their ports apart.
    dns.records.set('SRV _http._tcp.api.test', [
      { type: 'SRV', name: '', ttl: 5, data: { priority: 10, weight: 3, port: a.port, target: '127.0.0.1' } } as dnsPacket.Answer,
      { type: 'SRV', name: '', ttl: 5, data: { priority: 10, weight: 1, port: b.port, target: '127.0.0.1' } } as dnsPacket.Answer,
      { type: 'SRV', name: '', ttl: 5, data: { priority: 20, weight: 1, port: 1, target: '127.0.0.1' } } as dnsPacket.Answer,
    ]);
    dns.records.set('A single.test', [{ type: 'A', name: '', ttl: 5, data: '127.0.0.1' }]);
    gw = await startGateway(`version: 1
${LISTENER}
upstreams:
  srv: { balance: weighted, dns: { name: _http._tcp.api.test, type: SRV, refresh: 100ms, servers: [ "127.0.0.1:${dns.port}" ] } }
  plain: { dns: { name: single.test, port: ${a.port}, refresh: 100ms, servers: [ "127.0.0.1:${dns.port}" ] } }
routes:
  - { name: srv, match: { path: /srv }, upstream: srv }
  - { name: plain, match: { path: /a }, upstream: plain }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([a?.close(), b?.close()]);
    dns?.close();
  });

  it('A records give targets on the configured port', async () => {
    const res = await load(gw.url, 10, { path: '/a' });
    expect(new Set(res.map((r) => r.body))).toEqual(new Set(['a']));
  });

  it('SRV: lowest priority only, weights respected, re-resolved when records change', async () => {
    const res = await load(gw.url, 400, { path: '/srv', concurrency: 8 });
    const t = tally(res.map((r) => r.body));
    expect(t.get('a')).toBe(300);
    expect(t.get('b')).toBe(100);
    expect(gw.gw.runtime.upstreams.get('srv')!.status().discovery).toBe('dns SRV _http._tcp.api.test');

    dns.records.set('SRV _http._tcp.api.test', [{ type: 'SRV', name: '', ttl: 5, data: { priority: 10, weight: 1, port: b.port, target: '127.0.0.1' } } as dnsPacket.Answer]);
    for (let i = 0; i < 50 && gw.gw.runtime.upstreams.get('srv')!.targets.length !== 1; i++) await sleep(20);
    const after = await load(gw.url, 20, { path: '/srv' });
    expect(new Set(after.map((r) => r.body))).toEqual(new Set(['b']));
  });

  it('a failing lookup keeps the last targets', async () => {
    dns.records.delete('A single.test'); // NOERROR with no answers → ENODATA
    const q = dns.queries;
    for (let i = 0; i < 50 && dns.queries < q + 2; i++) await sleep(20);
    const res = await load(gw.url, 5, { path: '/a' });
    expect(res.every((r) => r.body === 'a')).toBe(true);
    expect(gw.logs.some((l) => l.msg === 'dns discovery failed; keeping the last targets')).toBe(true);
  });
});

describe('file discovery', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let slow: TestUpstream;
  let gw: TestGateway;
  let file: string;

  beforeAll(async () => {
    a = await named('a');
    b = await named('b');
    slow = await startUpstream((_q, res) => setTimeout(() => res.end('slow'), 300));
    const cfg = writeTempConfig(`version: 1
${LISTENER}
upstreams:
  filed: { file: { path: targets.yaml, interval: 50ms } }
routes:
  - { name: filed, match: { path: /f }, upstream: filed }
`);
    file = join(dirname(cfg), 'targets.yaml');
    writeFileSync(file, `- ${a.url}\n- { url: "${slow.url}", weight: 1 }\n`);
    gw = await startGateway('', { file: cfg });
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([a, b, slow].map((u) => u?.close()));
  });

  it('follows the file; a removed target finishes its in-flight requests; a broken file changes nothing', async () => {
    const first = await load(gw.url, 4, { path: '/f', concurrency: 4 });
    expect(new Set(first.map((r) => r.body))).toEqual(new Set(['a', 'slow']));

    // Requests in flight on `slow` when it leaves the set still complete.
    const inFlight = load(gw.url, 4, { path: '/f', concurrency: 4 });
    await sleep(50);
    writeFileSync(file, `targets:\n  - ${b.url}\n`);
    for (let i = 0; i < 100 && gw.gw.runtime.upstreams.get('filed')!.targets[0]?.url !== b.url; i++) await sleep(20);
    expect((await inFlight).every((r) => r.status === 200)).toBe(true);
    const after = await load(gw.url, 10, { path: '/f' });
    expect(new Set(after.map((r) => r.body))).toEqual(new Set(['b']));

    writeFileSync(file, '- not a url\n');
    await sleep(300);
    expect(gw.logs.some((l) => l.msg === 'target file is invalid; keeping the last targets')).toBe(true);
    const still = await load(gw.url, 5, { path: '/f' });
    expect(new Set(still.map((r) => r.body))).toEqual(new Set(['b']));
  });
});
