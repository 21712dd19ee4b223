import { Buffer } from 'node:buffer';
import type { RequestContext } from './context.js';
import { GatewayError } from '../errors.js';

/**
 * Reads the client's request body into memory, at most `max` bytes: a declared
 * Content-Length over the cap is refused before reading, a streamed body as soon as it
 * passes the cap (413, RFC 9110 §15.5.14). Resolves `ctx.body` when a policy already read
 * it, and an empty buffer for requests without a body. Policies that need the body call
 * this only when they will use it; everything else keeps streaming.
 *
 * @example
 *   request: async function validate(ctx) {
 *     const raw = await readRequestBody(ctx, 1 << 20);
 *     ctx.body = transform(raw);   // forwarded instead of the stream (proxy/forward.ts)
 *   }
 */
export function readRequestBody(ctx: RequestContext, max: number): Promise<Buffer> {
  if (ctx.body !== undefined) return Promise.resolve(ctx.body);
  const req = ctx.req;
  const declared = req.headers['content-length'];
  if (declared === undefined && req.headers['transfer-encoding'] === undefined) return Promise.resolve(Buffer.alloc(0));
  if (declared !== undefined && Number(declared) > max) {
    return Promise.reject(new GatewayError('GW_ERR_BODY_TOO_LARGE', `The request body is larger than ${max} bytes.`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > max) {
        cleanup();
        // Stop reading; the connection closes after the 413 (the rest of the body is never read).
        req.pause();
        ctx.res.shouldKeepAlive = false;
        reject(new GatewayError('GW_ERR_BODY_TOO_LARGE', `The request body is larger than ${max} bytes.`));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      cleanup();
      const body = Buffer.concat(chunks, size);
      ctx.body = body;
      resolve(body);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onClose = () => {
      if (req.readableEnded) return;
      cleanup();
      reject(new Error('the client closed the connection while sending the body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
