import { Buffer } from 'node:buffer';
import { Transform, pipeline } from 'node:stream';
import type { RequestContext } from './context.js';
import type { ResponseHead } from './policy.js';
import { PROBLEM_CONTENT_TYPE, problemFor, type GatewayErrorCode } from '../errors.js';

/**
 * Collects a response body that passes through body wrappers (its head is already out),
 * at most `max` bytes, and sends what `finish` makes of it, chunked. A body that grows past
 * `max`, or that `finish` throws on, cuts the response off (GW_ERR_UPSTREAM_BAD_RESPONSE
 * in the log): nothing of it reaches the client. For policies that must see a whole body
 * when `ctx.mapResponseBody` is not available (another policy already wraps the stream).
 * `what` names the bound in the error (`transform.maxBodySize`).
 *
 * @example
 *   removeHeader(head.headers, 'content-length');
 *   bufferResponseBody(ctx, 1 << 20, 'mask.maxBodySize', (raw) => Buffer.from(JSON.stringify(mask(JSON.parse(raw.toString())))));
 */
export function bufferResponseBody(ctx: RequestContext, max: number, what: string, finish: (raw: Buffer) => Buffer): void {
  ctx.wrapResponseBody((src) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const t = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > max) {
          ctx.errorCode = 'GW_ERR_UPSTREAM_BAD_RESPONSE';
          cb(new Error(`response body exceeds ${what} (${max} bytes)`));
          return;
        }
        chunks.push(chunk);
        cb();
      },
      flush(cb) {
        let out: Buffer;
        try {
          out = finish(Buffer.concat(chunks, size));
        } catch (e) {
          ctx.errorCode = 'GW_ERR_UPSTREAM_BAD_RESPONSE';
          cb(e as Error);
          return;
        }
        cb(null, out);
      },
    });
    // pipeline, not pipe: this wrapper's error must reach the streams after it (another
    // wrapper, then the client response), not be thrown as an unhandled 'error' event.
    return pipeline(src, t, noop);
  });
}

/**
 * Replaces the response about to be sent with a gateway problem (RFC 9457), from the
 * response phase: the head becomes the problem's, and the upstream body is read and
 * dropped. For a response known to be unfit before its body arrives (a declared length
 * over a bound, an encoding a policy cannot read).
 *
 * @example
 *   if (Number(getHeader(head.headers, 'content-length')) > max) return replaceWithProblem(ctx, head, 'GW_ERR_UPSTREAM_BAD_RESPONSE', 'too large to mask');
 */
export function replaceWithProblem(ctx: RequestContext, head: ResponseHead, code: GatewayErrorCode, detail: string): void {
  const problem = problemFor(code, detail, ctx.id);
  problem.instance = ctx.path;
  const body = Buffer.from(JSON.stringify(problem));
  ctx.errorCode = code;
  head.status = problem.status;
  head.headers.length = 0;
  head.headers.push('content-type', PROBLEM_CONTENT_TYPE, 'content-length', String(body.length), 'cache-control', 'no-store');
  ctx.wrapResponseBody((src) => {
    src.resume();
    const t = new Transform({
      transform(_c, _e, cb) {
        cb();
      },
      flush(cb) {
        cb(null, body);
      },
    });
    return pipeline(src, t, noop);
  });
}

function noop(): void {}
