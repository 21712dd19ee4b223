import { describe, expect, it } from 'vitest';
import { compileIpRules, type IpVerdict } from './rules.js';

describe('ip-filter rules', () => {
  const rules = compileIpRules(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32'], ['10.6.0.0/16', '2001:db8:bad::/48']);
  const denyOnly = compileIpRules([], ['203.0.113.0/24', '::1']);
  const cases: [desc: string, r: typeof rules, ip: string, want: IpVerdict][] = [
    ['an address in an allowed block', rules, '10.1.2.3', 'allowed'],
    ['an allowed single address', rules, '192.0.2.7', 'allowed'],
    ['its neighbour', rules, '192.0.2.8', 'not-allowed'],
    ['a denied block inside an allowed one (deny wins)', rules, '10.6.1.1', 'denied'],
    ['an IPv6 address in an allowed block', rules, '2001:db8:1::5', 'allowed'],
    ['an IPv6 address in a denied block', rules, '2001:db8:bad::5', 'denied'],
    ['an IPv6 address outside', rules, '2001:db9::1', 'not-allowed'],
    ['an IPv4-mapped IPv6 address under an IPv4 allow rule', rules, '::ffff:10.1.2.3', 'allowed'],
    ['an IPv4-mapped IPv6 address under an IPv4 deny rule', rules, '::ffff:10.6.0.9', 'denied'],
    ['an IPv4-mapped IPv6 address outside', rules, '::ffff:172.16.0.1', 'not-allowed'],
    ['not an address', rules, 'unknown', 'unparseable'],
    ['an address with a port', rules, '10.1.2.3:8080', 'unparseable'],
    ['no address at all', rules, '', 'unparseable'],
    ['deny only: a denied address', denyOnly, '203.0.113.9', 'denied'],
    ['deny only: the mapped form of a denied address', denyOnly, '::ffff:203.0.113.9', 'denied'],
    ['deny only: IPv6 loopback', denyOnly, '::1', 'denied'],
    ['deny only: anything else', denyOnly, '198.51.100.1', 'allowed'],
    ['deny only: not an address is still refused', denyOnly, 'garbage', 'unparseable'],
  ];
  for (const [desc, r, ip, want] of cases) {
    it(`${desc}: ${ip || '(empty)'} → ${want}`, () => {
      expect(r.verdict(ip)).toBe(want);
    });
  }
});
