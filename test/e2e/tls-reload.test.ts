import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import http2 from 'node:http2';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { startGateway, type TestGateway } from '../helpers.js';
import { handshake, issue, makeCa, writePems, type Issued } from '../tls-fixtures.js';

/**
 * Certificates on reload: a kept https or h2 listener takes new certificate files and a
 * changed tls block in place (server.setSecureContext and a new SNI table), on the same
 * socket, with the connections opened before still served; a bad new certificate fails
 * the reload and the old one keeps serving.
 */

let ca: Issued;
const c: Record<string, Issued> = {};
let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

beforeAll(async () => {
  ca = await makeCa('Gantry Reload CA');
  [c.def, c.apiA, c.apiB, c.shop] = await Promise.all([
    issue(ca, { cn: 'default', usage: 'server', dns: ['default.test'] }),
    issue(ca, { cn: 'api-A', usage: 'server', dns: ['api.example.com'] }),
    issue(ca, { cn: 'api-B', usage: 'server', dns: ['api.example.com'] }),
    issue(ca, { cn: 'shop', usage: 'server', dns: ['*.shop.example.com'] }),
  ]);
});

const listenerYaml = (protocol: string, extra = '') => `version: 1
listeners:
  - name: s
    port: 0
    host: 127.0.0.1
    protocol: ${protocol}
    tls:
      cert: def.pem
      key: def-key.pem
      certificates:
        - { serverNames: [api.example.com], cert: api.pem, key: api-key.pem }${extra}
routes: [ { name: r, match: { path: /* }, static: { status: 200, body: ok } } ]
`;

async function start(protocol: 'https' | 'h2') {
  const yaml = listenerYaml(protocol);
  const files = writePems({ 'gateway.yaml': yaml, 'def.pem': c.def!.cert, 'def-key.pem': c.def!.key, 'api.pem': c.apiA!.cert, 'api-key.pem': c.apiA!.key, 'shop.pem': c.shop!.cert, 'shop-key.pem': c.shop!.key });
  gw = await startGateway(yaml, { file: files.path('gateway.yaml') });
  const write = (name: string, text: string) => writeFileSync(join(files.dir, name), text);
  return { gw: gw.gw, port: gw.gw.port('s'), write, logs: gw.logs };
}

/** A request on a keep-alive agent: status, the certificate of its connection, whether the socket was reused. */
function get(agent: https.Agent, port: number, servername: string): Promise<{ status: number; cn: string; reused: boolean; local: number }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', servername, headers: { host: servername }, ca: ca.cert, agent }, (res) => {
      const socket = res.socket as TLSSocket;
      const cn = socket.getPeerCertificate().subject.CN as string;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, cn, reused: req.reusedSocket, local: socket.localPort! }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('rotating certificate files', () => {
  it('https: new handshakes get the new certificate, a keep-alive connection made before keeps serving', async () => {
    const g = await start('https');
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(agent, g.port, 'api.example.com');
      expect(first).toMatchObject({ status: 200, cn: 'api-A', reused: false });
      g.write('api.pem', c.apiB!.cert);
      g.write('api-key.pem', c.apiB!.key);
      expect(await g.gw.reload()).toMatchObject({ ok: true });
      expect(g.gw.port('s')).toBe(g.port);
      expect((await handshake(g.port, 'api.example.com', { ca: ca.cert })).cn).toBe('api-B');
      // The connection opened before the reload is the same one, still served, with its own certificate.
      const again = await get(agent, g.port, 'api.example.com');
      expect(again).toEqual({ status: 200, cn: 'api-A', reused: true, local: first.local });
      expect((await handshake(g.port, 'other.test', { ca: ca.cert })).cn).toBe('default');
    } finally {
      agent.destroy();
    }
  });

  it('h2: new handshakes get the new certificate, an HTTP/2 session opened before keeps serving streams', async () => {
    const g = await start('h2');
    const session = http2.connect(`https://api.example.com:${g.port}`, { ca: ca.cert, host: '127.0.0.1', servername: 'api.example.com' } as http2.SecureClientSessionOptions);
    const stream = () =>
      new Promise<number>((resolve, reject) => {
        const s = session.request({ ':path': '/' });
        s.on('response', (h) => resolve(h[':status'] as number));
        s.on('error', reject);
        s.resume();
        s.end();
      });
    try {
      expect(await stream()).toBe(200);
      expect((session.socket as TLSSocket).getPeerCertificate().subject.CN).toBe('api-A');
      g.write('api.pem', c.apiB!.cert);
      g.write('api-key.pem', c.apiB!.key);
      expect(await g.gw.reload()).toMatchObject({ ok: true });
      expect(await handshake(g.port, 'api.example.com', { ca: ca.cert, alpn: ['h2'] })).toMatchObject({ cn: 'api-B', alpn: 'h2' });
      expect(await stream()).toBe(200);
      expect(session.closed || session.destroyed).toBe(false);
    } finally {
      session.close();
    }
  });

  it('the default certificate rotates too', async () => {
    const g = await start('https');
    const next = await issue(ca, { cn: 'default-2', usage: 'server', dns: ['default.test'] });
    g.write('def.pem', next.cert);
    g.write('def-key.pem', next.key);
    expect(await g.gw.reload()).toMatchObject({ ok: true });
    expect((await handshake(g.port, undefined, { ca: ca.cert })).cn).toBe('default-2');
    expect((await handshake(g.port, 'api.example.com', { ca: ca.cert })).cn).toBe('api-A');
  });
});

