import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, sleep, startGateway, startUpstream, writeTempConfig, type TestGateway, type TestUpstream } from '../helpers.js';
import { load, tally } from '../load.js';
import { startDnsStub, type DnsStub } from '../dns.js';

const named = (name: string) => startUpstream((_q, res) => res.end(name));
const LISTENER = 'listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]';

describe('DNS discovery (local resolver stub)', () => {
  let dns: DnsStub;
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
    await eventually(() => gw.gw.runtime.upstreams.get('srv')!.targets.length === 1 || undefined, 5000, 'the SRV change to be resolved');
    const after = await load(gw.url, 20, { path: '/srv' });
    expect(new Set(after.map((r) => r.body))).toEqual(new Set(['b']));
  });

  it('a failing lookup keeps the last targets', async () => {
    dns.records.delete('A single.test'); // NOERROR with no answers → ENODATA
    const q = dns.queries;
    await eventually(() => dns.queries >= q + 2 || undefined, 5000, 'two more lookups');
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
    await eventually(() => gw.gw.runtime.upstreams.get('filed')!.targets[0]?.url === b.url || undefined, 5000, 'the file change to be seen');
    expect((await inFlight).every((r) => r.status === 200)).toBe(true);
    const after = await load(gw.url, 10, { path: '/f' });
    expect(new Set(after.map((r) => r.body))).toEqual(new Set(['b']));

    writeFileSync(file, '- not a url\n');
    await eventually(() => gw.logs.some((l) => l.msg === 'target file is invalid; keeping the last targets') || undefined, 5000, 'the invalid file to be logged');
    const still = await load(gw.url, 5, { path: '/f' });
    expect(new Set(still.map((r) => r.body))).toEqual(new Set(['b']));
  });
});
