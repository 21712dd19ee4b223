import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { ConsumerDirectory, normalizeFingerprint } from './directory.js';
import { hashApiKey, hashPassword, parseScryptHash, verifyPassword } from './hash.js';
import { loadConfig } from '../config/load.js';
import { hashKey } from '../cli/hash-key.js';

const FAST = { N: 1024, r: 8, p: 1 };

describe('consumer directory', () => {
  const key = 'k-7f3a9c2e1d';
  const dir = new ConsumerDirectory([
    { id: 'acme', tenant: 'acme-co', tier: 'gold', scopes: ['read', 'write'], apiKeys: [hashApiKey(key)], basicAuth: [], certificates: [] },
    {
      id: 'beta',
      scopes: [],
      apiKeys: [],
      basicAuth: [{ username: 'beta', password: hashPassword('pw', FAST) }],
      certificates: [{ subject: 'beta-client' }, { san: 'URI:spiffe://beta/web' }, { fingerprint: 'AB:'.repeat(31) + 'AB' }],
    },
  ]);

  const cases: { desc: string; find: () => string | undefined; want: string | undefined }[] = [
    { desc: 'api key finds its consumer', find: () => dir.byApiKey(key)?.id, want: 'acme' },
    { desc: 'api key differing in the last character', find: () => dir.byApiKey(key.slice(0, -1) + 'x')?.id, want: undefined },
    { desc: 'api key prefix', find: () => dir.byApiKey(key.slice(0, -1))?.id, want: undefined },
    { desc: 'the stored hash is not a key', find: () => dir.byApiKey(hashApiKey(key))?.id, want: undefined },
    { desc: 'by id', find: () => dir.byId('beta')?.id, want: 'beta' },
    { desc: 'certificate subject', find: () => dir.bySubject('beta-client')?.id, want: 'beta' },
    { desc: 'certificate SAN', find: () => dir.bySan('URI:spiffe://beta/web')?.id, want: 'beta' },
    { desc: 'fingerprint in another spelling', find: () => dir.byFingerprint('sha256:' + 'ab'.repeat(32))?.id, want: 'beta' },
    { desc: 'unknown fingerprint', find: () => dir.byFingerprint('cd'.repeat(32))?.id, want: undefined },
  ];
  for (const c of cases) it(c.desc, () => expect(c.find()).toBe(c.want));

  it('precomputes the propagated identity', () => {
    const a = dir.byApiKey(key)!;
    expect(a).toMatchObject({ id: 'acme', tenant: 'acme-co', tier: 'gold', scopes: ['read', 'write'], scopeHeader: 'read write', anonymous: false });
    expect(a.upstreamHeaders).toEqual(['x-consumer-id', 'acme', 'x-consumer-tenant', 'acme-co', 'x-consumer-tier', 'gold', 'x-authenticated-scopes', 'read write']);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('verifies scrypt passwords', async () => {
    const entry = dir.basicUser('beta')!;
    expect(await verifyPassword('pw', entry.hash)).toBe(true);
    expect(await verifyPassword('pW', entry.hash)).toBe(false);
  });

  it('normalises fingerprints', () => expect(normalizeFingerprint('sha256:AB:CD')).toBe('abcd'));

  const badHashes: [string, RegExp][] = [
    ['scrypt:1000:8:1:c2FsdHNhbHQ:aGFzaGhhc2hoYXNoaGFzaA', /power of two/],
    ['scrypt:16384:64:1:c2FsdHNhbHQ:aGFzaGhhc2hoYXNoaGFzaA', /r must/],
    ['scrypt:16384:8:1:c2E:aGFzaGhhc2hoYXNoaGFzaA', /salt/],
    ['bcrypt:x', /must look like/],
  ];
  for (const [h, re] of badHashes) it(`rejects scrypt hash ${h.slice(0, 20)}…`, () => expect(parseScryptHash(h)).toMatch(re));
});

describe('consumers config', () => {
  const base = (consumers: string, policies = '[]') => `version: 1
listeners: [ { name: p, port: 0 } ]
consumers:
${consumers}
routes:
  - { name: r, match: { path: /x }, static: { status: 200 }, policies: ${policies} }
`;
  const h = hashApiKey('a');
  const cases: { desc: string; consumers: string; policies?: string; error?: RegExp }[] = [
    { desc: 'valid consumer', consumers: `  - { id: a, tenant: t, apiKeys: ["${h}"] }` },
    { desc: 'clear-text key is refused', consumers: '  - { id: a, apiKeys: ["secret"] }', error: /consumers\[0\]\.apiKeys\[0\]: must match/ },
    { desc: 'duplicate id', consumers: '  - { id: a }\n  - { id: a }', error: /consumers\[1\]\.id: consumer id 'a' is used twice/ },
    { desc: 'same key on two consumers', consumers: `  - { id: a, apiKeys: ["${h}"] }\n  - { id: b, apiKeys: ["${h.toUpperCase().replace('SHA256', 'sha256')}"] }`, error: /consumers\[1\]\.apiKeys\[0\]: this API key is already used by consumer 'a'/ },
    { desc: 'unknown key', consumers: '  - { id: a, apiKey: [] }', error: /consumers\[0\]\.apiKey: unknown key 'apiKey' \(did you mean 'apiKeys'\?\)/ },
    { desc: 'certificate mapping needs exactly one field', consumers: '  - { id: a, certificates: [ { subject: x, san: "DNS:y" } ] }', error: /consumers\[0\]\.certificates\[0\]/ },
    { desc: 'weak scrypt hash', consumers: '  - { id: a, basicAuth: [ { username: u, password: "scrypt:2:8:1:c2FsdHNhbHQ:aGFzaGhhc2hoYXNoaGFzaA" } ] }', error: /basicAuth\[0\]\.password: scrypt N/ },
    { desc: 'anonymous names an unknown consumer', consumers: '  - { id: a }', policies: '[ { api-key: { anonymous: ghost } } ]', error: /routes\[0\]\.policies\[0\]\.api-key\.anonymous: unknown consumer 'ghost'/ },
    { desc: 'anonymous inside anyOf', consumers: '  - { id: a }', policies: '[ { auth: { anyOf: [ { api-key: { anonymous: a } } ] } } ]', error: /anyOf\[0\]\.api-key\.anonymous: set anonymous on auth itself/ },
    { desc: 'unknown scheme in anyOf', consumers: '  - { id: a }', policies: '[ { auth: { anyOf: [ { api-keys: {} } ] } } ]', error: /anyOf\[0\]\.api-keys: unknown key 'api-keys' \(did you mean 'api-key'\?\)/ },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await loadConfig('/virtual/gateway.yaml', { text: base(c.consumers, c.policies), env: {} });
      if (!c.error) {
        expect(r.ok, r.ok ? '' : JSON.stringify(r.issues)).toBe(true);
        return;
      }
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.map((i) => `${i.line} ${i.path}: ${i.message}`).join('\n')).toMatch(c.error);
    });
  }
});

