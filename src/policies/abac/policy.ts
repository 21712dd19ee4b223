import { Type } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { denied } from '../auth/authz.js';
import { AUTHZ_RESULTS, counters } from '../auth/counters.js';
import { compileRule, type Rule } from './logic.js';
import { AbacInput } from './input.js';

/**
 * `abac`: attribute-based rules in JSON Logic over the request (method, path, params,
 * headers, query, client IP, time) and its identity (consumer, claims), compiled to a
 * function when the config loads. `deny` is checked first; then `allow` must hold.
 *
 * @example
 *   - abac:
 *       allow: { and: [ { "==": [ { var: params.tenant }, { var: consumer.tenant } ] },
 *                       { cidr: [ { var: ip }, "10.0.0.0/8" ] } ] }
 *       deny:  { "==": [ { var: method }, "DELETE" ] }
 */
export const schema = Type.Object(
  {
    allow: Type.Unknown({ description: 'JSON Logic rule that must hold for the request to pass (see docs/auth.md for the attributes).' }),
    deny: Type.Optional(Type.Unknown({ description: 'JSON Logic rule that refuses the request when it holds, checked before `allow`.' })),
    message: Type.String({ default: 'This request is not allowed.', description: 'Detail of the 403 problem.' }),
  },
  { additionalProperties: false, required: ['allow'] },
);

/** Compiles a rule at load; a bad rule is a config error (checked with its path in consumers/semantics). */
function mustCompile(rule: unknown, field: string): Rule {
  const r = compileRule(rule);
  if (typeof r === 'string') throw new Error(`abac.${field}: ${r}`);
  return r;
}

export default definePolicy({
  name: 'abac',
  description: 'Allows or denies requests with JSON Logic rules over request attributes and identity, compiled at load.',
  schema,
  create(config, deps) {
    const count = counters('abac', deps.routeName, AUTHZ_RESULTS);
    const allow = mustCompile(config.allow, 'allow');
    const deny = config.deny === undefined ? undefined : mustCompile(config.deny, 'deny');
    return {
      request: function abac(ctx: RequestContext) {
        const input = new AbacInput(ctx);
        if ((deny === undefined || !deny(input)) && allow(input)) {
          count.allowed.value++;
          return undefined;
        }
        count.denied.value++;
        return denied(ctx, config.message);
      },
    };
  },
});
