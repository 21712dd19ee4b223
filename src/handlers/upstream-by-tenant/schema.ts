import { Type, type Static } from '@sinclair/typebox';
import { Name } from '../../config/types.js';

/**
 * Route target `upstreamByTenant:`: the request's tenant picks the upstream.
 *
 * @example
 *   upstreamByTenant:
 *     tenants: { acme: acme-pool, globex: globex-pool }
 *     default: shared-pool
 */
export const UpstreamByTenantSchema = Type.Object(
  {
    tenants: Type.Record(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), Name(), { additionalProperties: false, minProperties: 1, description: 'Upstream name by tenant.' }),
    default: Type.Optional(Name({ description: 'Upstream for tenants not listed and requests without a tenant; without it those get 403 / 400.' })),
  },
  { additionalProperties: false, description: 'Proxy to the upstream of the request\'s tenant (dedicated backends per tenant).' },
);

export type UpstreamByTenantConfig = Static<typeof UpstreamByTenantSchema>;
