import type { Logger } from 'pino';
import type { RequestContext } from '../pipeline/context.js';

/**
 * One JSON access-log line per request, written in the log phase (after the response is
 * finished). Fields: time, requestId, method, path, route, status, target, upstreamMs,
 * totalMs, bytesIn, bytesOut, clientIp, listener, plus error and aborted when set.
 */
export function writeAccessLog(logger: Logger, ctx: RequestContext, bytesIn: number): void {
  const line: Record<string, unknown> = {
    msg: 'request',
    requestId: ctx.id,
    method: ctx.method,
    path: ctx.path,
    route: ctx.route?.name ?? null,
    status: ctx.status,
    target: ctx.target || null,
    upstreamMs: ctx.upstreamMs < 0 ? null : round(ctx.upstreamMs),
    totalMs: round(ctx.elapsed()),
    bytesIn,
    bytesOut: ctx.bytesOut,
    clientIp: ctx.clientIp,
    listener: ctx.listener.name,
  };
  if (ctx.consumer) line.consumer = ctx.consumer.id;
  if (ctx.tenant ?? ctx.consumer?.tenant) line.tenant = ctx.tenant ?? ctx.consumer?.tenant;
  if (ctx.errorCode) line.error = ctx.errorCode;
  if (ctx.aborted) line.aborted = true;
  logger.info(line);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
