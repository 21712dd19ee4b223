import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/source.js';

const base = (upstreams: string, routes = '  - { name: r, match: { path: /r }, upstream: u }') =>
  `version: 1\nlisteners: [ { name: p, port: 0 } ]\nupstreams:\n${upstreams}\nroutes:\n${routes}\n`;

async function issues(yaml: string): Promise<string[]> {
  const r = await loadConfig('/tmp/gantry-schema-test.yaml', { text: yaml });
  return r.ok ? r.loaded.warnings.map(formatIssue) : r.issues.map(formatIssue);
}

/** The resilience schema: valid configs load, each invalid one names its line and path. */
describe('upstream and route resilience config', () => {
  const cases: { desc: string; yaml: string; want: RegExp | null }[] = [
    {
      desc: 'every option together',
      yaml: base(`  u:
    targets: [ { url: "http://127.0.0.1:1", weight: 2 }, "http://127.0.0.1:2" ]
    balance: weighted
    healthCheck: { path: /health, interval: 5s, timeout: 1s, expect: [200-299, 304], healthyAfter: 2, unhealthyAfter: 3 }
    outlierDetection: { consecutiveErrors: 5, baseEjection: 10s, maxEjection: 1m }
    circuitBreaker: { failureRatio: 0.5, minRequests: 20, window: 10s, openFor: 15s, halfOpenRequests: 3 }
    retries: { attempts: 2, on: [connect-error, 503], backoff: 25ms, budget: 0.2 }
    timeouts: { connect: 1s, response: 10s, total: 30s }
    maxConcurrent: 100
    queue: { size: 50, timeout: 500ms }
    sticky: { cookie: pin, ttl: 1h }
  v2: { targets: [ "http://127.0.0.1:3" ] }`, `  - { name: r, match: { path: /r }, upstream: u, deadline: 800ms, retries: { methods: [GET, POST] }, mirror: { upstream: v2, percent: 5 }, fallback: { upstream: v2 } }
  - { name: s, match: { path: /s }, split: { to: [ { upstream: u, weight: 9 }, { upstream: v2, weight: 1 } ], override: { header: x-canary }, stickyBy: consumer } }`),
      want: null,
    },
    { desc: 'unknown balancer', yaml: base('  u: { targets: [ "http://127.0.0.1:1" ], balance: random }'), want: /:4 upstreams\.u\.balance: must be one of/ },
    { desc: 'bad hashOn', yaml: base('  u: { targets: [ "http://127.0.0.1:1" ], balance: consistent-hash, hashOn: "query:x" }'), want: /upstreams\.u\.hashOn: must match/ },
    { desc: 'ratio above 1', yaml: base('  u: { targets: [ "http://127.0.0.1:1" ], circuitBreaker: { failureRatio: 2 } }'), want: /circuitBreaker\.failureRatio: must be <= 1/ },
    { desc: 'unknown retry condition', yaml: base('  u: { targets: [ "http://127.0.0.1:1" ], retries: { on: [418] } }'), want: /retries\.on\[0\]/ },
    { desc: 'unknown key', yaml: base('  u: { targets: [ "http://127.0.0.1:1" ], retries: { attemps: 2 } }'), want: /unknown key 'attemps' \(did you mean 'attempts'\?\)/ },
    { desc: 'no target source', yaml: base('  u: { balance: weighted }'), want: /upstreams\.u: upstream needs targets/ },
    { desc: 'two target sources', yaml: base('  u: { targets: [ "http://127.0.0.1:1" ], file: { path: t.yaml } }'), want: /use one target source/ },
    { desc: 'split to an unknown upstream', yaml: base('  u: { targets: [ "http://127.0.0.1:1" ] }', '  - { name: r, match: { path: /r }, split: [ { upstream: u, weight: 1 }, { upstream: nope, weight: 1 } ] }'), want: /routes\[0\]\.split\[1\]\.upstream: unknown upstream 'nope'/ },
    { desc: 'fallback with both forms', yaml: base('  u: { targets: [ "http://127.0.0.1:1" ] }', '  - { name: r, match: { path: /r }, upstream: u, fallback: { upstream: u, static: { status: 503 } } }'), want: /fallback needs exactly one of static, upstream/ },
    { desc: 'deadline on a static route', yaml: base('  u: { targets: [ "http://127.0.0.1:1" ] }', '  - { name: r, match: { path: /r }, static: { status: 200 }, deadline: 1s }'), want: /routes\[0\]\.deadline: deadline applies to routes with upstream/ },
    { desc: 'weights with round-robin warn', yaml: base('  u: { targets: [ { url: "http://127.0.0.1:1", weight: 3 } ] }'), want: /warning: round-robin ignores target weights/ },
  ];
  it.each(cases)('$desc', async ({ yaml, want }) => {
    const got = await issues(yaml);
    if (want === null) expect(got).toEqual([]);
    else expect(got.join('\n')).toMatch(want);
  });
});
