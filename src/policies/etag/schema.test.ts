import { describe } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';

describe('etag config', () => {
  policyConfigCases('etag', [
    { desc: 'defaults', config: '{}' },
    { desc: 'every option', config: '{ maxSize: 256kb, contentTypes: [application/json, text/*] }' },
    { desc: 'a bad size', config: '{ maxSize: big }', error: /etag\.maxSize: must be a size/ },
    { desc: 'an unknown key', config: '{ weak: true }', error: /etag\.weak: unknown key/ },
  ]);
});
