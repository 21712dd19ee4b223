import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { handshake, issue, makeCa, writePems, type Issued } from '../tls-fixtures.js';
import { loadConfig } from '../../src/config/load.js';

/**
 * Several certificates per https/h2 listener, chosen by SNI (RFC 6066 §3), over real
 * sockets with certificates generated here: which certificate each name gets, on HTTP/1.1
 * and HTTP/2, with mTLS, minVersion and requireSni; and the config errors.
 */

let ca: Issued;
const certs: Record<string, Issued> = {};
let client: Issued;
let up: TestUpstream;
let gw: TestGateway;

const SNI_CERTS = `certificates:
        - { serverNames: [api.example.com, API.Example.ORG], cert: api.pem, key: api-key.pem }
        - { serverNames: ["*.shop.example.com"], cert: shop.pem, key: shop-key.pem }
        - { serverNames: [eu.shop.example.com], cert: eu.pem, key: eu-key.pem }`;

beforeAll(async () => {
  ca = await makeCa('Gantry SNI Test CA');
  [certs.def, certs.api, certs.shop, certs.eu, client] = await Promise.all([
    issue(ca, { cn: 'default', usage: 'server', dns: ['default.test', 'localhost'] }),
    issue(ca, { cn: 'api', usage: 'server', dns: ['api.example.com', 'api.example.org'] }),
    issue(ca, { cn: 'shop-wildcard', usage: 'server', dns: ['*.shop.example.com'] }),
    issue(ca, { cn: 'eu-shop', usage: 'server', dns: ['eu.shop.example.com'] }),
    issue(ca, { cn: 'partner-1', usage: 'client' }),
  ]);
  up = await startUpstream();
  const yaml = `version: 1
listeners:
  - name: web
    port: 0
    host: 127.0.0.1
    protocol: https
    tls:
      cert: def.pem
      key: def-key.pem
      ${SNI_CERTS}
  - name: h2
    port: 0
    host: 127.0.0.1
    protocol: h2
    tls:
      cert: def.pem
      key: def-key.pem
      ${SNI_CERTS}
  - name: mtls
    port: 0
    host: 127.0.0.1
    protocol: https
    tls:
      cert: def.pem
      key: def-key.pem
      clientCa: ca.pem
      clientAuth: required
      ${SNI_CERTS}
  - name: modern
    port: 0
    host: 127.0.0.1
    protocol: https
    tls: { cert: def.pem, key: def-key.pem, minVersion: TLSv1.3, certificates: [ { serverNames: [api.example.com], cert: api.pem, key: api-key.pem } ] }
  - name: strict
    port: 0
    host: 127.0.0.1
    protocol: https
    tls: { cert: def.pem, key: def-key.pem, requireSni: true, certificates: [ { serverNames: [api.example.com], cert: api.pem, key: api-key.pem } ] }
  - name: strict-h2
    port: 0
    host: 127.0.0.1
    protocol: h2
    tls: { cert: def.pem, key: def-key.pem, requireSni: true, certificates: [ { serverNames: [api.example.com], cert: api.pem, key: api-key.pem } ] }
consumers:
  - { id: partner, certificates: [ { subject: partner-1 } ] }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: partners, match: { path: /partners/* }, upstream: echo, policies: [ { mtls: {} } ] }
  - { name: any, match: { path: /* }, static: { status: 200, body: ok } }
`;
  const files = writePems({
    'gateway.yaml': yaml,
    'ca.pem': ca.cert,
    ...Object.fromEntries(Object.entries(certs).flatMap(([n, c]) => [[`${n}.pem`, c.cert], [`${n}-key.pem`, c.key]])),
  });
  gw = await startGateway(yaml, { file: files.path('gateway.yaml') });
});
afterAll(async () => {
  await gw?.close();
  await up?.close();
});

