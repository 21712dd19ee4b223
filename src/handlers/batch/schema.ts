import { Type, type Static } from '@sinclair/typebox';
import { Size } from '../../config/types.js';

/** Client headers every sub-request inherits unless it sets them itself. */
export const DEFAULT_INHERIT_HEADERS = ['authorization', 'cookie', 'x-api-key', 'accept-language'];

/**
 * Route target `batch:`: one POST with a JSON array of sub-requests, each run through the
 * gateway's own router and pipeline (see docs/async-batch.md).
 *
 * @example
 *   batch: { maxRequests: 20, concurrency: 5 }
 */
export const BatchSchema = Type.Object(
  {
    maxRequests: Type.Integer({ minimum: 1, maximum: 1000, default: 20, description: 'Most sub-requests in one batch; more → 400 (GW_ERR_BATCH_INVALID).' }),
    concurrency: Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'Sub-requests of one batch in flight at once.' }),
    maxBodySize: Size({ default: '1mb', description: 'Largest batch request body → 413.' }),
    maxResponseSize: Size({ default: '1mb', description: 'Largest body of one sub-response; a larger one becomes a 502 item (GW_ERR_BATCH_RESPONSE_TOO_LARGE).' }),
    inheritHeaders: Type.Array(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), {
      uniqueItems: true,
      default: DEFAULT_INHERIT_HEADERS,
      description: 'Headers of the batch request every sub-request gets unless it sets the same header itself (credentials by default). The forwarding headers (X-Forwarded-*, Forwarded) always come from the batch request.',
    }),
  },
  { additionalProperties: false, description: 'Run a JSON array of sub-requests through the gateway\'s own routes and policies; answer a JSON array of their responses in order (see docs/async-batch.md).' },
);

export type BatchConfig = Static<typeof BatchSchema>;
