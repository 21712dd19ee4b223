import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';

/**
 * Reads a request body whose Content-Length the caller has checked against its limit,
 * so that it can be sent more than once (retries, mirroring). Calls `done` once: with the
 * body, or with an error when the client stopped sending.
 *
 * @example
 *   if (Number(req.headers['content-length']) <= 65_536) readBody(req, (err, body) => { if (!err) ctx.body = body; … });
 */
export function readBody(req: IncomingMessage, done: (err: Error | undefined, body?: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let finished = false;
  const finish = (err: Error | undefined, body?: Buffer) => {
    if (finished) return;
    finished = true;
    done(err, body);
  };
  req.on('data', (c: Buffer) => chunks.push(c));
  req.once('end', () => finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
  req.once('error', (e) => finish(e));
  req.once('close', () => finish(new Error('client closed the connection before sending the body')));
}

/** The declared body length when it is present, non-zero and at most `limit`; else -1. */
export function replayableLength(req: IncomingMessage, limit: number): number {
  const cl = req.headers['content-length'];
  if (cl === undefined || cl === '0') return -1;
  const n = Number(cl);
  return Number.isInteger(n) && n <= limit ? n : -1;
}
