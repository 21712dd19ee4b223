import { expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { formatIssue } from '../src/config/source.js';

/**
 * Table-driven config checks for one policy: each case is the policy's config (YAML flow
 * style) on line 6 of a one-route config, and either no error or a pattern the formatted
 * issues must match (file:line path: message). `file` is where the config is said to live
 * (relative paths in it resolve against its folder).
 *
 * @example
 *   policyConfigCases('cache', [{ desc: 'ttl', config: '{ ttl: 30s }' }, { desc: 'bad', config: '{ ttl: soon }', error: /cache\.ttl: must be a duration/ }]);
 */
export function policyConfigCases(policy: string, cases: { desc: string; config: string; error?: RegExp }[], options: { file?: string } = {}): void {
  for (const c of cases) {
    it(`${c.error ? 'rejects' : 'accepts'} ${c.desc}`, async () => {
      const text = `version: 1
listeners: [ { name: public, port: 0 } ]
routes:
  - name: r
    match: { path: /r }
    policies: [ { ${policy}: ${c.config} } ]
    static: { body: ok }
`;
      const r = await loadConfig(options.file ?? '/tmp/gateway.yaml', { text });
      const issues = r.ok ? [] : r.issues.map(formatIssue);
      if (c.error) expect(issues.join('\n')).toMatch(c.error);
      else expect(issues).toEqual([]);
    });
  }
}
