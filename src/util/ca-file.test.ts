import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeCa, type Issued } from '../../test/tls-fixtures.js';
import { caFileProblem } from './ca-file.js';

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