/**
 * A handshake offering `session` (from an earlier one): whether it was resumed. Without
 * one, resolves with the session ticket the server sends (TLS 1.3 sends it after the handshake).
 */
function resume(port: number, session?: Buffer): Promise<{ reused: boolean; session?: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'api.example.com', ca: ca.cert, ...(session ? { session } : {}) });
    const done = (next?: Buffer) => {
      resolve({ reused: socket.isSessionReused(), ...(next ? { session: next } : {}) });
      socket.end();
    };
    if (session) socket.once('secureConnect', () => done());
    else socket.once('session', done);
    socket.once('error', reject);
  });
}

describe('a reload that changes nothing in tls', () => {
  it('keeps the TLS contexts: sessions stay resumable; a rotation starts new ones', async () => {
    const g = await start('https');
    // Only a listener with one certificate resumes sessions (tls-resumption.test.ts).
    const single = listenerYaml('https').replace(/cert: def\.pem\n\s+key: def-key\.pem\n\s+certificates:\n.*\n/, 'cert: api.pem\n      key: api-key.pem\n');
    expect(single).not.toContain('certificates');
    writeFileSync(g.gw.configPath, single);
    expect(await g.gw.reload()).toMatchObject({ ok: true });
    const first = await resume(g.port);
    expect(first.reused).toBe(false);
    expect(await g.gw.reload()).toMatchObject({ ok: true });
    expect((await resume(g.port, first.session)).reused).toBe(true);
    expect(g.logs.filter((l) => l.msg === 'listener tls reloaded: new handshakes use the new certificates')).toHaveLength(1);
    g.write('api.pem', c.apiB!.cert);
    g.write('api-key.pem', c.apiB!.key);
    expect(await g.gw.reload()).toMatchObject({ ok: true });
    expect((await resume(g.port, first.session)).reused).toBe(false);
    expect(g.logs.filter((l) => l.msg === 'listener tls reloaded: new handshakes use the new certificates')).toHaveLength(2);
  });
});

