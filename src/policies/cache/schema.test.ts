import { describe, expect, it } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';
import { loadConfig } from '../../config/load.js';
import { formatIssue } from '../../config/source.js';

describe('cache config', () => {
  policyConfigCases('cache', [
    { desc: 'defaults', config: '{}' },
    { desc: 'every option', config: '{ ttl: 30s, methods: [GET, HEAD, POST], statuses: [200, 404], key: { query: [page], headers: [accept-language], consumer: true, host: false }, staleWhileRevalidate: 10s, staleIfError: 1h, maxSize: 128mb, maxEntrySize: 2mb, tagHeader: x-tags, exposeTags: true, zone: products, statusName: edge, shared: false }' },
    { desc: 'a bad duration', config: '{ ttl: soon }', error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.cache\.ttl: must be a duration/ },
    { desc: 'an unknown key', config: '{ tll: 30s }', error: /cache\.tll: unknown key/ },
    { desc: 'an uncacheable method', config: '{ methods: [PUT] }', error: /cache\.methods\[0\]/ },
    { desc: 'an unknown key option', config: '{ key: { cookies: true } }', error: /cache\.key\.cookies: unknown key/ },
    { desc: 'a bad size', config: '{ maxSize: huge }', error: /cache\.maxSize: must be a size/ },
    { desc: 'a bad zone name', config: '{ zone: "a b" }', error: /cache\.zone/ },
    { desc: 'maxSize equal to maxEntrySize', config: '{ maxSize: 1mb, maxEntrySize: 1mb }' },
    {
      desc: 'a memory zone smaller than maxEntrySize',
      config: '{ maxSize: 512kb, maxEntrySize: 1mb }',
      error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.cache\.maxSize: maxSize \(512kb\) is below maxEntrySize \(1mb\)/,
    },
    { desc: 'a maxEntrySize above the default maxSize', config: '{ maxEntrySize: 100mb }', error: /cache\.maxSize: maxSize \(64mb\) is below maxEntrySize \(100mb\)/ },
  ]);

  // With a Redis store, only zones kept in memory (`shared: false`) are bounded by maxSize.
  const withStore = (kind: string, cache: string) => `version: 1
listeners: [ { name: public, port: 0 } ]
store: { kind: ${kind} }
policies:
  - cache: ${cache}
routes:
  - { name: r, match: { path: /r }, static: { body: ok } }
`;
  const storeCases = [
    { desc: 'a shared zone on redis has no memory bound', kind: 'redis', cache: '{ maxSize: 1kb, maxEntrySize: 1mb }', want: [] },
    {
      desc: 'a zone kept in memory beside redis is checked',
      kind: 'redis',
      cache: '{ maxSize: 1kb, maxEntrySize: 1mb, shared: false }',
      want: ['gateway.yaml:5 policies[0].cache.maxSize: maxSize (1kb) is below maxEntrySize (1mb): this memory zone could not hold the largest entries it would announce as stored; raise maxSize or lower maxEntrySize'],
    },
    { desc: 'a global zone with the memory store is checked', kind: 'memory', cache: '{ maxSize: 1000b, maxEntrySize: 1kb }', want: [/policies\[0\]\.cache\.maxSize: maxSize \(1000b\) is below maxEntrySize \(1kb\)/] },
  ];
  for (const c of storeCases) {
    it(c.desc, async () => {
      const r = await loadConfig('/tmp/gateway.yaml', { text: withStore(c.kind, c.cache) });
      const issues = r.ok ? [] : r.issues.map(formatIssue);
      expect(issues).toHaveLength(c.want.length);
      c.want.forEach((w, i) => (typeof w === 'string' ? expect(issues[i]).toContain(w) : expect(issues[i]).toMatch(w)));
    });
  }
});
