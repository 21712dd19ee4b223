import type { RequestContext } from '../../pipeline/context.js';
import type { Reply } from '../../pipeline/policy.js';
import { problemReply } from './authenticator.js';

/**
 * Replies of the authorization policies (rbac, abac, opa). A request without an
 * authenticated consumer, or with the anonymous one, gets 401: authenticating could change
 * the answer. An authenticated consumer that is not allowed gets 403.
 */
export function denied(ctx: RequestContext, detail: string, forbiddenChallenge?: string): Reply {
  const c = ctx.consumer as { anonymous?: boolean } | undefined;
  if (c === undefined || c.anonymous === true) {
    return problemReply(ctx, 'GW_ERR_UNAUTHORIZED', 'Authentication is required for this resource.', ['www-authenticate', 'Bearer realm="gantry"']);
  }
  return problemReply(ctx, 'GW_ERR_FORBIDDEN', detail, forbiddenChallenge ? ['www-authenticate', forbiddenChallenge] : undefined);
}

/** The consumer as authorization inputs see it (a plain object; no header strings). */
export function consumerView(ctx: RequestContext): Record<string, unknown> | null {
  const c = ctx.consumer as (RequestContext['consumer'] & { anonymous?: boolean }) | undefined;
  if (c === undefined) return null;
  return { id: c.id, tenant: c.tenant ?? null, tier: c.tier ?? null, scopes: c.scopes ?? [], anonymous: c.anonymous === true };
}