describe('gantry hash-key', () => {
  const run = async (o: { secret?: string; password?: boolean; generate?: boolean; stdin?: string }) => {
    const out = new PassThrough();
    const err = new PassThrough();
    const input = new PassThrough();
    input.end(o.stdin ?? '');
    const code = await hashKey({ secret: o.secret, password: o.password ?? false, generate: o.generate ?? false, input, out, err });
    return { code, out: String(out.read() ?? ''), err: String(err.read() ?? '') };
  };
  it('hashes a key argument', async () => expect((await run({ secret: 'abc' })).out).toBe(hashApiKey('abc') + '\n'));
  it('reads the key from stdin without its newline', async () => expect((await run({ stdin: 'abc\n' })).out).toBe(hashApiKey('abc') + '\n'));
  it('hashes a password with scrypt', async () => {
    const r = await run({ secret: 'pw', password: true });
    const parsed = parseScryptHash(r.out.trim());
    expect(typeof parsed).toBe('object');
    expect(await verifyPassword('pw', parsed as Exclude<typeof parsed, string>)).toBe(true);
  });
  it('generates a key and its hash', async () => {
    const r = await run({ generate: true });
    const [, key, hash] = /key: +(\S+)\nhash: (\S+)/.exec(r.out)!;
    expect(hash).toBe(hashApiKey(key!));
  });
  it('refuses an empty secret', async () => expect((await run({ stdin: '' })).code).toBe(2));
});
