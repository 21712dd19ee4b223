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
  ]);
});
