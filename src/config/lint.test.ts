import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';
import { formatIssue } from './source.js';
import { writeTempConfig } from '../../test/helpers.js';

const base = `version: 1
listeners: [ { name: public, port: 0 } ]
`;
const app = 'upstreams: { app: { targets: [ "http://127.0.0.1:7001" ] } }\n';

async function warnings(yaml: string): Promise<string[]> {
  const r = await loadConfig(writeTempConfig(base + (yaml.includes('upstreams:') ? '' : app) + yaml));
  if (!r.ok) throw new Error(r.issues.map(formatIssue).join('\n'));
  return r.loaded.warnings.map(formatIssue);
}

/** One case per lint rule, plus configs that must stay quiet. */
const cases: { desc: string; yaml: string; want: RegExp | null }[] = [
  {
    desc: 'a later route with the same match is unreachable',
    yaml: 'routes:\n  - { name: a, match: { path: /x }, upstream: app }\n  - { name: b, match: { path: /x, methods: [GET] }, upstream: app }\n',
    want: /routes\[1\]: warning: route 'b' can never match: route 'a' takes every request it would \(same match, declared first\)/,
  },
  {
    desc: 'a higher-priority prefix shadows a more specific path',
    yaml: 'routes:\n  - { name: all, match: { path: /api/* }, upstream: app, priority: 10 }\n  - { name: users, match: { path: "/api/users/:id" }, upstream: app }\n',
    want: /route 'users' can never match: route 'all' .*priority 10 > 0, path \/api\/\* covers \/api\/users\/:id/,
  },
  {
    desc: 'a catch-all shadows regex routes',
    yaml: 'routes:\n  - { name: all, match: { path: /* }, upstream: app }\n  - { name: legacy, match: { pathRegex: "^/v[0-9]+/" }, upstream: app }\n',
    want: /route 'legacy' can never match: route 'all'.*catch-all/,
  },
  {
    desc: 'a versioned route does not shadow another version of the same path',
    yaml: 'routes:\n  - { name: v1, match: { path: /api/*, version: "1" }, upstream: app }\n  - { name: v2, match: { path: /api/*, version: "2" }, upstream: app }\n',
    want: null,
  },
  {
    desc: 'a header-conditional route does not shadow',
    yaml: 'routes:\n  - { name: a, match: { path: /x, headers: { x-v: "2" } }, upstream: app }\n  - { name: b, match: { path: /x }, upstream: app }\n',
    want: null,
  },
  {
    desc: 'a more specific path is not shadowed by a prefix of equal priority',
    yaml: 'routes:\n  - { name: all, match: { path: /api/* }, upstream: app }\n  - { name: users, match: { path: /api/users }, upstream: app }\n',
    want: null,
  },
  {
    desc: 'narrower methods do not shadow',
    yaml: 'routes:\n  - { name: a, match: { path: /x, methods: [GET] }, upstream: app }\n  - { name: b, match: { path: /x }, upstream: app }\n',
    want: null,
  },
  {
    desc: 'an upstream no route uses',
    yaml: 'upstreams: { app: { targets: [ "http://127.0.0.1:7001" ] }, spare: { targets: [ "http://127.0.0.1:7009" ] } }\nroutes:\n  - { name: a, match: { path: /x }, upstream: app }\n',
    want: /upstreams\.spare: warning: upstream 'spare' is not used by any route/,
  },
  {
    desc: 'an unused upstream named like a route',
    yaml: 'upstreams: { app: { targets: [ "http://127.0.0.1:7001" ] }, a: { targets: [ "http://127.0.0.1:7009" ] } }\nroutes:\n  - { name: a, match: { path: /x }, upstream: app }\n',
    want: /upstreams\.a: warning: upstream 'a' is not used by any route/,
  },
  {
    desc: 'upstreams used only by a split, a mirror and a fallback',
    yaml: 'upstreams: { app: { targets: [ "http://127.0.0.1:7001" ] }, canary: { targets: [ "http://127.0.0.1:7002" ] }, shadow: { targets: [ "http://127.0.0.1:7003" ] }, backup: { targets: [ "http://127.0.0.1:7004" ] } }\nroutes:\n  - { name: a, match: { path: /x }, split: [ { upstream: app, weight: 9 }, { upstream: canary, weight: 1 } ], mirror: { upstream: shadow, percent: 5 }, fallback: { upstream: backup } }\n',
    want: null,
  },
  {
    desc: "an upstream's policies where no route targets it with upstream:",
    yaml: 'upstreams: { app: { targets: [ "http://127.0.0.1:7001" ] }, canary: { targets: [ "http://127.0.0.1:7002" ], policies: [ { request-id: {} } ] } }\nroutes:\n  - { name: a, match: { path: /x }, split: [ { upstream: app, weight: 9 }, { upstream: canary, weight: 1 } ] }\n',
    want: /upstreams\.canary\.policies: warning: upstream 'canary' has policies, but no route targets it with 'upstream: canary'/,
  },
  {
    desc: "an upstream's policies on an upstream a route targets",
    yaml: 'upstreams: { app: { targets: [ "http://127.0.0.1:7001" ], policies: [ { request-id: {} } ] } }\nroutes:\n  - { name: a, match: { path: /x }, upstream: app }\n',
    want: null,
  },
  {
    desc: 'cache before authentication',
    yaml:
      'consumers:\n  - { id: c1, apiKeys: [ "sha256:' + 'a'.repeat(64) + '" ] }\nroutes:\n  - name: a\n    match: { path: /x }\n    upstream: app\n    policies:\n      - cache: { ttl: 30s }\n      - api-key: {}\n',
    want: /routes\[0\]\.policies\[0\]: warning: route 'a': cache runs before api-key, so a cached answer skips authentication/,
  },
  {
    desc: 'cache after authentication is fine',
    yaml:
      'consumers:\n  - { id: c1, apiKeys: [ "sha256:' + 'a'.repeat(64) + '" ] }\nroutes:\n  - name: a\n    match: { path: /x }\n    upstream: app\n    policies:\n      - api-key: {}\n      - cache: { ttl: 30s }\n',
    want: null,
  },
  {
    desc: 'rate limit by consumer without authentication',
    yaml: 'routes:\n  - name: a\n    match: { path: /x }\n    upstream: app\n    policies:\n      - rate-limit: { limit: 10, window: 1m, by: consumer }\n',
    want: /routes\[0\]\.policies\[0\]\.rate-limit\.by: warning: route 'a': rate-limit by consumer but the route has no authentication policy/,
  },
  {
    desc: 'rate limit by consumer behind a global auth policy is fine',
    yaml:
      'consumers:\n  - { id: c1, apiKeys: [ "sha256:' + 'a'.repeat(64) + '" ] }\npolicies:\n  - api-key: {}\nroutes:\n  - name: a\n    match: { path: /x }\n    upstream: app\n    policies:\n      - rate-limit: { limit: 10, window: 1m, by: consumer }\n',
    want: null,
  },
  {
    desc: 'admin listener beyond loopback',
    yaml: 'admin: { host: 0.0.0.0, port: 0, token: "0123456789abcdef0123" }\nroutes:\n  - { name: a, match: { path: /x }, upstream: app }\n',
    want: /admin\.host: warning: admin listener binds 0\.0\.0\.0, beyond loopback/,
  },
  {
    desc: 'a short admin token',
    yaml: 'admin: { port: 0, token: "short" }\nroutes:\n  - { name: a, match: { path: /x }, upstream: app }\n',
    want: /admin\.token: warning: admin token is shorter than 16 characters/,
  },
  {
    desc: 'a path regex with a nested repetition can backtrack catastrophically',
    yaml: 'routes:\n  - { name: r, match: { pathRegex: "^/(a+)+$" }, upstream: app }\n',
    want: /routes\[0\]\.match\.pathRegex: warning: regex "\^\/\(a\+\)\+\$" nests repetitions and can backtrack/,
  },
  {
    desc: 'a header regex matcher with a nested repetition',
    yaml: 'routes:\n  - { name: r, match: { path: /x, headers: { x-id: { regex: "^(\\\\w+\\\\s?)*$" } } }, upstream: app }\n',
    want: /routes\[0\]\.match\.headers\.x-id\.regex: warning: regex .* nests repetitions/,
  },
  {
    desc: 'a rewrite pattern with a nested repetition',
    yaml: 'routes:\n  - { name: r, match: { path: /x/* }, upstream: app, rewrite: { replace: { pattern: "(x+x+)+y", with: "/" } } }\n',
    want: /routes\[0\]\.rewrite\.replace\.pattern: warning: regex .* nests repetitions/,
  },
  {
    desc: 'ordinary route regexes stay quiet',
    yaml: 'routes:\n  - { name: r, match: { pathRegex: "^/v[0-9]+/users/([0-9]+)$", query: { q: { regex: "^[a-z]{1,20}$" } } }, upstream: app, rewrite: { replace: { pattern: "^/v[0-9]+", with: "" } } }\n',
    want: null,
  },
];

describe('lint warnings', () => {
  for (const c of cases) {
    it(c.desc, async () => {
      const w = await warnings(c.yaml);
      if (c.want === null) expect(w).toEqual([]);
      else expect(w.join('\n')).toMatch(c.want);
    });
  }

  it('an empty admin token is an error, not a warning', async () => {
    const r = await loadConfig(writeTempConfig(base + app + 'admin: { port: 0, token: "" }\nroutes:\n  - { name: a, match: { path: /x }, upstream: app }\n'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map(formatIssue).join('\n')).toMatch(/admin\.token: the admin listener needs a bearer token/);
  });
});