/** Which certificate (CN) each client server name gets: exact, wildcard, case, unknown, none. */
const SELECTION: { desc: string; sni: string | undefined; cn: string }[] = [
  { desc: 'an exact name', sni: 'api.example.com', cn: 'api' },
  { desc: 'a second exact name of the same certificate, listed in upper case', sni: 'api.example.org', cn: 'api' },
  { desc: 'a name in another case than listed', sni: 'API.EXAMPLE.COM', cn: 'api' },
  { desc: 'one label under a wildcard', sni: 'us.shop.example.com', cn: 'shop-wildcard' },
  { desc: 'an exact name that a wildcard also matches: the exact one wins', sni: 'eu.shop.example.com', cn: 'eu-shop' },
  { desc: 'two labels under a wildcard: not matched, default', sni: 'a.b.shop.example.com', cn: 'default' },
  { desc: 'the wildcard\'s parent itself: not matched, default', sni: 'shop.example.com', cn: 'default' },
  { desc: 'an unknown name: default', sni: 'unknown.test', cn: 'default' },
  { desc: 'no SNI: default', sni: undefined, cn: 'default' },
];

describe('certificate selection by SNI', () => {
  for (const listener of ['web', 'h2'] as const) {
    for (const c of SELECTION) {
      it(`${listener}: ${c.desc}`, async () => {
        const seen = await handshake(gw.gw.port(listener), c.sni, { ca: ca.cert, alpn: listener === 'h2' ? ['h2', 'http/1.1'] : ['http/1.1'] });
        expect(seen.cn).toBe(c.cn);
        // ALPN holds for every certificate: h2 on the h2 listener, http/1.1 on https.
        expect(seen.alpn).toBe(listener === 'h2' ? 'h2' : 'http/1.1');
      });
    }
  }

  it('h2: a client offering only http/1.1 gets the name\'s certificate and HTTP/1.1', async () => {
    expect(await handshake(gw.gw.port('h2'), 'us.shop.example.com', { ca: ca.cert, alpn: ['http/1.1'] })).toMatchObject({ cn: 'shop-wildcard', alpn: 'http/1.1' });
  });

  it('https: a request by name is served with that name\'s certificate, verified by the client', async () => {
    const got = await new Promise<{ status: number; cn: string; san: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: gw.gw.port('web'), path: '/x', servername: 'us.shop.example.com', headers: { host: 'us.shop.example.com' }, ca: ca.cert, agent: false }, (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, cn: peer.subject.CN as string, san: peer.subjectaltname ?? '' }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(got).toEqual({ status: 200, cn: 'shop-wildcard', san: 'DNS:*.shop.example.com' });
  });

  it('h2: an HTTP/2 request by name is served with that name\'s certificate, verified by the client', async () => {
    const session = http2.connect(`https://api.example.com:${gw.gw.port('h2')}`, { ca: ca.cert, host: '127.0.0.1', servername: 'api.example.com' } as http2.SecureClientSessionOptions);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const s = session.request({ ':path': '/y' });
        s.on('response', (h) => resolve(h[':status'] as number));
        s.on('error', reject);
        s.resume();
        s.end();
      });
      expect(status).toBe(200);
      expect((session.socket as TLSSocket).getPeerCertificate().subject.CN).toBe('api');
      expect(session.alpnProtocol).toBe('h2');
    } finally {
      session.close();
    }
  });
});

/** An HTTP/1.1 request over TLS: status and consumer seen upstream, or the error. */
function request(port: number, path: string, servername: string, clientCert?: Issued): Promise<{ status: number; cn: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path, servername, ca: ca.cert, agent: false, headers: { host: servername }, checkServerIdentity: () => undefined, ...(clientCert ? { cert: clientCert.cert, key: clientCert.key } : {}) },
      (res) => {
        const cn = (res.socket as TLSSocket).getPeerCertificate().subject.CN as string;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, cn }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('with clientAuth required, every certificate asks for a client certificate', () => {
  for (const [name, cn] of [['api.example.com', 'api'], ['us.shop.example.com', 'shop-wildcard'], ['unknown.test', 'default']] as const) {
    it(`${name}: a trusted client certificate gets through, mapped by the mtls policy`, async () => {
      const before = up.seen.length;
      const res = await request(gw.gw.port('mtls'), '/partners/a', name, client);
      expect(res).toEqual({ status: 200, cn });
      expect(up.seen.length).toBe(before + 1);
      expect(up.seen[up.seen.length - 1]!.headers['x-consumer-id']).toBe('partner');
    });
    it(`${name}: no client certificate, no request`, async () => {
      const before = up.seen.length;
      await expect(request(gw.gw.port('mtls'), '/partners/a', name)).rejects.toThrow();
      expect(up.seen.length).toBe(before);
    });
  }
  it('an SNI certificate chains to the listener\'s clientCa only: a client certificate from another CA fails', async () => {
    const other = await makeCa('Other CA');
    const stranger = await issue(other, { cn: 'partner-1', usage: 'client' });
    await expect(request(gw.gw.port('mtls'), '/partners/a', 'api.example.com', stranger)).rejects.toThrow();
  });
});

