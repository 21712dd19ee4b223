import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { definePolicy, type Reply } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { subrequest, SubrequestTooLarge, type CapturedResponse, type SubrequestOptions } from '../../pipeline/subrequest.js';
import { Size } from '../../config/types.js';
import { getHeader, removeHeader } from '../../http/headers.js';
import { headersFor304, notModified } from '../cache/serve.js';
import { typeMatcher } from '../compress/policy.js';

/**
 * `etag`: conditional requests for responses that carry no validator (typically
 * uncached JSON). The upstream response is read whole (up to `maxSize`), given a strong
 * `ETag` from a hash of its body (RFC 9110 §8.8.3), and a client whose `If-None-Match`
 * matches gets 304 without the body — mobile clients re-polling an unchanged resource
 * save the download. Responses that already have an ETag keep it and are compared as is.
 *
 * It answers in the request phase (the ETag must be known before the head is sent), so
 * place it last among the request policies; response policies still apply.
 *
 * @example
 *   - etag: { maxSize: 512kb }
 */
export const schema = Type.Object(
  {
    maxSize: Size({ default: '1mb', description: 'Largest body hashed. A larger response is fetched again and streamed without an ETag.' }),
    contentTypes: Type.Array(Type.String({ pattern: '^[a-z0-9!#$&^_.+*-]+/[a-z0-9!#$&^_.+*-]+$' }), {
      default: ['application/json', 'application/*+json'],
      minItems: 1,
      description: 'Media types that get an ETag (`type/*` and `application/*+json` wildcards allowed).',
    }),
  },
  { additionalProperties: false },
);

const CLIENT_EXCHANGE: SubrequestOptions = { asClient: true };

export default definePolicy({
  name: 'etag',
  description: 'Strong ETag from a hash of the body and 304 on If-None-Match, for responses without validators.',
  schema,
  create(config) {
    const accepts = typeMatcher(config.contentTypes);
    const max = config.maxSize;
    return {
      request: function etag(ctx) {
        if (ctx.method !== 'GET') return undefined;
        // The client's own exchange: shadowed once (`mirror:`), cancelled when the client goes away.
        return subrequest(ctx, ctx.upstreamHeaders.slice(), max, CLIENT_EXCHANGE).then(
          (res) => answer(ctx, res, accepts),
          (e: unknown) => {
            if (e instanceof SubrequestTooLarge) return undefined; // stream it again, without an ETag
            throw e;
          },
        );
      },
    };
  },
});

function answer(ctx: RequestContext, res: CapturedResponse, accepts: (mt: string) => boolean): Reply {
  const headers = res.headers;
  removeHeader(headers, 'content-length');
  if (res.status !== 200 || res.errorCode !== undefined) return { status: res.status, headers, body: res.body };
  let tag = getHeader(headers, 'etag');
  if (tag === undefined) {
    const ct = getHeader(headers, 'content-type') ?? '';
    const semi = ct.indexOf(';');
    if (!accepts((semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase())) return { status: 200, headers, body: res.body };
    tag = `"${createHash('sha256').update(res.body).digest('base64url').slice(0, 27)}"`;
    headers.push('etag', tag);
  }
  if (notModified(ctx.req.headers, tag, getHeader(headers, 'last-modified'))) return { status: 304, headers: headersFor304(headers) };
  return { status: 200, headers, body: res.body };
}
