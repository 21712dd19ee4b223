import { Buffer } from 'node:buffer';
import { Transform, type Readable } from 'node:stream';
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
export function readRequestBody(ctx: RequestContext, cap: number): Promise<Buffer> {
  if (ctx.body !== undefined) return Promise.resolve(ctx.body);
  const max = Math.min(cap, ctx.requestBodyLimit);
  const req = ctx.req;
  const declared = req.headers['content-length'];
  if (declared === undefined && req.headers['transfer-encoding'] === undefined) return Promise.resolve(Buffer.alloc(0));
  if (declared !== undefined && Number(declared) > max) {
    return Promise.reject(new RequestBodyTooLarge(max));
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
        reject(new RequestBodyTooLarge(max));
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

/** The client's request body is over what the request accepts (413, RFC 9110 §15.5.14): the client's fault, never the target's. */
export class RequestBodyTooLarge extends GatewayError {
  constructor(max: number) {
    super('GW_ERR_BODY_TOO_LARGE', `The request body is larger than ${max} bytes.`);
  }
}

/**
 * The client's body as a stream that fails with `RequestBodyTooLarge` once more than `max`
 * bytes went through, for a body forwarded without a declared length (chunked, or an HTTP/2
 * stream without content-length; a declared one was refused before). The client stream
 * stops being read there and its connection closes after the answer: the rest of the body
 * is never read.
 *
 * @example dispatch({ …, body: limitedBody(ctx, 1 << 20) }, handler)
 */
export function limitedBody(ctx: RequestContext, max: number): Readable {
  const req = ctx.req;
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen <= max) return done(null, chunk);
      req.unpipe(counter);
      req.pause();
      ctx.res.shouldKeepAlive = false;
      done(new RequestBodyTooLarge(max));
    },
  });
  req.pipe(counter);
  return counter;
}

