import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { writeTempConfig } from '../../test/helpers.js';
import { diff } from './diff.js';

const sink = () => {
  let text = '';
  const w = new Writable({ write: (c: Buffer, _e, cb) => ((text += c.toString()), cb()) });
  return { w, text: () => text };
};

const cfg = (upstreams: string, routes: string, extra = '') => `version: 1
listeners: [ { name: public, port: 0 } ]
${extra}upstreams:
${upstreams}routes:
${routes}`;

const UP = '  app: { targets: [ "http://127.0.0.1:7001", "http://127.0.0.1:7002" ] }\n';
const R_A = '  - { name: a, match: { path: /a }, upstream: app }\n';
const R_B = '  - { name: b, match: { path: "/b/:id" }, upstream: app }\n';

const cases: { desc: string; old: string; new: string; code: number; want: RegExp[] }[] = [
  { desc: 'no changes', old: cfg(UP, R_A), new: cfg(UP, R_A), code: 0, want: [/^no semantic changes$/m] },
  { desc: 'route added and removed', old: cfg(UP, R_A), new: cfg(UP, R_B), code: 0, want: [/^\+ route b$/m, /^- route a$/m] },
  {
    desc: 'route match and policies changed; limits show old → new',
    old: cfg(UP, '  - { name: a, match: { path: /a }, upstream: app, policies: [ { rate-limit: { limit: 10, window: 1m } } ] }\n'),
    new: cfg(UP, '  - { name: a, match: { path: /a/* }, upstream: app, policies: [ { rate-limit: { limit: 20, window: 1m } } ] }\n'),
    code: 0,
    want: [/^~ route a$/m, /match: \{"path":"\/a"\} → \{"path":"\/a\/\*"\}/, /policies - rate-limit \{"limit":10/, /policies \+ rate-limit \{"limit":20/],
  },
  {
    desc: 'upstream targets added, removed, reweighted',
    old: cfg(UP, R_A),
    new: cfg('  app: { targets: [ { url: "http://127.0.0.1:7001", weight: 5 }, "http://127.0.0.1:7003" ] }\n', R_A),
    code: 0,
    want: [/^~ upstream app$/m, /\+ target http:\/\/127\.0\.0\.1:7003 \(weight 1\)/, /- target http:\/\/127\.0\.0\.1:7002/, /target http:\/\/127\.0\.0\.1:7001 weight 1 → 5/],
  },
  {
    desc: 'a new route that shadows an existing one exits 1',
    old: cfg(UP, R_A + R_B),
    new: cfg(UP, '  - { name: grab, match: { path: /b/* }, upstream: app, priority: 1 }\n' + R_A + R_B),
    code: 1,
    want: [/^\+ route grab$/m, /^! route shadowed b$/m, /by route 'grab'/, /1 would shadow a route/],
  },
  {
    desc: 'global policies and settings',
    old: cfg(UP, R_A),
    new: cfg(UP, R_A, 'policies: [ { request-id: {} } ]\nlog: { level: warn }\n'),
    code: 0,
    want: [/^~ policies \(global\)$/m, /\+ request-id/, /^~ setting log$/m],
  },
];

describe('gantry diff', () => {
  for (const c of cases) {
    it(c.desc, async () => {
      const out = sink();
      const code = await diff(writeTempConfig(c.old), writeTempConfig(c.new), out.w, out.w);
      for (const re of c.want) expect(out.text()).toMatch(re);
      expect(code).toBe(c.code);
    });
  }

  it('an invalid config exits 2 with its errors', async () => {
    const out = sink();
    const code = await diff(writeTempConfig(cfg(UP, R_A)), writeTempConfig(cfg(UP, '  - { name: a, match: { path: /a }, upstream: nope }\n')), out.w, out.w);
    expect(code).toBe(2);
    expect(out.text()).toMatch(/unknown upstream 'nope'/);
  });
});
