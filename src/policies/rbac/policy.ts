import { Type, type Static } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { denied } from '../auth/authz.js';
import { AUTHZ_RESULTS, counters } from '../auth/counters.js';

/**
 * `rbac`: required scopes (or roles: whatever the auth policy mapped into the consumer's
 * scopes) per route and per method. Runs after an authentication policy.
 *
 * @example
 *   - rbac:
 *       scopes: { anyOf: [orders:read, orders:admin] }
 *       methods: { POST: { allOf: [orders:write] }, DELETE: { allOf: [orders:admin] } }
 */
const Requirement = Type.Object(
  {
    anyOf: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'At least one of these scopes.' })),
    allOf: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Every one of these scopes.' })),
  },
  { additionalProperties: false, minProperties: 1, description: 'Scopes required: anyOf, allOf, or both (both must hold).' },
);

export const schema = Type.Object(
  {
    scopes: Type.Optional(Requirement),
    methods: Type.Record(Type.String(), Requirement, {
      default: {},
      propertyNames: { pattern: '^[A-Z]+$' },
      description: 'Requirements for these methods, instead of `scopes` (HEAD follows GET unless listed).',
    }),
  },
  { additionalProperties: false, description: 'Required scopes or roles.' },
);

type Req = Static<typeof Requirement>;
type Check = (scopes: readonly string[]) => boolean;

/** A requirement compiled to a predicate over the consumer's scopes. */
export function compileRequirement(r: Req): Check {
  const any = r.anyOf;
  const all = r.allOf;
  return (scopes) => (any === undefined || any.some((s) => scopes.includes(s))) && (all === undefined || all.every((s) => scopes.includes(s)));
}

function describe(r: Req): string {
  return [...(r.allOf ?? []), ...(r.anyOf ?? [])].join(' ');
}

export default definePolicy({
  name: 'rbac',
  description: 'Requires scopes or roles (anyOf / allOf) per route and method.',
  schema,
  create(config, deps) {
    const count = counters('rbac', deps.routeName, AUTHZ_RESULTS);
    const byMethod = new Map<string, { check: Check; scope: string }>();
    for (const [m, r] of Object.entries(config.methods)) byMethod.set(m, { check: compileRequirement(r), scope: describe(r) });
    if (!byMethod.has('HEAD') && byMethod.has('GET')) byMethod.set('HEAD', byMethod.get('GET')!);
    const fallback = config.scopes ? { check: compileRequirement(config.scopes), scope: describe(config.scopes) } : undefined;
    return {
      request: function rbac(ctx: RequestContext) {
        const rule = byMethod.get(ctx.method) ?? fallback;
        if (rule === undefined) return undefined;
        const c = ctx.consumer;
        if (c !== undefined && rule.check(c.scopes ?? [])) {
          count.allowed.value++;
          return undefined;
        }
        count.denied.value++;
        // RFC 6750 §3.1: insufficient_scope names the scope the request needed.
        return denied(ctx, 'The credential lacks a scope this resource requires.', `Bearer realm="gantry", error="insufficient_scope", scope="${rule.scope}"`);
      },
    };
  },
});
