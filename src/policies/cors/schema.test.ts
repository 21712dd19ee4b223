import { describe, expect, it } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';
import { loadConfig } from '../../config/load.js';
import { formatIssue } from '../../config/source.js';

describe('cors config', () => {
  policyConfigCases('cors', [
    { desc: 'defaults', config: '{}' },
    {
      desc: 'every option',
      config:
        '{ origins: [https://app.example.com, "https://*.example.com", "null"], originRegex: ["^https://(a|b)\\\\.example\\\\.org$"], methods: [GET, POST], allowHeaders: [content-type, x-api-key], exposeHeaders: [x-request-id], credentials: true, maxAge: 1h, preflight: true, preflightStatus: 200 }',
    },
    { desc: 'wildcards without credentials', config: '{ origins: ["*"], methods: ["*"], allowHeaders: ["*"], exposeHeaders: ["*"] }' },
    { desc: "'*' with credentials", config: '{ credentials: true }', error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.cors\.credentials: needs listed origins, not '\*'/ },
    { desc: "exposeHeaders '*' with credentials", config: '{ origins: [https://a.example.com], credentials: true, exposeHeaders: ["*"] }', error: /cors\.exposeHeaders: '\*' is a literal name with credentials/ },
    { desc: 'an origin with a path', config: '{ origins: [https://a.example.com/app] }', error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.cors\.origins\[0\]: must be an origin/ },
    { desc: 'a host without a scheme', config: '{ origins: [https://ok.example.com, a.example.com] }', error: /cors\.origins\[1\]: must be an origin/ },
    { desc: 'a wildcard inside a label', config: '{ origins: ["https://api-*.example.com"] }', error: /cors\.origins\[0\]: a wildcard must be a whole leftmost label/ },
    { desc: 'a bad regex', config: '{ originRegex: ["^https://(a"] }', error: /cors\.originRegex\[0\]: is not a valid regular expression/ },
    { desc: 'a bad method', config: '{ methods: ["GET POST"] }', error: /cors\.methods\[0\]: must match/ },
    { desc: 'a bad header name', config: '{ exposeHeaders: ["x request id"] }', error: /cors\.exposeHeaders\[0\]/ },
    { desc: 'a bad maxAge', config: '{ maxAge: forever }', error: /cors\.maxAge: must be a duration/ },
    { desc: 'another preflight status', config: '{ preflightStatus: 202 }', error: /cors\.preflightStatus/ },
    { desc: 'an unknown key', config: '{ allowOrigins: ["*"] }', error: /cors\.allowOrigins: unknown key/ },
  ]);

  it('warns when an authentication policy runs before cors (global policies first), once per entry', async () => {
    const text = `version: 1
listeners: [ { name: public, port: 0 } ]
policies: [ { api-key: {} } ]
routes:
  - { name: a, match: { path: /a }, static: { body: ok }, policies: [ { cors: {} } ] }
  - { name: b, match: { path: /b }, static: { body: ok }, policies: [ { cors: { preflight: false } } ] }
`;
    const r = await loadConfig('/tmp/gateway.yaml', { text });
    expect(r.ok).toBe(true);
    const warnings = r.ok ? r.loaded.warnings.map(formatIssue) : [];
    const cors = warnings.filter((w) => w.includes('cors'));
    expect(cors).toHaveLength(2);
    expect(cors[0]).toMatch(/gateway\.yaml:5 routes\[0\]\.policies\[0\]\.cors: warning: runs after 'api-key': preflights carry no credentials/);
    // preflight: false: no preflight to refuse, but the 401 still goes out without CORS headers.
    expect(cors[1]).toMatch(/gateway\.yaml:6 routes\[1\]\.policies\[0\]\.cors: warning: runs after 'api-key': the answers 'api-key' gives itself carry no CORS headers/);
  });

  it("counts an upstream's policies (between global and route) and warns about cors on a consumer", async () => {
    const text = `version: 1
listeners: [ { name: public, port: 0 } ]
upstreams: { u: { targets: [ "http://127.0.0.1:9" ], policies: [ { jwt: { secret: "0123456789abcdef0123456789abcdef", algorithms: [HS256] } } ] } }
consumers: [ { id: c, policies: [ { cors: {} } ] } ]
routes:
  - { name: a, match: { path: /a }, upstream: u, policies: [ { cors: {} } ] }
`;
    const r = await loadConfig('/tmp/gateway.yaml', { text });
    const warnings = r.ok ? r.loaded.warnings.map(formatIssue).filter((w) => w.includes('cors')) : r.issues.map(formatIssue);
    expect(warnings).toEqual([
      expect.stringMatching(/gateway\.yaml:6 routes\[0\]\.policies\[0\]\.cors: warning: runs after 'jwt'/),
      expect.stringMatching(/gateway\.yaml:4 consumers\[0\]\.policies\[0\]\.cors: warning: a consumer's policies run after authentication/),
    ]);
  });

  it('warns when a policy that answers itself (rate-limit, cache) runs before cors', async () => {
    const text = `version: 1
listeners: [ { name: public, port: 0 } ]
routes:
  - { name: a, match: { path: /a }, static: { body: ok }, policies: [ { rate-limit: { limit: 5, window: 1s } }, { cors: {} } ] }
  - { name: b, match: { path: /b }, static: { body: ok }, policies: [ { cors: {} }, { rate-limit: { limit: 5, window: 1s } } ] }
`;
    const r = await loadConfig('/tmp/gateway.yaml', { text });
    const warnings = r.ok ? r.loaded.warnings.map(formatIssue).filter((w) => w.includes('cors')) : ['not ok'];
    expect(warnings).toEqual([expect.stringMatching(/gateway\.yaml:4 routes\[0\]\.policies\[1\]\.cors: warning: runs after 'rate-limit': the answers 'rate-limit' gives itself carry no CORS headers/)]);
  });
});
