import { Buffer } from 'node:buffer';
import { Readable, pipeline as pipeStreams } from 'node:stream';
import type { HeldResponse, RequestContext } from './context.js';
import type { Reply, ResponseHead } from './policy.js';
import { isThenable } from './pipeline.js';
import { GatewayError, PROBLEM_CONTENT_TYPE, problemFor, type GatewayErrorCode } from '../errors.js';
import { removeHeader, setHeader, type HeaderList } from '../http/headers.js';
import { bodyBytes } from '../proxy/memory.js';

/**
 * The request and response phases, run for every routed request. Hooks are called in a
 * plain loop; only a hook that returns a Promise makes the rest of its phase asynchronous.
 * Handlers (proxy, static, …) produce responses through `respondHead` / `respondData` /
 * `respondEnd` or `respondReply`, so the response phase and body wrappers apply to every
 * kind of target alike.
 */

/** Runs the request phase from hook `i`, then the route's handler. */
export function runRequestPhase(ctx: RequestContext, i = 0): void {
  const pipeline = ctx.route!.pipeline;
  const hooks = pipeline.request;
  const joins = pipeline.consumers;
  for (; i < hooks.length; i++) {
    if (joins !== undefined && ctx.consumer !== undefined) {
      // A policy identified the consumer: go on with its policies joined (consumer-policies.ts).
      joins.join(ctx, i);
      runRequestPhase(ctx, i);
      return;
    }
    let r;
    try {
      r = hooks[i]!(ctx);
    } catch (e) {
      failPolicy(ctx, e);
      return;
    }
    if (r === undefined) continue;
    if (isThenable(r)) {
      const next = i + 1;
      r.then(
        (v) => {
          if (ctx.aborted) return;
          if (v) respondReply(ctx, v as Reply);
          else runRequestPhase(ctx, next);
        },
        (e: unknown) => failPolicy(ctx, e),
      );
      return;
    }
    respondReply(ctx, r);
    return;
  }
  if (joins !== undefined && ctx.consumer !== undefined) {
    joins.join(ctx, i);
    runRequestPhase(ctx, i);
    return;
  }
  if (ctx.aborted) return;
  try {
    ctx.route!.handler.handle(ctx);
  } catch (e) {
    failPolicy(ctx, e);
  }
}

function failPolicy(ctx: RequestContext, e: unknown): void {
  if (ctx.aborted) return;
  if (e instanceof GatewayError) {
    respondError(ctx, e.code, e.message);
    return;
  }
  ctx.logger.error({ err: e, requestId: ctx.id, route: ctx.route?.name }, 'policy failed');
  respondError(ctx, 'GW_ERR_POLICY_FAILED', 'The gateway could not process this request.');
}

/**
 * Starts a response: runs the response hooks, writes the head, and wires backpressure
 * (`resume` is called when the body may flow again). Returns whether the body may be
 * written now; when false the caller pauses until `resume`.
 */
export function respondHead(ctx: RequestContext, status: number, headers: HeaderList, resume?: () => void): boolean {
  const hooks = ctx.route?.pipeline.response;
  if (hooks !== undefined && hooks.length > 0) {
    const head: ResponseHead = { status, headers };
    return runResponseHooks(ctx, head, 0, resume);
  }
  writeHead(ctx, status, headers, resume);
  return true;
}

function runResponseHooks(ctx: RequestContext, head: ResponseHead, i: number, resume: (() => void) | undefined): boolean {
  const hooks = ctx.route!.pipeline.response;
  for (; i < hooks.length; i++) {
    let r;
    try {
      r = hooks[i]!(ctx, head);
    } catch (e) {
      ctx.logger.error({ err: e, requestId: ctx.id, route: ctx.route?.name }, 'response policy failed');
      continue;
    }
    if (isThenable(r)) {
      const next = i + 1;
      r.then(
        () => {
          if (ctx.aborted) return;
          if (runResponseHooks(ctx, head, next, resume)) resume?.();
        },
        (e: unknown) => {
          ctx.logger.error({ err: e, requestId: ctx.id, route: ctx.route?.name }, 'response policy failed');
          if (ctx.aborted) return;
          if (runResponseHooks(ctx, head, next, resume)) resume?.();
        },
      );
      return false;
    }
  }
  writeHead(ctx, head.status, head.headers, resume);
  return true;
}

