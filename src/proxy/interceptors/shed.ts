import { Buffer } from 'node:buffer';
import type { Dispatcher } from 'undici';
import type { ConcurrencyLimiter } from '../../upstreams/concurrency.js';
import { metrics } from '../../observability/metrics.js';
import { RejectionError, type Interceptor } from '../exchange.js';

/**
 * Load shedding (`maxConcurrent` + `queue`): a request takes one of the upstream's
 * slots for its whole exchange (every retry and the body), waits in the bounded queue
 * when none is free, and gets 503 with `Retry-After: 1` when the queue is full or its
 * wait times out.
 *
 * @example
 *   compose(dispatchAttempt, [shed(), retry(policy)])
 */
export function shed(): Interceptor {
  return (next) =>
    function shedGate(ex, handler) {
      const lim = ex.upstream.limiter;
      if (lim === undefined) return next(ex, handler);
      const overloaded = (why: string) => {
        metrics.upstreamAttempt(ex.upstream.name, '', 'shed', 0);
        return new RejectionError('GW_ERR_OVERLOADED', `Upstream '${ex.upstream.name}' is at its concurrency limit (${why}).`, ['retry-after', '1']);
      };
      const release = new ReleaseOnEnd(handler, lim);
      const run = () => {
        ex.interruptWait = undefined;
        next(ex, release);
      };
      const r = lim.admit(run, () => {
        ex.interruptWait = undefined;
        handler.onError!(overloaded('queue timeout'));
      });
      if (r === 'now') return next(ex, release);
      if (r === 'full') return handler.onError!(overloaded('queue full'));
      ex.interruptWait = (err) => {
        lim.cancel(run);
        handler.onError!(err);
        return true;
      };
    };
}

/** Frees the slot once, when the exchange ends however it ends. */
class ReleaseOnEnd implements Dispatcher.DispatchHandler {
  readonly #next: Dispatcher.DispatchHandler;
  readonly #lim: ConcurrencyLimiter;
  #released = false;

  constructor(next: Dispatcher.DispatchHandler, lim: ConcurrencyLimiter) {
    this.#next = next;
    this.#lim = lim;
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, text: string): boolean {
    return this.#next.onHeaders!(status, raw, resume, text);
  }

  onData(chunk: Buffer): boolean {
    return this.#next.onData!(chunk);
  }

  onComplete(trailers: string[] | null): void {
    this.#release();
    this.#next.onComplete!(trailers);
  }

  onError(err: Error): void {
    this.#release();
    this.#next.onError!(err);
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#lim.release();
  }
}
