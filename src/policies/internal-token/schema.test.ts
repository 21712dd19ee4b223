import { describe } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';

describe('internal-token config', () => {
  policyConfigCases('internal-token', [
    { desc: 'a key file and defaults', config: '{ key: signing.pem }' },
    { desc: 'a custom header', config: '{ key: signing.pem, header: X-Identity }' },
    { desc: 'a header name that is not a token', config: '{ key: signing.pem, header: "bad header" }', error: /gateway\.yaml:6 .*internal-token\.header: must match / },
    { desc: 'no key', config: '{}', error: /internal-token: must have required property 'key'|internal-token\.key/ },
  ]);
});
