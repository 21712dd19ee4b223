import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import type { TLSSocket, SecureVersion } from 'node:tls';
import { startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { issue, makeCa, writePems, type Issued } from '../tls-fixtures.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

function writePemsInto(dir: string, files: Record<string, string>): void {
  for (const [name, pem] of Object.entries(files)) writeFileSync(join(dir, name), pem);
}
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';

/** The https listener and the mtls policy, with certificates generated here. */
interface Res {
  status: number;
  body: string;
  protocol: string | null;
  headers: Record<string, string | string[] | undefined>;
}

let ca: Issued;
let otherCa: Issued;
let server: Issued;
const clients: Record<string, Issued> = {};
let up: TestUpstream;
let gw: TestGateway;

function tlsRequest(port: number, path: string, o: { client?: Issued; maxVersion?: SecureVersion; minVersion?: SecureVersion } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        servername: 'localhost',
        ca: ca.cert,
        agent: false,
        ...(o.client ? { cert: o.client.cert, key: o.client.key } : {}),
        ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
        ...(o.minVersion ? { minVersion: o.minVersion } : {}),
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, protocol: (res.socket as TLSSocket).getProtocol?.() ?? null, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([makeCa('Gantry Test Client CA'), makeCa('Some Other CA')]);
  server = await issue(ca, { cn: 'localhost', usage: 'server', dns: ['localhost'], ips: ['127.0.0.1'] });
  clients.bySubject = await issue(ca, { cn: 'acme-mobile', usage: 'client' });
  clients.bySan = await issue(ca, { cn: 'unmapped-cn', usage: 'client', uris: ['spiffe://acme/web'], dns: ['web.acme.test'] });
  clients.byFingerprint = await issue(ca, { cn: 'also-unmapped', usage: 'client' });
  clients.unmapped = await issue(ca, { cn: 'nobody', usage: 'client' });
  clients.expired = await issue(ca, { cn: 'acme-mobile', usage: 'client', expired: true });
  clients.otherCa = await issue(otherCa, { cn: 'acme-mobile', usage: 'client', uris: ['spiffe://acme/web'] });
  up = await startUpstream();
  const yaml = `version: 1
listeners:
  - { name: optional, port: 0, host: 127.0.0.1, protocol: https, tls: { cert: gw.pem, key: gw-key.pem, clientCa: ca.pem } }
  - { name: required, port: 0, host: 127.0.0.1, protocol: https, tls: { cert: gw.pem, key: gw-key.pem, clientCa: ca.pem, clientAuth: required } }
  - { name: modern, port: 0, host: 127.0.0.1, protocol: https, tls: { cert: gw.pem, key: gw-key.pem, minVersion: TLSv1.3 } }
consumers:
  - { id: acme-mobile, tenant: acme, scopes: [orders:read], certificates: [ { subject: acme-mobile } ] }
  - { id: acme-web, tenant: acme, certificates: [ { san: "URI:spiffe://acme/web" } ] }
  - { id: pinned, certificates: [ { fingerprint: "sha256:${clients.byFingerprint!.fingerprint.toUpperCase().match(/../g)!.join(':')}" } ] }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: mtls, match: { path: /mtls/* }, upstream: echo, policies: [ { mtls: {} } ] }
  - { name: subject-only, match: { path: /subject/* }, upstream: echo, policies: [ { mtls: { match: [subject] } } ] }
  - { name: open, match: { path: /open/* }, upstream: echo }
`;
  // Relative certificate paths resolve against the config file's folder.
  const files = writePems({ 'gw.pem': server.cert, 'gw-key.pem': server.key, 'ca.pem': ca.cert, 'gateway.yaml': yaml });
  gw = await startGateway(yaml, { file: files.path('gateway.yaml') });
});
afterAll(async () => {
  await gw?.close();
  await up?.close();
});