function writeHead(ctx: RequestContext, status: number, headers: HeaderList, resume: (() => void) | undefined): void {
  const extra = ctx.extraResponseHeaders;
  if (extra !== undefined) for (let i = 0; i < extra.length; i++) headers.push(extra[i]!);
  ctx.status = status;
  const res = ctx.res;
  if (res.headersSent || res.destroyed) return;
  if (ctx.bodyMappers !== undefined) {
    // The head waits for the whole body (see RequestContext.mapResponseBody).
    ctx.held = { status, headers, chunks: [], size: 0 };
    return;
  }
  startBody(ctx, status, headers, resume);
}

function startBody(ctx: RequestContext, status: number, headers: HeaderList, resume: (() => void) | undefined): void {
  const res = ctx.res;
  res.writeHead(status, headers);
  const wrappers = ctx.bodyWrappers;
  if (wrappers !== undefined) {
    const source = new Readable({ read: resume === undefined ? noop : () => resume() });
    let stream: Readable = source;
    for (const w of wrappers) stream = joined(stream, w(stream, ctx));
    // What the wrappers emit is what the client gets (compressed, replaced by the cache …).
    stream.on('data', (chunk: Buffer | string) => {
      ctx.bytesOut += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    });
    pipeStreams(stream, res, noop);
    ctx.sink = source;
  } else if (resume !== undefined) {
    res.on('drain', resume);
  }
}

/**
 * A wrapper's output, ended with an error when its input fails: a wrapper that joins its
 * stream with `.pipe` (as a plugin's may) would otherwise wait forever for the end of an
 * input that failed (a transform's body over its bound), and the response with it.
 */
function joined(input: Readable, output: Readable): Readable {
  if (output !== input) input.once('error', (err: Error) => output.destroy(err));
  return output;
}

/**
 * Writes a body chunk; false means "pause until resume". `ctx.bytesOut` counts the body
 * bytes written to the client: here when the chunk goes straight out, otherwise once body
 * mappers or wrappers have made what is sent.
 */
export function respondData(ctx: RequestContext, chunk: Buffer): boolean {
  bodyBytes(chunk.length);
  const held = ctx.held;
  if (held !== undefined) {
    held.size += chunk.length;
    if (held.size > ctx.mapLimit) {
      ctx.held = undefined;
      // The problem goes out first: cancelling may fail the exchange at once, and its error
      // must find the response already answered (not answer 502 "unreachable" instead).
      problemNow(ctx, 'GW_ERR_UPSTREAM_BAD_RESPONSE', 'The response body is larger than the gateway can transform.');
      ctx.cancelable?.cancel();
      return false;
    }
    held.chunks.push(chunk);
    return true;
  }
  const sink = ctx.sink;
  if (sink !== undefined) return sink.push(chunk);
  ctx.bytesOut += chunk.length;
  return ctx.res.write(chunk);
}

/** Ends the response body. */
export function respondEnd(ctx: RequestContext): void {
  if (ctx.held !== undefined) return releaseHeld(ctx, ctx.held);
  const sink = ctx.sink;
  if (sink !== undefined) sink.push(null);
  else ctx.res.end();
}

/** Maps a held body, then sends head and body (through body wrappers, if any). */
function releaseHeld(ctx: RequestContext, held: HeldResponse): void {
  ctx.held = undefined;
  let body = held.chunks.length === 1 ? held.chunks[0]! : Buffer.concat(held.chunks, held.size);
  try {
    for (const map of ctx.bodyMappers!) body = map(body, ctx);
  } catch (e) {
    ctx.logger.error({ err: e, requestId: ctx.id, route: ctx.route?.name }, 'response body mapping failed');
    problemNow(ctx, 'GW_ERR_UPSTREAM_BAD_RESPONSE', 'The response body could not be transformed.');
    return;
  }
  const headers = held.headers;
  removeHeader(headers, 'transfer-encoding');
  if (ctx.bodyWrappers === undefined) setHeader(headers, 'content-length', String(body.length));
  else removeHeader(headers, 'content-length');
  startBody(ctx, held.status, headers, undefined);
  if (ctx.sink !== undefined) {
    ctx.sink.push(body);
    ctx.sink.push(null);
  } else if (ctx.method === 'HEAD') {
    ctx.res.end();
  } else {
    ctx.bytesOut += body.length;
    ctx.res.end(body);
  }
}

