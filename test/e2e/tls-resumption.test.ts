import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as tlsConnect, type SecureVersion } from 'node:tls';
import { startGateway, type TestGateway } from '../helpers.js';
import { issue, makeCa, writePems, type Issued } from '../tls-fixtures.js';

/**
 * TLS session resumption against listeners with several certificates (SNI) and
 * requireSni, over real sockets: a client keeps the session (TLS 1.3 ticket, TLS 1.2
 * ticket) of a handshake for api.example.com and offers it on a connection without SNI, for
 * another listed name, or for an unknown name. A resumed handshake skips node's SNI
 * callback, so such a listener must never resume: each handshake is a full one, gets the
 * certificate of the name it asks for, and requireSni holds. A one-certificate listener
 * keeps resuming (nothing to confuse).
 */

let ca: Issued;
let gw: TestGateway;

beforeAll(async () => {
  ca = await makeCa('Gantry Resumption CA');
  const [def, api, shop] = await Promise.all([
    issue(ca, { cn: 'default', usage: 'server', dns: ['default.test'] }),
    issue(ca, { cn: 'api', usage: 'server', dns: ['api.example.com'] }),
    issue(ca, { cn: 'shop', usage: 'server', dns: ['shop.example.com'] }),
  ]);
  const certificates = '[ { serverNames: [api.example.com], cert: api.pem, key: api-key.pem }, { serverNames: [shop.example.com], cert: shop.pem, key: shop-key.pem } ]';
  const yaml = `version: 1
listeners:
  - { name: strict, port: 0, host: 127.0.0.1, protocol: https, tls: { cert: def.pem, key: def-key.pem, requireSni: true, certificates: ${certificates} } }
  - { name: strict-one, port: 0, host: 127.0.0.1, protocol: https, tls: { cert: api.pem, key: api-key.pem, requireSni: true } }
  - { name: several, port: 0, host: 127.0.0.1, protocol: h2, tls: { cert: def.pem, key: def-key.pem, certificates: ${certificates} } }
  - { name: single, port: 0, host: 127.0.0.1, protocol: https, tls: { cert: api.pem, key: api-key.pem } }
routes:
  - { name: any, match: { path: /* }, static: { status: 200, body: ok } }
`;
  const files = writePems({ 'def.pem': def.cert, 'def-key.pem': def.key, 'api.pem': api.cert, 'api-key.pem': api.key, 'shop.pem': shop.cert, 'shop-key.pem': shop.key });
  gw = await startGateway(yaml, { file: files.path('gateway.yaml') });
});
afterAll(async () => {
  await gw?.close();
});

interface Outcome {
  /** The server resumed the offered session (no certificate sent). */
  reused: boolean;
  /** CN of the certificate the server presented in this handshake (none when resumed). */
  cn: string | undefined;
  /** Status line of `GET /`, or how the connection ended. */
  answer: string;
}

/**
 * One connection sending `servername` in SNI (none when undefined), offering `session`,
 * and one HTTP/1.1 request; resolves with what happened and the last session the server
 * handed out on it.
 */
function connect(port: number, servername: string | undefined, version: SecureVersion, session?: Buffer): Promise<{ out: Outcome; session: Buffer | undefined }> {
  return new Promise((resolve) => {
    let ticket: Buffer | undefined;
    let data = '';
    let reused = false;
    let cn: string | undefined;
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: ca.cert,
      minVersion: version,
      maxVersion: version,
      ALPNProtocols: ['http/1.1'],
      checkServerIdentity: () => undefined,
      ...(servername !== undefined ? { servername } : {}),
      ...(session ? { session } : {}),
    });
    socket.on('session', (s: Buffer) => (ticket = s));
    socket.on('secureConnect', () => {
      reused = socket.isSessionReused();
      cn = socket.getPeerCertificate().subject?.CN as string | undefined;
      socket.write(`GET / HTTP/1.1\r\nhost: ${servername ?? '127.0.0.1'}\r\nconnection: close\r\n\r\n`);
    });
    socket.on('data', (d: Buffer) => (data += d.toString()));
    let settled = false;
    const done = (why: string) => {
      if (settled) return;
      settled = true;
      resolve({ out: { reused, cn, answer: data ? data.split('\r\n')[0]! : why }, session: ticket });
    };
    socket.on('error', () => done('reset'));
    // The session ticket arrives after the handshake: wait for the close to have it.
    socket.on('close', () => done('closed'));
  });
}

/** A session from a full handshake for `name` on `listener`. */
async function sessionFor(listener: string, name: string, version: SecureVersion): Promise<Buffer | undefined> {
  const first = await connect(gw.gw.port(listener), name, version);
  expect(first.out).toMatchObject({ reused: false, answer: 'HTTP/1.1 200 OK' });
  return first.session;
}

const CASES: { desc: string; listener: string; second: string | undefined; want: (o: Outcome) => boolean | void }[] = [
  { desc: 'requireSni: the session offered without SNI is not resumed, the connection is closed', listener: 'strict', second: undefined, want: (o) => expect(o).toMatchObject({ reused: false, answer: expect.stringMatching(/^(closed|reset)$/) }) },
  { desc: 'requireSni: the session offered for an unknown name is not resumed, the handshake refused', listener: 'strict', second: 'unknown.test', want: (o) => expect(o).toMatchObject({ reused: false, cn: undefined, answer: expect.stringMatching(/^(closed|reset)$/) }) },
  { desc: 'requireSni: the session offered for another listed name: full handshake with that name\'s certificate', listener: 'strict', second: 'shop.example.com', want: (o) => expect(o).toEqual({ reused: false, cn: 'shop', answer: 'HTTP/1.1 200 OK' }) },
  { desc: 'requireSni: the session offered for the same name: a full handshake, served', listener: 'strict', second: 'api.example.com', want: (o) => expect(o).toEqual({ reused: false, cn: 'api', answer: 'HTTP/1.1 200 OK' }) },
  { desc: 'requireSni with one certificate: the session offered for an unknown name is refused', listener: 'strict-one', second: 'unknown.test', want: (o) => expect(o).toMatchObject({ reused: false, answer: expect.stringMatching(/^(closed|reset)$/) }) },
  { desc: 'several certificates: the session offered for another listed name gets that name\'s certificate', listener: 'several', second: 'shop.example.com', want: (o) => expect(o).toEqual({ reused: false, cn: 'shop', answer: 'HTTP/1.1 200 OK' }) },
  { desc: 'several certificates: the session offered without SNI gets the default certificate', listener: 'several', second: undefined, want: (o) => expect(o).toEqual({ reused: false, cn: 'default', answer: 'HTTP/1.1 200 OK' }) },
  { desc: 'one certificate, no requireSni: the session is resumed', listener: 'single', second: 'api.example.com', want: (o) => expect(o).toEqual({ reused: true, cn: undefined, answer: 'HTTP/1.1 200 OK' }) },
];

describe('session resumption across server names', () => {
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    for (const c of CASES) {
      it(`${version}: ${c.desc}`, async () => {
        const session = await sessionFor(c.listener, 'api.example.com', version);
        const again = await connect(gw.gw.port(c.listener), c.second, version, session);
        c.want(again.out);
      });
    }
  }
});
