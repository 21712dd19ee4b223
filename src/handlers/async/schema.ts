import { Type, type Static } from '@sinclair/typebox';
import { Duration, Name, Size } from '../../config/types.js';

/** Response headers a job keeps with its result by default. */
export const DEFAULT_RESULT_HEADERS = ['content-type', 'content-encoding', 'content-language', 'etag', 'last-modified', 'location'];

/**
 * Route target `async:`: the request is answered `202 Accepted` at once and forwarded to
 * the upstream in the background; its result is kept in the store for `ttl` and read at
 * `GET <jobsPath>/<id>` (see docs/async-batch.md).
 *
 * @example
 *   async: { upstream: reports, jobsPath: /jobs, ttl: 1h, maxPending: 1000 }
 */
export const AsyncSchema = Type.Object(
  {
    upstream: Name({ description: 'Upstream the request is forwarded to (its balancer, retries, breaker and pool apply, and the route\'s `rewrite`/`timeouts`).' }),
    jobsPath: Type.String({
      pattern: '^(/[A-Za-z0-9._~-]+)+$',
      default: '/jobs',
      description: 'Path prefix of the status endpoint: `GET <jobsPath>/<id>` answers the job (same listeners, host and policies as the route).',
    }),
    ttl: Duration({ default: '1h', description: 'How long a finished job (and its result) is kept after it ended; a pending or running one is kept for timeout + ttl.' }),
    timeout: Duration({ default: '5m', description: 'Bound on the whole upstream exchange of a job, body included (retries too); past it the job fails with GW_ERR_UPSTREAM_TIMEOUT.' }),
    maxBodySize: Size({ default: '1mb', description: 'Largest request body accepted (it is held until the job runs) → 413.' }),
    maxResultSize: Size({ default: '1mb', description: 'Largest upstream response body stored; a larger one fails the job (GW_ERR_JOB_RESULT_TOO_LARGE).' }),
    maxPending: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000, description: 'Jobs of this route running at once in this gateway process; one more → 503 (GW_ERR_JOB_QUEUE_FULL) with Retry-After.' }),
    callback: Type.Optional(
      Type.Object(
        {
          upstream: Name({ description: 'Upstream that is told when a job ends (its balancer, retries, breaker and pool apply).' }),
          path: Type.String({ pattern: '^/', description: 'Path on that upstream; the job document (as `GET <jobsPath>/<id>` answers it) is POSTed there as JSON.' }),
          timeout: Duration({ default: '10s', description: 'Bound on one callback exchange; a callback that fails is logged, not retried (beyond the upstream\'s own retries).' }),
        },
        { additionalProperties: false, description: 'Webhook: POST the finished job (done or failed) to an upstream. Off when absent.' },
      ),
    ),
    resultHeaders: Type.Array(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), {
      uniqueItems: true,
      default: DEFAULT_RESULT_HEADERS,
      description: 'Upstream response headers stored with the result (and replayed by `?result=raw`); the others are dropped.',
    }),
  },
  { additionalProperties: false, description: 'Answer 202 Accepted with a job id at once and forward the request to the upstream in the background (see docs/async-batch.md).' },
);

export type AsyncConfig = Static<typeof AsyncSchema>;