describe('minVersion holds for SNI certificates', () => {
  it('TLSv1.3 listener: TLS 1.2 refused for a listed name, 1.3 served with its certificate', async () => {
    await expect(handshake(gw.gw.port('modern'), 'api.example.com', { ca: ca.cert, maxVersion: 'TLSv1.2' })).rejects.toThrow();
    expect(await handshake(gw.gw.port('modern'), 'api.example.com', { ca: ca.cert })).toMatchObject({ cn: 'api', protocol: 'TLSv1.3' });
  });
});

describe('requireSni', () => {
  it('serves a listed name with its certificate', async () => {
    expect((await request(gw.gw.port('strict'), '/a', 'api.example.com')).cn).toBe('api');
  });
  it('serves a name of the default certificate with it', async () => {
    expect(await request(gw.gw.port('strict'), '/a', 'default.test')).toEqual({ status: 200, cn: 'default' });
  });
  it('refuses the handshake for a name no certificate is for', async () => {
    await expect(handshake(gw.gw.port('strict'), 'unknown.test', { ca: ca.cert })).rejects.toThrow();
  });
  it('closes a connection without SNI before any request is served', async () => {
    const res = await new Promise<string>((resolve) => {
      const req = https.request({ host: '127.0.0.1', port: gw.gw.port('strict'), path: '/a', ca: ca.cert, agent: false, checkServerIdentity: () => undefined }, (r) => {
        r.resume();
        resolve(`status ${r.statusCode}`);
      });
      req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      req.end();
    });
    expect(res).toMatch(/^error /);
  });
});

describe('requireSni on an h2 listener', () => {
  /** Status of one HTTP/2 request, or the error that ended the session. */
  const h2get = (servername?: string) =>
    new Promise<string>((resolve) => {
      const session = http2.connect(`https://127.0.0.1:${gw.gw.port('strict-h2')}`, { ca: ca.cert, ...(servername ? { servername } : {}), checkServerIdentity: () => undefined } as http2.SecureClientSessionOptions);
      session.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      session.on('close', () => resolve('closed'));
      const s = session.request({ ':path': '/' });
      s.on('response', (h) => {
        resolve(`status ${h[':status']}`);
        session.close();
      });
      s.on('error', () => undefined);
      s.end();
    });
  it('closes a session without SNI, serves one with a listed name', async () => {
    expect(await h2get()).not.toMatch(/^status/);
    expect(await h2get('api.example.com')).toBe('status 200');
    await expect(handshake(gw.gw.port('strict-h2'), 'unknown.test', { ca: ca.cert, alpn: ['h2'] })).rejects.toThrow();
  });
});