describe('changing the tls block', () => {
  it('a certificate added on reload is served on the same socket; the open connection stays', async () => {
    const g = await start('https');
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(agent, g.port, 'api.example.com');
      expect((await handshake(g.port, 'eu.shop.example.com', { ca: ca.cert })).cn).toBe('default');
      writeFileSync(g.gw.configPath, listenerYaml('https', '\n        - { serverNames: ["*.shop.example.com"], cert: shop.pem, key: shop-key.pem }'));
      expect(await g.gw.reload()).toMatchObject({ ok: true });
      expect(g.gw.port('s')).toBe(g.port);
      expect((await handshake(g.port, 'eu.shop.example.com', { ca: ca.cert })).cn).toBe('shop');
      expect(await get(agent, g.port, 'api.example.com')).toEqual({ status: 200, cn: 'api-A', reused: true, local: first.local });
    } finally {
      agent.destroy();
    }
  });

  it('clientCa and clientAuth: required added by a reload ask the next handshakes for a client certificate', async () => {
    const g = await start('https');
    const partner = await issue(ca, { cn: 'partner', usage: 'client' });
    g.write('ca.pem', ca.cert);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(agent, g.port, 'api.example.com');
      writeFileSync(g.gw.configPath, listenerYaml('https').replace('      cert: def.pem', '      clientCa: ca.pem\n      clientAuth: required\n      cert: def.pem'));
      expect(await g.gw.reload()).toMatchObject({ ok: true });
      const fresh = (client?: Issued) =>
        new Promise<number>((resolve, reject) => {
          const req = https.request({ host: '127.0.0.1', port: g.port, path: '/', servername: 'api.example.com', ca: ca.cert, agent: false, ...(client ? { cert: client.cert, key: client.key } : {}) }, (res) => {
            res.resume();
            resolve(res.statusCode!);
          });
          req.on('error', reject);
          req.end();
        });
      await expect(fresh()).rejects.toThrow();
      expect(await fresh(partner)).toBe(200);
      // The connection made before the change keeps going.
      expect(await get(agent, g.port, 'api.example.com')).toMatchObject({ status: 200, reused: true, local: first.local });
    } finally {
      agent.destroy();
    }
  });

  it('requireSni switched on by a reload applies to the next handshakes', async () => {
    const g = await start('https');
    expect((await handshake(g.port, 'unknown.test', { ca: ca.cert })).cn).toBe('default');
    writeFileSync(g.gw.configPath, listenerYaml('https').replace('      cert: def.pem', '      requireSni: true\n      cert: def.pem'));
    expect(await g.gw.reload()).toMatchObject({ ok: true });
    await expect(handshake(g.port, 'unknown.test', { ca: ca.cert })).rejects.toThrow();
    expect((await handshake(g.port, 'api.example.com', { ca: ca.cert })).cn).toBe('api-A');
  });
});

describe('a bad new certificate', () => {
  const bad: { desc: string; files: (g: Awaited<ReturnType<typeof start>>) => void; want: RegExp }[] = [
    { desc: 'a key that does not match', files: (g) => g.write('api.pem', c.apiB!.cert), want: /^gateway\.yaml:11 listeners\[0\]\.tls\.certificates\[0\]: unusable certificate or key/ },
    { desc: 'a certificate that does not cover the listed name', files: (g) => (g.write('api.pem', c.shop!.cert), g.write('api-key.pem', c.shop!.key)), want: /^gateway\.yaml:11 listeners\[0\]\.tls\.certificates\[0\]\.serverNames\[0\]: the certificate in api\.pem is not valid for 'api\.example\.com'/ },
    { desc: 'an unreadable file', files: (g) => g.write('api.pem', '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n'), want: /^gateway\.yaml:11 listeners\[0\]\.tls\.certificates\[0\]: unusable certificate or key/ },
  ];
  for (const b of bad) {
    it(`${b.desc}: the reload fails naming it, the old certificate keeps serving`, async () => {
      const g = await start('https');
      b.files(g);
      const r = await g.gw.reload();
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map((i) => `${i.file.split('/').pop()}:${i.line} ${i.path}: ${i.message}`).join('\n')).toMatch(b.want);
      expect(await handshake(g.port, 'api.example.com', { ca: ca.cert })).toMatchObject({ cn: 'api-A' });
    });
  }
});
