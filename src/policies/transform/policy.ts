import { definePolicy, type ResponseHead } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { readRequestBody } from '../../pipeline/body.js';
import { bufferResponseBody, replaceWithProblem } from '../../pipeline/response-body.js';
import { GatewayError } from '../../errors.js';
import { getHeader, hasRequestBody, isJsonType, removeHeader } from '../../http/headers.js';
import { schema } from './schema.js';
import { applyHeaderOps, compileHeaderOps, compileQueryOps } from './ops.js';
import { applyBodyOps, compileBodyOps, type CompiledOp } from './body-ops.js';

/**
 * `transform`: rewrites requests on their way upstream and responses on their way back —
 * headers (remove, rename, set, add), query parameters, and JSON bodies (set, remove,
 * rename, move by JSON Pointer; wrap, unwrap) with template values (`${consumer.id}`,
 * `$${tenant}`, `${request.id}`, `${params.id}`, …). Bodies are buffered only when body
 * operations are configured, and only up to `maxBodySize`.
 *
 * @example
 *   - transform:
 *       request:
 *         headers: { set: { x-tenant: "$${tenant}" }, remove: [cookie] }
 *         query: { remove: [api_key] }
 *         body: [ { set: /meta/requestId, value: "${request.id}" }, { remove: /debug } ]
 *       response:
 *         body: [ { unwrap: /data }, { rename: /user_name, to: userName } ]
 */
export default definePolicy({
  name: 'transform',
  description: 'Request and response transformation: headers, query, JSON body operations with templates.',
  schema,
  create(config) {
    const reqHeaders = compileHeaderOps(config.request.headers);
    const query = compileQueryOps(config.request.query);
    const reqBody = config.request.body.length > 0 ? compileBodyOps(config.request.body) : null;
    const resHeaders = compileHeaderOps(config.response.headers);
    const resBody = config.response.body.length > 0 ? compileBodyOps(config.response.body) : null;
    const reqMax = config.request.maxBodySize;
    const resMax = config.response.maxBodySize;

    const request =
      reqHeaders || query || reqBody
        ? function transformRequest(ctx: RequestContext) {
            if (reqHeaders) applyHeaderOps(ctx.upstreamHeaders, reqHeaders, ctx);
            if (query) ctx.query = query(ctx.query, ctx);
            if (reqBody && hasRequestBody(ctx.req.headers) && isJsonType(ctx.req.headers['content-type'])) return transformRequestBody(ctx, reqBody, reqMax);
            return undefined;
          }
        : undefined;

    const response =
      resHeaders || resBody
        ? function transformResponse(ctx: RequestContext, head: ResponseHead) {
            if (resHeaders) applyHeaderOps(head.headers, resHeaders, ctx);
            if (resBody && head.status >= 200 && head.status < 300 && ctx.method !== 'HEAD' && isJsonType(getHeader(head.headers, 'content-type'))) {
              transformResponseBody(ctx, head, resBody, resMax);
            }
          }
        : undefined;
    return { request, response };
  },
});

async function transformRequestBody(ctx: RequestContext, ops: readonly CompiledOp[], max: number): Promise<undefined> {
  const raw = await readRequestBody(ctx, max);
  try {
    ctx.body = applyBodyOps(raw, ops, ctx);
  } catch (e) {
    if (e instanceof SyntaxError) throw new GatewayError('GW_ERR_BAD_REQUEST', 'The request body is not valid JSON.');
    throw e;
  }
  // Forwarded with its new Content-Length (proxy/forward.ts).
  return undefined;
}

/**
 * Buffers the response body (up to `max`), applies the operations and sends the result
 * chunked. A declared length over `max` becomes a 502 before anything is sent; a streamed
 * body that grows past it is cut off (its head is already out). A body that is not valid
 * JSON is passed on unchanged.
 */
function transformResponseBody(ctx: RequestContext, head: ResponseHead, ops: readonly CompiledOp[], max: number): void {
  const declared = getHeader(head.headers, 'content-length');
  if (declared !== undefined && Number(declared) > max) {
    replaceWithProblem(ctx, head, 'GW_ERR_UPSTREAM_BAD_RESPONSE', `The upstream response is larger than the ${max} bytes this route transforms.`);
    return;
  }
  removeHeader(head.headers, 'content-length');
  bufferResponseBody(ctx, max, 'transform.maxBodySize', (raw) => {
    try {
      return applyBodyOps(raw, ops, ctx);
    } catch (e) {
      ctx.logger.warn({ requestId: ctx.id, route: ctx.route?.name, err: (e as Error).message }, 'transform: response body is not valid JSON; sent unchanged');
      return raw;
    }
  });
}
