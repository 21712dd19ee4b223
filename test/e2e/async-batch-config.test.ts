import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';

/** Config errors of `async:` and `batch:` routes: file:line path: message. */
describe('async and batch config', () => {
  const doc = (route: string, more = '') => `version: 1
listeners: [ { name: p, port: 0 } ]
upstreams:
  reports: { targets: [ "http://127.0.0.1:1" ] }
routes:
  - name: r
    match: { path: /r/* }
${route}
${more}`;
  const cases: { desc: string; route: string; more?: string; error: RegExp }[] = [
    { desc: 'unknown upstream', route: '    async: { upstream: reprots }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async\.upstream: unknown upstream 'reprots' \(did you mean 'reports'\?\)$/m },
    { desc: 'missing upstream', route: '    async: { jobsPath: /jobs }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async.*upstream/m },
    { desc: 'unknown key', route: '    async: { upstream: reports, webhook: "http://x" }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async.*webhook/m },
    { desc: 'callback as a URL', route: '    async: { upstream: reports, callback: "http://x" }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async\.callback/m },
    { desc: 'jobsPath with a param', route: '    async: { upstream: reports, jobsPath: "/jobs/:x" }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async\.jobsPath: must match/m },
    { desc: 'jobsPath with a trailing slash', route: '    async: { upstream: reports, jobsPath: /jobs/ }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async\.jobsPath: must match/m },
    { desc: 'zero ttl', route: '    async: { upstream: reports, ttl: 0s }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async\.ttl: ttl must be > 0$/m },
    { desc: 'bad duration', route: '    async: { upstream: reports, timeout: soon }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async\.timeout/m },
    { desc: 'zero maxPending', route: '    async: { upstream: reports, maxPending: 0 }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async\.maxPending/m },
    { desc: 'zero result size', route: '    async: { upstream: reports, maxResultSize: 0 }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async\.maxResultSize: maxResultSize must be > 0$/m },
    {
      desc: 'two async routes on one jobsPath',
      route: '    async: { upstream: reports }',
      more: '  - { name: s, match: { path: /s/* }, async: { upstream: reports } }',
      error: /^\/v\/gateway\.yaml:9 routes\[1\]\.async\.jobsPath: jobsPath '\/jobs' is already the jobs path of route 'r'$/m,
    },
    { desc: 'unknown callback upstream', route: '    async: { upstream: reports, callback: { upstream: hook, path: /done } }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async\.callback\.upstream: unknown upstream 'hook'/m },
    { desc: 'callback without a path', route: '    async: { upstream: reports, callback: { upstream: reports } }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.async\.callback.*path/m },
    { desc: 'two targets', route: '    upstream: reports\n    async: { upstream: reports }', error: /route has more than one target \(upstream, async\)/ },
    { desc: 'retries on an async route', route: '    retries: { attempts: 2 }\n    async: { upstream: reports }', error: /routes\[0\]\.retries: retries applies to routes with upstream/ },
    { desc: 'batch: zero concurrency', route: '    batch: { concurrency: 0 }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.batch\.concurrency/m },
    { desc: 'batch: too many requests allowed', route: '    batch: { maxRequests: 5000 }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.batch\.maxRequests/m },
    { desc: 'batch: unknown key', route: '    batch: { parallel: 3 }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.batch.*parallel/m },
    { desc: 'batch: bad inherited header name', route: '    batch: { inheritHeaders: ["a b"] }', error: /^\/v\/gateway\.yaml:8 routes\[0\]\.batch\.inheritHeaders/m },
    { desc: 'batch: rewrite', route: '    rewrite: { stripPrefix: /r }\n    batch: {}', error: /routes\[0\]\.rewrite: rewrite does not apply to batch routes/ },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await loadConfig('/v/gateway.yaml', { text: doc(c.route, c.more), env: {} });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues.filter((i) => i.severity === 'error').map(formatIssue).join('\n')).toMatch(c.error);
    });
  }

  it('accepts both with their defaults filled in', async () => {
    const r = await loadConfig('/v/gateway.yaml', { text: doc('    async: { upstream: reports }', '  - { name: b, match: { path: /batch }, batch: {} }'), env: {} });
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([]);
    if (!r.ok) return;
    expect(r.loaded.config.routes[0]!.async).toEqual({
      upstream: 'reports', jobsPath: '/jobs', ttl: 3_600_000, timeout: 300_000, maxBodySize: 1_048_576, maxResultSize: 1_048_576, maxPending: 1000,
      resultHeaders: ['content-type', 'content-encoding', 'content-language', 'etag', 'last-modified', 'location'],
    });
    expect(r.loaded.config.routes[1]!.batch).toEqual({ maxRequests: 20, concurrency: 5, maxBodySize: 1_048_576, maxResponseSize: 1_048_576, inheritHeaders: ['authorization', 'cookie', 'x-api-key', 'accept-language'] });
  });
});
