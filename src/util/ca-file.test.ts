import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeCa, type Issued } from '../../test/tls-fixtures.js';
import { caFileProblem, readCaFile, usableCaFile } from './ca-file.js';
import { readUpstreamTls } from '../upstreams/tls.js';

let ca: Issued;
let other: Issued;
beforeAll(async () => {
  [ca, other] = await Promise.all([makeCa('Gantry CA File CA'), makeCa('Gantry CA File Other')]);
});

const notACertificate = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';

describe('caFileProblem', () => {
  const cases: { desc: string; pem: () => Buffer | string; want: RegExp | undefined }[] = [
    { desc: 'one certificate', pem: () => ca.cert, want: undefined },
    { desc: 'a bundle of two, with text around them (as openssl writes)', pem: () => `subject=CN=a\n${ca.cert}\n# next\n${other.cert}`, want: undefined },
    { desc: 'a certificate and a key (the certificate is the CA)', pem: () => ca.key + ca.cert, want: undefined },
    { desc: 'an empty file', pem: () => '', want: /^ca\.pem holds no PEM certificate \(it is empty\); a CA file is one or more -----BEGIN CERTIFICATE----- blocks$/ },
    { desc: 'only blank lines', pem: () => '\n\n  \n', want: /^ca\.pem holds no PEM certificate \(it is empty\)/ },
    { desc: 'a private key', pem: () => ca.key, want: /^ca\.pem holds no PEM certificate \(only PRIVATE KEY\)/ },
    { desc: 'garbage', pem: () => 'hello, I am not a certificate\n', want: /^ca\.pem holds no PEM certificate \(no PEM block: DER or not a certificate\)/ },
    { desc: 'DER (binary) certificate', pem: () => new X509Certificate(ca.cert).raw, want: /^ca\.pem holds no PEM certificate \(no PEM block: DER/ },
    { desc: 'a certificate block that is not a certificate', pem: () => notACertificate, want: /^ca\.pem: certificate 1 of 1 cannot be parsed: / },
    { desc: 'the second of two is broken', pem: () => ca.cert + notACertificate, want: /^ca\.pem: certificate 2 of 2 cannot be parsed: / },
    { desc: 'a certificate cut short (no END line)', pem: () => ca.cert.slice(0, 200), want: /^ca\.pem: certificate 1 of 1 cannot be parsed: / },
  ];
  for (const c of cases) {
    it(c.desc, () => {
      const pem = Buffer.from(c.pem());
      const problem = caFileProblem(pem, 'ca.pem');
      if (c.want === undefined) expect(problem).toBeUndefined();
      else expect(problem).toMatch(c.want);
    });
  }

  it('Node itself takes each of the refused files as `ca` without a word (why the check exists)', () => {
    for (const pem of ['', ca.key, 'garbage', notACertificate]) expect(() => createSecureContext({ ca: pem })).not.toThrow();
  });
});

describe('readCaFile: one read per config object (per load)', () => {
  it('a config object keeps the bytes its first read checked; another object (the next load) reads afresh', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-ca-read-'));
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    const tls = { ca: 'ca.pem', verify: true, minVersion: 'TLSv1.2' as const };
    expect(readCaFile(tls, dir, 'ca.pem')).toEqual({ pem: Buffer.from(ca.cert) });
    writeFileSync(join(dir, 'ca.pem'), other.cert);
    expect(usableCaFile(tls, dir, 'ca.pem', ['ca']).toString()).toBe(ca.cert);
    // An upstream's check and build read through it: both take the bytes first read.
    expect(readUpstreamTls(tls, dir)!.options.ca!.toString()).toBe(ca.cert);
    const next = { ...tls };
    expect(usableCaFile(next, dir, 'ca.pem', ['ca']).toString()).toBe(other.cert);
    expect(readUpstreamTls(next, dir)!.options.ca!.toString()).toBe(other.cert);
  });

  it('a file that cannot be read or is no CA bundle is a BuildError at the path given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-ca-read-'));
    writeFileSync(join(dir, 'key.pem'), ca.key);
    expect(readCaFile({}, dir, 'nope.pem')).toMatchObject({ unreadable: { code: 'ENOENT' } });
    expect(() => usableCaFile({}, dir, 'nope.pem', ['tls', 'ca'])).toThrow(/^cannot read nope\.pem: no such file or directory \(ENOENT\)$/);
    expect(() => usableCaFile({}, dir, 'key.pem', ['tls', 'ca'])).toThrow(/^key\.pem holds no PEM certificate \(only PRIVATE KEY\)/);
  });
});