/**
 * A problem response written directly: for failures after the response phase already ran
 * (its hooks and body mappers belong to the response that failed, not to this one).
 */
function problemNow(ctx: RequestContext, code: GatewayErrorCode, detail: string): void {
  const p = problemReply(ctx, code, detail);
  ctx.status = p.status;
  p.headers.push('content-length', String(p.body.length));
  const extra = ctx.extraResponseHeaders;
  if (extra !== undefined) p.headers.push(...extra);
  if (ctx.res.headersSent) return respondAbort(ctx);
  ctx.res.writeHead(p.status, p.headers);
  if (ctx.method === 'HEAD') return void ctx.res.end();
  ctx.bytesOut += p.body.length;
  ctx.res.end(p.body);
}

/**
 * A gateway error as problem+json (RFC 9457): status, base headers and body, for a caller
 * that writes the response itself. Records the code on the request.
 */
export function problemReply(ctx: RequestContext, code: GatewayErrorCode, detail: string | undefined): { status: number; headers: HeaderList; body: Buffer } {
  ctx.errorCode = code;
  const problem = problemFor(code, detail, ctx.id);
  problem.instance = ctx.path;
  return {
    status: problem.status,
    headers: ['content-type', PROBLEM_CONTENT_TYPE, 'cache-control', 'no-store'],
    body: Buffer.from(JSON.stringify(problem)),
  };
}

/**
 * Cuts a response off after its head was sent (upstream failed mid-body). The caller sets
 * `ctx.errorCode` first: the log line and the span (an error, not a client gone) say why.
 */
export function respondAbort(ctx: RequestContext, err?: Error): void {
  // A response already complete (e.g. a problem sent after a body outgrew its mapper) stays as is.
  if (ctx.res.writableEnded && ctx.sink === undefined) return;
  if (ctx.trace !== undefined) ctx.trace.failAfterHead(ctx, 'response cut off after its head');
  if (ctx.sink !== undefined) ctx.sink.destroy(err);
  ctx.res.destroy(err);
}

/** Sends a complete response (static handler, policy replies, gateway errors). */
export function respondReply(ctx: RequestContext, reply: Reply): void {
  const headers: HeaderList = Array.isArray(reply.headers) ? reply.headers.slice() : toList(reply.headers);
  let body: Buffer | undefined;
  const b = reply.body;
  if (b === undefined || b === null) body = undefined;
  else if (Buffer.isBuffer(b)) body = b;
  else if (typeof b === 'string') body = Buffer.from(b);
  else {
    body = Buffer.from(JSON.stringify(b));
    if (!hasHeader(headers, 'content-type')) headers.push('content-type', 'application/json');
  }
  if (body !== undefined && !hasHeader(headers, 'content-type')) headers.push('content-type', 'text/plain; charset=utf-8');
  // A 204 carries no Content-Length (RFC 9110 §8.6).
  if (reply.status !== 204 && !hasHeader(headers, 'content-length')) headers.push('content-length', String(body?.length ?? 0));
  const finish = () => {
    if (body !== undefined && ctx.method !== 'HEAD') respondData(ctx, body);
    respondEnd(ctx);
  };
  if (respondHead(ctx, reply.status, headers, finishOnce(finish))) finish();
}

function finishOnce(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}

/** Sends one of the gateway's own errors as problem+json (RFC 9457). */
export function respondError(ctx: RequestContext, code: GatewayErrorCode, detail?: string, extraHeaders?: HeaderList): void {
  if (ctx.res.headersSent) {
    // Mid-body: a code already set (a body policy that refused the body) is what decided the response.
    ctx.errorCode ??= code;
    respondAbort(ctx);
    return;
  }
  const reply = problemReply(ctx, code, detail);
  if (extraHeaders) reply.headers.push(...extraHeaders);
  respondReply(ctx, reply);
}

function toList(h: Record<string, string> | undefined): HeaderList {
  const out: HeaderList = [];
  if (h) for (const k of Object.keys(h)) out.push(k, h[k]!);
  return out;
}

function hasHeader(list: HeaderList, lower: string): boolean {
  for (let i = 0; i < list.length; i += 2) if (list[i]!.toLowerCase() === lower) return true;
  return false;
}

function noop(): void {}
