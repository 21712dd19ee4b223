import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import type { Dispatcher } from 'undici';
import { setHeader } from '../../http/headers.js';
import { metrics } from '../../observability/metrics.js';
import { RejectionError, type Exchange, type Interceptor } from '../exchange.js';

/** Header carrying the remaining budget upstream (and read from clients, which may only shorten it). */
export const DEADLINE_HEADER = 'x-gantry-deadline-ms';

/**
 * The route's latency budget (`deadline:`), per attempt: an attempt starts only with
 * budget left, carries what is left upstream (`X-Gantry-Deadline-Ms`, and for gRPC
 * `grpc-timeout` in the `<n>m` form of the gRPC over HTTP/2 spec) and is cut when the
 * budget runs out before its response head. Exhaustion is its own error: 504
 * `deadline-exceeded`, metric outcome `deadline`.
 *
 * @example
 *   compose(dispatchAttempt, [retry(policy), deadline(), breaker()])
 */
export function deadline(): Interceptor {
  return (next) =>
    function deadlineGate(ex, handler) {
      const left = Math.floor(ex.deadlineAt - performance.now());
      if (left < 1) {
        metrics.upstreamAttempt(ex.upstream.name, '', 'deadline', 0);
        return handler.onError!(exhausted(ex));
      }
      setHeader(ex.headers, DEADLINE_HEADER, String(left));
      if (isGrpc(ex)) setHeader(ex.headers, 'grpc-timeout', `${Math.min(left, 99_999_999)}m`);
      next(ex, new DeadlineHandler(ex, handler, left));
    };
}

function exhausted(ex: Exchange): RejectionError {
  const budget = Math.round(ex.deadlineAt - ex.ctx.startedAt);
  return new RejectionError('GW_ERR_DEADLINE_EXCEEDED', `The route's latency budget of ${budget}ms was spent before '${ex.upstream.name}' answered.`);
}

function isGrpc(ex: Exchange): boolean {
  const ct = ex.ctx.req.headers['content-type'];
  return ct !== undefined && ct.startsWith('application/grpc');
}

class DeadlineHandler implements Dispatcher.DispatchHandler {
  readonly #ex: Exchange;
  readonly #next: Dispatcher.DispatchHandler;
  readonly #timer: NodeJS.Timeout;
  #expired = false;

  constructor(ex: Exchange, next: Dispatcher.DispatchHandler, left: number) {
    this.#ex = ex;
    this.#next = next;
    this.#timer = setTimeout(() => this.#expire(), left);
  }

  #expire(): void {
    this.#expired = true;
    const ex = this.#ex;
    ex.failAttempt(exhausted(ex));
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, text: string): boolean {
    clearTimeout(this.#timer);
    return this.#next.onHeaders!(status, raw, resume, text);
  }

  onData(chunk: Buffer): boolean {
    return this.#next.onData!(chunk);
  }

  onComplete(trailers: string[] | null): void {
    clearTimeout(this.#timer);
    this.#next.onComplete!(trailers);
  }

  onError(err: Error): void {
    clearTimeout(this.#timer);
    // Whatever ended the attempt after the budget ran out, the budget is the reason.
    this.#next.onError!(this.#expired && !this.#ex.ctx.aborted ? exhausted(this.#ex) : err);
  }
}
