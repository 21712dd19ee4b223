import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/source.js';

/** `store:` config: valid forms and precise errors. */
const base = (store: string) => `version: 1
listeners: [ { name: public, port: 0 } ]
${store}
routes:
  - { name: r, match: { path: / }, static: { body: ok } }
`;

describe('store config', () => {
  const cases: { desc: string; store: string; error?: RegExp; check?: (c: Record<string, unknown>) => void }[] = [
    { desc: 'absent means memory', store: '', check: (c) => expect(c.store).toBeUndefined() },
    { desc: 'memory', store: 'store: { kind: memory }', check: (c) => expect(c.store).toMatchObject({ kind: 'memory' }) },
    {
      desc: 'redis with defaults filled in and durations converted',
      store: 'store: { kind: redis, url: "redis://10.0.0.5:6380/2", timeout: 250ms }',
      check: (c) => expect(c.store).toEqual({ kind: 'redis', url: 'redis://10.0.0.5:6380/2', keyPrefix: 'gantry:', timeout: 250, maxBackoff: 2000 }),
    },
    { desc: 'unknown kind', store: 'store: { kind: etcd }', error: /gateway\.yaml:3 store\.kind: must be one of: "memory", "redis"/ },
    { desc: 'not a redis url', store: 'store: { kind: redis, url: "http://x" }', error: /store\.url: must match/ },
    { desc: 'unknown key', store: 'store: { kind: redis, prefix: x }', error: /store\.prefix: unknown key 'prefix'/ },
    { desc: 'bad duration', store: 'store: { kind: redis, timeout: soon }', error: /store\.timeout: must be a duration/ },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const r = await loadConfig('/tmp/gateway.yaml', { text: base(c.store) });
      if (c.error) {
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.issues.map(formatIssue).join('\n')).toMatch(c.error);
      } else {
        expect(r.ok).toBe(true);
        if (r.ok) c.check?.(r.loaded.config as unknown as Record<string, unknown>);
      }
    });
  }
});
