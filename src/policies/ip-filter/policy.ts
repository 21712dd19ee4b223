import { Buffer } from 'node:buffer';
import { definePolicy } from '../../pipeline/policy.js';
import { PROBLEM_CONTENT_TYPE, problemFor } from '../../errors.js';
import { compileIpRules } from './rules.js';
import { schema } from './schema.js';

const CODE = 'GW_ERR_IP_FORBIDDEN';

/**
 * `ip-filter`: admits or refuses a request by its client address (`ctx.clientIp`: the
 * socket peer, or the first untrusted X-Forwarded-For hop when the peer is one of
 * `server.trustedProxies`). Deny wins over allow; with an allow list, an address not in
 * it is refused. A refusal is problem+json (RFC 9457), 403 unless `status` says otherwise.
 * Place it first: a refused client should cost nothing else.
 *
 * @example
 *   policies:
 *     - ip-filter: { allow: [10.0.0.0/8, "fd00::/8"], deny: [10.0.66.0/24] }
 */
export default definePolicy({
  name: 'ip-filter',
  description: 'Admits or refuses requests by client address: allow and deny lists of IPs and CIDR blocks.',
  schema,
  create(config) {
    const rules = compileIpRules(config.allow, config.deny);
    const status = config.status;
    return {
      request: function ipFilter(ctx) {
        const verdict = rules.verdict(ctx.clientIp);
        if (verdict === 'allowed') return undefined;
        ctx.errorCode = CODE;
        const problem = problemFor(CODE, detailOf(verdict, ctx.clientIp), ctx.id);
        problem.status = status;
        problem.instance = ctx.path;
        return {
          status,
          headers: ['content-type', PROBLEM_CONTENT_TYPE, 'cache-control', 'no-store'],
          body: Buffer.from(JSON.stringify(problem)),
        };
      },
    };
  },
});

function detailOf(verdict: 'denied' | 'not-allowed' | 'unparseable', ip: string): string {
  if (verdict === 'unparseable') return 'The client address could not be read.';
  return verdict === 'denied' ? `Client address ${ip} is denied here.` : `Client address ${ip} is not in the allow list.`;
}
