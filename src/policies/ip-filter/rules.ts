import { BlockList, isIP } from 'node:net';
import { parseCidr } from '../../config/validate.js';

/** The outcome of matching one client address against an ip-filter. */
export type IpVerdict = 'allowed' | 'denied' | 'not-allowed' | 'unparseable';

/**
 * Allow and deny lists compiled into `node:net` BlockLists once at load. A BlockList
 * compares IPv4 rules with IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, what a dual-stack
 * socket reports for an IPv4 peer) and the other way round, so one rule covers both forms.
 *
 * @example
 *   const rules = compileIpRules(['10.0.0.0/8'], ['10.6.6.6']);
 *   rules.verdict('10.1.2.3');        // 'allowed'
 *   rules.verdict('::ffff:10.6.6.6'); // 'denied'
 *   rules.verdict('192.0.2.1');       // 'not-allowed'
 */
export interface IpRules {
  verdict(ip: string): IpVerdict;
}

export function compileIpRules(allow: readonly string[], deny: readonly string[]): IpRules {
  const allowList = allow.length > 0 ? blockList(allow) : null;
  const denyList = deny.length > 0 ? blockList(deny) : null;
  return {
    verdict(ip) {
      const v = isIP(ip);
      // Not an address (a forwarded hop such as `unknown` or `1.2.3.4:80`): nothing can be
      // decided about it, so it is refused rather than let through a deny list.
      if (v === 0) return 'unparseable';
      const family = v === 4 ? 'ipv4' : 'ipv6';
      if (denyList !== null && denyList.check(ip, family)) return 'denied';
      if (allowList !== null && !allowList.check(ip, family)) return 'not-allowed';
      return 'allowed';
    },
  };
}

function blockList(list: readonly string[]): BlockList {
  const bl = new BlockList();
  for (const s of list) {
    // The schema has checked every entry (config/validate.ts `cidr`); a bad one here is a bug.
    const c = parseCidr(s);
    if (c === undefined) throw new Error(`'${s}' is not an IP address or CIDR block`);
    bl.addSubnet(c.address, c.prefix, c.family);
  }
  return bl;
}