describe('mtls on an optional-client-auth listener', () => {
  const cases: { desc: string; client?: string; path?: string; want: number; consumer?: string }[] = [
    { desc: 'good certificate mapped by subject CN', client: 'bySubject', want: 200, consumer: 'acme-mobile' },
    { desc: 'good certificate mapped by SAN', client: 'bySan', want: 200, consumer: 'acme-web' },
    { desc: 'good certificate mapped by SHA-256 fingerprint', client: 'byFingerprint', want: 200, consumer: 'pinned' },
    { desc: 'certificate from another CA with a mapped CN and SAN', client: 'otherCa', want: 401 },
    { desc: 'expired certificate from the trusted CA', client: 'expired', want: 401 },
    { desc: 'trusted certificate that maps to no consumer', client: 'unmapped', want: 401 },
    { desc: 'no certificate', want: 401 },
    { desc: 'match order limited to subject: a SAN-only mapping is not enough', client: 'bySan', path: '/subject/a', want: 401 },
    { desc: 'route without mtls serves clients without a certificate', path: '/open/a', want: 200 },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const before = up.seen.length;
      const res = await tlsRequest(gw.gw.port('optional'), c.path ?? '/mtls/a', { client: c.client ? clients[c.client] : undefined });
      expect(res.status, res.body).toBe(c.want);
      if (c.want === 401) {
        expect(up.seen.length).toBe(before);
        expect(res.headers['www-authenticate']).toBe('ClientCertificate realm="gantry"');
      }
      if (c.consumer) expect(up.seen[up.seen.length - 1]!.headers['x-consumer-id']).toBe(c.consumer);
      if (c.want === 200) expect(up.seen[up.seen.length - 1]!.headers['x-forwarded-proto']).toBe('https');
    });
  }

  it('propagates tenant and scopes of the certificate\'s consumer', async () => {
    await tlsRequest(gw.gw.port('optional'), '/mtls/b', { client: clients.bySubject });
    expect(up.seen[up.seen.length - 1]!.headers).toMatchObject({ 'x-consumer-tenant': 'acme', 'x-authenticated-scopes': 'orders:read' });
  });
});

