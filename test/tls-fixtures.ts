import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { connect as tlsConnect, type SecureVersion } from 'node:tls';

/**
 * Real X.509 material generated in the test (node:crypto cannot sign certificates):
 * CAs, server and client certificates, ECDSA P-256 for speed.
 */
x509.cryptoProvider.set(webcrypto as never);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface Issued {
  cert: string;
  key: string;
  /** SHA-256 fingerprint of the DER certificate, lower-case hex. */
  fingerprint: string;
  x509: x509.X509Certificate;
  keys: CryptoKeyPair;
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function pack(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<Issued> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const fp = Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex');
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), fingerprint: fp, x509: cert, keys };
}

let serial = 1;
const validity = (days = 1) => ({ notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + days * 86_400_000) });

/** A self-signed CA. */
export async function makeCa(cn: string): Promise<Issued> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16).padStart(2, '0'),
    name: `CN=${cn}`,
    ...validity(),
    keys: keys as never,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  return pack(cert, keys);
}

/** A leaf certificate signed by `ca`, for a server (`dns` names) or a client. */
export async function issue(
  ca: Issued,
  o: { cn: string; usage: 'server' | 'client'; dns?: string[]; ips?: string[]; uris?: string[]; expired?: boolean },
): Promise<Issued> {
  const keys = await keyPair();
  const names: x509.JsonGeneralName[] = [
    ...(o.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(o.uris ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  const when = o.expired ? { notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) } : validity();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(2, '0'),
    subject: `CN=${o.cn}`,
    issuer: ca.x509.subject,
    ...when,
    signingKey: ca.keys.privateKey as never,
    publicKey: keys.publicKey as never,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([o.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(ca.x509),
    ],
  });
  return pack(cert, keys);
}

/** Writes PEM files into a fresh temp folder; returns their paths by name. */
export function writePems(files: Record<string, string>): { dir: string; path: (name: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-tls-'));
  for (const [name, pem] of Object.entries(files)) writeFileSync(join(dir, name), pem);
  return { dir, path: (name) => join(dir, name) };
}

/** What a TLS client saw of a handshake with the gateway. */
export interface Presented {
  /** Subject CN of the certificate the server presented. */
  cn: string;
  /** Its subject alternative names, as node:tls prints them. */
  san: string;
  alpn: string | false;
  protocol: string | null;
}

/**
 * Opens a TLS connection to 127.0.0.1:`port` sending `servername` in SNI (none when
 * undefined) and resolves with the certificate presented. Name checks are the caller's:
 * the handshake is accepted whatever the certificate names.
 */
export function handshake(
  port: number,
  servername: string | undefined,
  o: { ca: string; client?: Issued; alpn?: string[]; maxVersion?: SecureVersion } = { ca: '' },
): Promise<Presented> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: o.ca,
      ...(servername !== undefined ? { servername } : {}),
      checkServerIdentity: () => undefined,
      ...(o.client ? { cert: o.client.cert, key: o.client.key } : {}),
      ...(o.alpn ? { ALPNProtocols: o.alpn } : {}),
      ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
    });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      resolve({ cn: peer.subject.CN as string, san: peer.subjectaltname ?? '', alpn: socket.alpnProtocol ?? false, protocol: socket.getProtocol() });
      socket.end();
    });
    socket.once('error', reject);
  });
}

/**
 * Writes a plugin policy `name` to `file` whose `create` copies each `[from, to]` file: it runs
 * at build, after the load's checks, so a test can change the files a config names between
 * the check and the build (what is built must be what was checked).
 *
 * @example writeSwapAtBuildPlugin(join(dir, 'rotate.mjs'), 'rotate-cas', [[otherCa, targetCa]]);
 */
export function writeSwapAtBuildPlugin(file: string, name: string, copies: readonly (readonly [from: string, to: string])[]): void {
  writeFileSync(
    file,
    `import { copyFileSync } from 'node:fs';
const copies = ${JSON.stringify(copies)};
export default {
  name: ${JSON.stringify(name)},
  description: 'Overwrites files the config names once the load has checked them.',
  schema: { type: 'object' },
  create() {
    for (const [from, to] of copies) copyFileSync(from, to);
    return {};
  },
};
`,
  );
}