describe('tls certificates config', () => {
  const yamlWith = (certificates: string, extra = '') => `version: 1
listeners:
  - name: s
    port: 0
    protocol: https
    tls:
      cert: def.pem
      key: def-key.pem${extra}
      certificates:
${certificates}
`;
  const pems = () =>
    writePems({ 'def.pem': certs.def!.cert, 'def-key.pem': certs.def!.key, 'api.pem': certs.api!.cert, 'api-key.pem': certs.api!.key, 'shop.pem': certs.shop!.cert, 'shop-key.pem': certs.shop!.key });
  // Line 10 is the first entry, 11 the second.
  const cases: { desc: string; entries: string; want: string }[] = [
    { desc: 'a wildcard inside a name', entries: '        - { serverNames: [a.*.example.com], cert: api.pem, key: api-key.pem }', want: "10 listeners[0].tls.certificates[0].serverNames[0]: 'a.*.example.com': a wildcard must be the whole leftmost label" },
    { desc: 'a partial wildcard label', entries: '        - { serverNames: ["api*.example.com"], cert: api.pem, key: api-key.pem }', want: 'serverNames[0]: \'api*.example.com\': a wildcard must be the whole leftmost label' },
    { desc: 'a wildcard over a single label', entries: '        - { serverNames: ["*.com"], cert: api.pem, key: api-key.pem }', want: "10 listeners[0].tls.certificates[0].serverNames[0]: '*.com': a wildcard needs two labels or more" },
    { desc: 'an IP address', entries: '        - { serverNames: [api.example.com, 10.0.0.1], cert: api.pem, key: api-key.pem }', want: "10 listeners[0].tls.certificates[0].serverNames[1]: '10.0.0.1': an IP address cannot be a server name" },
    { desc: 'a trailing dot', entries: '        - { serverNames: [api.example.com.], cert: api.pem, key: api-key.pem }', want: 'without a trailing dot' },
    { desc: 'a label with an underscore', entries: '        - { serverNames: [bad_label.example.com], cert: api.pem, key: api-key.pem }', want: "'bad_label' is not a DNS label" },
    {
      desc: 'a name listed twice (in another case)',
      entries: '        - { serverNames: [api.example.com], cert: api.pem, key: api-key.pem }\n        - { serverNames: [API.example.com], cert: api.pem, key: api-key.pem }',
      want: "11 listeners[0].tls.certificates[1].serverNames[0]: 'API.example.com' is already listed by certificates[0]",
    },
    { desc: 'a name the certificate is not valid for', entries: '        - { serverNames: [api.example.com, www.example.com], cert: api.pem, key: api-key.pem }', want: "10 listeners[0].tls.certificates[0].serverNames[1]: the certificate in api.pem is not valid for 'www.example.com' (it names api.example.com, api.example.org)" },
    { desc: 'a wildcard certificate for an exact name two labels down', entries: '        - { serverNames: [a.b.shop.example.com], cert: shop.pem, key: shop-key.pem }', want: "is not valid for 'a.b.shop.example.com'" },
    { desc: 'a key that does not match its certificate', entries: '        - { serverNames: [api.example.com], cert: api.pem, key: shop-key.pem }', want: '10 listeners[0].tls.certificates[0]: unusable certificate or key' },
    { desc: 'an unreadable certificate file', entries: '        - { serverNames: [api.example.com], cert: missing.pem, key: api-key.pem }', want: '10 listeners[0].tls.certificates[0].cert: cannot read missing.pem: ENOENT' },
    { desc: 'no server names', entries: '        - { serverNames: [], cert: api.pem, key: api-key.pem }', want: 'serverNames: must NOT have fewer than 1 items' },
    { desc: 'an unknown key', entries: '        - { serverName: [api.example.com], cert: api.pem, key: api-key.pem }', want: "10 listeners[0].tls.certificates[0].serverName: unknown key 'serverName' (did you mean 'serverNames'?)" },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await loadConfig(pems().path('gateway.yaml'), { text: yamlWith(c.entries), env: {} });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map((i) => `${i.line} ${i.path}: ${i.message}`).join('\n')).toContain(c.want);
    });
  }
  it('valid entries pass, and requireSni is a boolean', async () => {
    const entries = '        - { serverNames: [api.example.com, "*.example.org"], cert: api.pem, key: api-key.pem }\n        - { serverNames: ["*.SHOP.example.com"], cert: shop.pem, key: shop-key.pem }';
    const ok = await loadConfig(pems().path('gateway.yaml'), { text: yamlWith(entries.replace('"*.example.org"', 'api.example.org'), '\n      requireSni: true'), env: {} });
    expect(ok.ok, ok.ok ? '' : JSON.stringify(ok.issues)).toBe(true);
    const bad = await loadConfig(pems().path('gateway.yaml'), { text: yamlWith(entries, '\n      requireSni: yes-please'), env: {} });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues.map((i) => `${i.line} ${i.path}: ${i.message}`).join('\n')).toMatch(/9 listeners\[0\]\.tls\.requireSni: must be a boolean[\s\S]*is not valid for '\*\.example\.org'/);
  });
  it('an expired certificate is a warning', async () => {
    const old = await issue(ca, { cn: 'old', usage: 'server', dns: ['old.example.com'], expired: true });
    const files = writePems({ 'def.pem': certs.def!.cert, 'def-key.pem': certs.def!.key, 'old.pem': old.cert, 'old-key.pem': old.key });
    const r = await loadConfig(files.path('gateway.yaml'), { text: yamlWith('        - { serverNames: [old.example.com], cert: old.pem, key: old-key.pem }'), env: {} });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.loaded.warnings.map((i) => `${i.line} ${i.path}: ${i.message}`).join('\n')).toMatch(/^10 listeners\[0\]\.tls\.certificates\[0\]\.cert: the certificate in old\.pem expired on /);
  });
});
