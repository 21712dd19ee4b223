import { describe } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { policyConfigCases } from '../../../test/policy-config.js';
import { writePems } from '../../../test/tls-fixtures.js';

const pkcs8 = (k: { privateKey: { export(o: object): string | Buffer } }) => k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keys = writePems({
  'p256.pem': pkcs8(p256),
  'sec1.pem': p256.privateKey.export({ type: 'sec1', format: 'pem' }) as string,
  'p384.pem': pkcs8(generateKeyPairSync('ec', { namedCurve: 'P-384' })),
  'rsa.pem': pkcs8(rsa),
  'rsa1024.pem': pkcs8(generateKeyPairSync('rsa', { modulusLength: 1024 })),
  'pss.pem': pkcs8(generateKeyPairSync('rsa-pss', { modulusLength: 2048 })),
  'ed25519.pem': pkcs8(generateKeyPairSync('ed25519')),
  'ed448.pem': pkcs8(generateKeyPairSync('ed448')),
  'public.pem': p256.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  'encrypted.pem': p256.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string,
  'garbage.pem': 'not a key\n',
});

/** Each config sits on line 6 of gateway.yaml, beside the key files. */
describe('internal-token config', () => {
  policyConfigCases(
    'internal-token',
    [
      { desc: 'a key file and defaults (ES256)', config: '{ key: p256.pem }' },
      { desc: 'a SEC1 EC key', config: '{ key: sec1.pem, alg: ES256 }' },
      { desc: 'a custom header', config: '{ key: p256.pem, header: X-Identity }' },
      { desc: 'ES384 with a P-384 key', config: '{ key: p384.pem, alg: ES384 }' },
      { desc: 'RS256 with an RSA key', config: '{ key: rsa.pem, alg: RS256 }' },
      { desc: 'PS256 with an RSA key', config: '{ key: rsa.pem, alg: PS256 }' },
      { desc: 'EdDSA with an Ed25519 key', config: '{ key: ed25519.pem, alg: EdDSA }' },
      { desc: 'a cache size', config: '{ key: p256.pem, cacheSize: 100 }' },
      { desc: 'a cache of no tokens', config: '{ key: p256.pem, cacheSize: 0 }', error: /gateway\.yaml:6 .*internal-token\.cacheSize: must be >= 1/ },
      { desc: 'a header name that is not a token', config: '{ key: p256.pem, header: "bad header" }', error: /gateway\.yaml:6 .*internal-token\.header: must match / },
      { desc: 'no key', config: '{}', error: /internal-token: must have required property 'key'|internal-token\.key/ },
      { desc: 'a missing key file', config: '{ key: nope.pem }', error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.internal-token\.key: cannot read nope\.pem: ENOENT/ },
      { desc: 'a file that is no PEM key', config: '{ key: garbage.pem }', error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.internal-token\.key: garbage\.pem holds no usable PEM private key: the file is not PEM/ },
      { desc: 'a public key', config: '{ key: public.pem }', error: /gateway\.yaml:6 .*internal-token\.key: public\.pem holds no usable PEM private key: it holds no PRIVATE KEY block/ },
      { desc: 'an encrypted key', config: '{ key: encrypted.pem }', error: /gateway\.yaml:6 .*internal-token\.key: encrypted\.pem holds no usable PEM private key: the key is encrypted/ },
      { desc: 'the default ES256 with an RSA key', config: '{ key: rsa.pem }', error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.internal-token\.alg: ES256 needs an EC P-256 key; rsa\.pem holds a 2048-bit RSA key/ },
      { desc: 'ES256 with a P-384 key', config: '{ key: p384.pem, alg: ES256 }', error: /internal-token\.alg: ES256 needs an EC P-256 key; p384\.pem holds an EC secp384r1 key/ },
      { desc: 'RS256 with an EC key', config: '{ key: p256.pem, alg: RS256 }', error: /internal-token\.alg: RS256 needs an RSA key of 2048 bits or more; p256\.pem holds an EC prime256v1 key/ },
      { desc: 'RS256 with a 1024-bit key (RFC 7518 §3.3)', config: '{ key: rsa1024.pem, alg: RS256 }', error: /internal-token\.alg: RS256 needs an RSA key of 2048 bits or more; rsa1024\.pem holds a 1024-bit RSA key/ },
      { desc: 'PS256 with an RSA-PSS-restricted key', config: '{ key: pss.pem, alg: PS256 }', error: /internal-token\.alg: PS256 needs an RSA key .*pss\.pem holds a 2048-bit RSA-PSS key/ },
      { desc: 'EdDSA with an Ed448 key', config: '{ key: ed448.pem, alg: EdDSA }', error: /internal-token\.alg: EdDSA needs an Ed25519 key; ed448\.pem holds an ed448 key/ },
    ],
    { file: keys.path('gateway.yaml') },
  );
});
