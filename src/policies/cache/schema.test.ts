import { describe } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';

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
  ]);
});
