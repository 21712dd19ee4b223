import { describe } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';

describe('transform config', () => {
  policyConfigCases('transform', [
    { desc: 'an empty config', config: '{}' },
    { desc: 'every operation', config: '{ request: { headers: { set: { x-a: "${request.id}" }, remove: [x-b], rename: { x-c: x-d }, add: { x-e: f } }, query: { remove: [k], rename: { q: s }, set: { a: b }, add: { c: d } }, body: [ { set: /a, value: 1 }, { remove: /b }, { rename: /c, to: d }, { move: /e, to: /f }, { wrap: w }, { unwrap: /w } ], maxBodySize: 64kb }, response: { body: [ { unwrap: /data } ] } }' },
    { desc: 'an unknown body operation', config: '{ request: { body: [ { copy: /a } ] } }', error: /transform\.request\.body\[0\]/ },
    { desc: 'a pointer without a leading slash', config: '{ request: { body: [ { remove: a } ] } }', error: /transform\.request\.body\[0\]/ },
    { desc: 'a bad header name', config: '{ response: { headers: { set: { "bad header": x } } } }', error: /transform\.response\.headers\.set/ },
    { desc: 'an unknown section', config: '{ upstream: {} }', error: /transform\.upstream: unknown key/ },
    ...(['rename', 'set', 'add'] as const).flatMap((op) => [
      { desc: `an empty query parameter name in ${op}`, config: `{ request: { query: { ${op}: { "": x } } } }`, error: new RegExp(`^/tmp/gateway\\.yaml:6 routes\\[0\\]\\.policies\\[0\\]\\.transform\\.request\\.query\\.${op}\\.: an empty key is not allowed \\(keys must match \\^\\.\\+\\$\\)$`) },
      { desc: `a query parameter name with a line break in ${op}`, config: `{ request: { query: { ${op}: { "a\\nb": x } } } }`, error: new RegExp(`transform\\.request\\.query\\.${op}\\.a\\nb: unknown key`) },
      { desc: `any other query parameter name in ${op}`, config: `{ request: { query: { ${op}: { "a b[]": x, "é": y } } } }` },
    ]),
  ]);
});
