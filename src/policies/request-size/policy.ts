import { Type } from '@sinclair/typebox';
import { Size } from '../../config/types.js';
import { definePolicy } from '../../pipeline/policy.js';
import { problemReply } from '../../pipeline/respond.js';

/**
 * `request-size`: a bound on request bodies (nginx's `client_max_body_size`, Kong's
 * request-size limiting). A declared `Content-Length` over `max` is answered 413 at once,
 * before the body is read or anything is sent upstream. A body without a declared length
 * (chunked, or an HTTP/2 stream without content-length) is counted as it streams: past
 * `max` the upstream request is cancelled and the client gets 413, or, when the upstream
 * already answered, its connection is cut. Either way the connection closes after the
 * answer, since the rest of the body is never read. Policies that buffer the body
 * (validate, transform, graphql, grpc, batch, async) read at most `max` bytes too.
 *
 * Where several apply (global, upstream, route, consumer), each one holds: the smallest wins.
 *
 * @example
 *   policies:
 *     - request-size: { max: 1mb }
 */
export const schema = Type.Object(
  {
    max: Size({ description: 'Most request-body bytes accepted (`512kb`, `10mb`); more → 413.' }),
  },
  { additionalProperties: false },
);

export default definePolicy({
  name: 'request-size',
  description: 'Bounds request bodies: a larger declared or streamed body gets 413 and is never forwarded.',
  schema,
  create(config) {
    const max = config.max;
    const detail = `The request body is larger than ${max} bytes.`;
    return {
      request: function requestSize(ctx) {
        const declared = ctx.req.headers['content-length'];
        if (declared !== undefined && Number(declared) > max) {
          // The body stays unread: the connection closes after the answer (no draining a huge upload).
          ctx.res.shouldKeepAlive = false;
          return problemReply(ctx, 'GW_ERR_BODY_TOO_LARGE', detail);
        }
        if (max < ctx.requestBodyLimit) ctx.requestBodyLimit = max;
        return undefined;
      },
    };
  },
});
