import { describe } from 'vitest';
import { policyConfigCases } from '../../../test/policy-config.js';

describe('ip-filter config', () => {
  policyConfigCases('ip-filter', [
    { desc: 'an allow list', config: '{ allow: [10.0.0.0/8, 192.0.2.1, "2001:db8::/32", "::1"] }' },
    { desc: 'a deny list with a status', config: '{ deny: [203.0.113.0/24], status: 404 }' },
    { desc: 'a bad CIDR prefix', config: '{ allow: [10.0.0.0/33] }', error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.ip-filter\.allow\[0\]: must be an IP address or CIDR block/ },
    { desc: 'a host name', config: '{ deny: [10.0.0.1, example.com] }', error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.ip-filter\.deny\[1\]: must be an IP address or CIDR block/ },
    { desc: 'a bad IPv6 block', config: '{ allow: ["2001:db8::/129"] }', error: /ip-filter\.allow\[0\]: must be an IP address or CIDR block/ },
    { desc: 'no rule at all', config: '{}', error: /gateway\.yaml:6 routes\[0\]\.policies\[0\]\.ip-filter: needs an allow or a deny list/ },
    { desc: 'a status outside 4xx/5xx', config: '{ deny: [10.0.0.1], status: 302 }', error: /ip-filter\.status: must be >= 400/ },
    { desc: 'an unknown key', config: '{ deny: [10.0.0.1], block: [10.0.0.2] }', error: /ip-filter\.block: unknown key/ },
  ]);
});