describe('https listener', () => {
  it('negotiates TLS 1.3 by default', async () => {
    expect((await tlsRequest(gw.gw.port('optional'), '/open/v')).protocol).toBe('TLSv1.3');
  });
  it('accepts TLS 1.2', async () => {
    expect((await tlsRequest(gw.gw.port('optional'), '/open/v', { maxVersion: 'TLSv1.2' })).protocol).toBe('TLSv1.2');
  });
  it('refuses TLS 1.1', async () => {
    await expect(tlsRequest(gw.gw.port('optional'), '/open/v', { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).rejects.toThrow();
  });
  it('minVersion TLSv1.3 refuses TLS 1.2', async () => {
    await expect(tlsRequest(gw.gw.port('modern'), '/open/v', { maxVersion: 'TLSv1.2' })).rejects.toThrow();
    expect((await tlsRequest(gw.gw.port('modern'), '/open/v')).status).toBe(200);
  });
  it('clientAuth required: a trusted certificate gets through', async () => {
    expect((await tlsRequest(gw.gw.port('required'), '/mtls/r', { client: clients.bySubject })).status).toBe(200);
  });
  for (const who of [undefined, 'otherCa', 'expired'] as const) {
    it(`clientAuth required: ${who ?? 'no certificate'} fails the handshake`, async () => {
      const before = up.seen.length;
      await expect(tlsRequest(gw.gw.port('required'), '/open/r', { client: who ? clients[who] : undefined })).rejects.toThrow();
      expect(up.seen.length).toBe(before);
    });
  }
});

describe('certificate rotation', () => {
  it('a reload re-reads the certificate files of a kept https listener', async () => {
    const first = await issue(ca, { cn: 'localhost', usage: 'server', dns: ['localhost'] });
    const second = await issue(ca, { cn: 'localhost', usage: 'server', dns: ['localhost'] });
    const yaml = `version: 1
listeners: [ { name: s, port: 0, host: 127.0.0.1, protocol: https, tls: { cert: gw.pem, key: gw-key.pem } } ]
routes: [ { name: r, match: { path: /* }, static: { status: 200 } } ]
`;
    const files = writePems({ 'gw.pem': first.cert, 'gw-key.pem': first.key, 'gateway.yaml': yaml });
    const g = await startGateway(yaml, { file: files.path('gateway.yaml') });
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: g.gw.port('s'), servername: 'localhost', ca: ca.cert, agent: false }, (res) => {
          const fp = (res.socket as TLSSocket).getPeerCertificate().fingerprint256.replaceAll(':', '').toLowerCase();
          res.resume();
          res.on('end', () => resolve(fp));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      const port = g.gw.port('s');
      expect(await served()).toBe(first.fingerprint);
      writePemsInto(files.dir, { 'gw.pem': second.cert, 'gw-key.pem': second.key });
      expect(await g.gw.reload()).toMatchObject({ ok: true });
      expect(g.gw.port('s')).toBe(port); // same socket, new certificate
      expect(await served()).toBe(second.fingerprint);
    } finally {
      await g.close();
    }
  });
});

describe('tls config', () => {
  const pemsFor = () => writePems({ 'gw.pem': server.cert, 'gw-key.pem': server.key, 'ca.pem': ca.cert, 'other-key.pem': clients.unmapped!.key });
  const cases: { desc: string; listener: string; error: RegExp }[] = [
    { desc: 'https without tls', listener: '{ name: s, port: 0, protocol: https }', error: /listeners\[0\]\.tls: is required for protocol https/ },
    { desc: 'tls on http', listener: '{ name: s, port: 0, tls: { cert: gw.pem, key: gw-key.pem } }', error: /listeners\[0\]\.tls: has no effect on protocol http/ },
    { desc: 'missing certificate file', listener: '{ name: s, port: 0, protocol: https, tls: { cert: nope.pem, key: gw-key.pem } }', error: /listeners\[0\]\.tls\.cert: cannot read nope\.pem: ENOENT/ },
    { desc: 'key that does not match the certificate', listener: '{ name: s, port: 0, protocol: https, tls: { cert: gw.pem, key: other-key.pem } }', error: /listeners\[0\]\.tls: unusable certificate or key/ },
    { desc: 'TLS 1.1 is not a choice', listener: '{ name: s, port: 0, protocol: https, tls: { cert: gw.pem, key: gw-key.pem, minVersion: TLSv1.1 } }', error: /listeners\[0\]\.tls\.minVersion: must be one of: "TLSv1.2", "TLSv1.3"/ },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const file = pemsFor().path('gateway.yaml');
      const r = await loadConfig(file, { text: `version: 1\nlisteners: [ ${c.listener} ]\n`, env: {} });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map((i) => `${i.path}: ${i.message}`).join('\n')).toMatch(c.error);
    });
  }
  it('a clientCa that holds no certificate (empty, a key, garbage) is an error at its line, naming the file', async () => {
    const files = writePems({ 'gw.pem': server.cert, 'gw-key.pem': server.key, 'empty.pem': '', 'key.pem': server.key, 'junk.pem': 'not a certificate\n' });
    for (const [caFile, why] of [['empty.pem', 'it is empty'], ['key.pem', 'only PRIVATE KEY'], ['junk.pem', 'no PEM block: DER or not a certificate']]) {
      const text = `version: 1\nlisteners:\n  - name: s\n    port: 0\n    protocol: https\n    tls: { cert: gw.pem, key: gw-key.pem, clientCa: ${caFile} }\n`;
      const r = await loadConfig(files.path('gateway.yaml'), { text, env: {} });
      expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([`${files.path('gateway.yaml')}:6 listeners[0].tls.clientCa: ${caFile} holds no PEM certificate (${why}); a CA file is one or more -----BEGIN CERTIFICATE----- blocks`]);
    }
  });
  it('a valid https listener passes', async () => {
    const file = pemsFor().path('gateway.yaml');
    const r = await loadConfig(file, { text: 'version: 1\nlisteners: [ { name: s, port: 0, protocol: https, tls: { cert: gw.pem, key: gw-key.pem, clientCa: ca.pem } } ]\n', env: {} });
    expect(r.ok, r.ok ? '' : JSON.stringify(r.issues)).toBe(true);
  });
});
