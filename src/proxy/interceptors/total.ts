import { Buffer } from 'node:buffer';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../../errors.js';
import type { Exchange, Interceptor } from '../exchange.js';

/**
 * `timeouts.total`: one bound on the whole exchange, every attempt, backoff and the
 * response body included. Before the response head it ends in 504; after, the response
 * is cut (a truncated body must not look complete).
 *
 * @example
 *   compose(dispatchAttempt, [total(30_000), retry(policy)])
 */
export function total(ms: number): Interceptor {
  return (next) =>
    function totalTimeout(ex, handler) {
      next(ex, new TotalHandler(ex, handler, ms));
    };
}

class TotalHandler implements Dispatcher.DispatchHandler {
  readonly #next: Dispatcher.DispatchHandler;
  readonly #timer: NodeJS.Timeout;
  #ended = false;

  constructor(ex: Exchange, next: Dispatcher.DispatchHandler, ms: number) {
    this.#next = next;
    this.#timer = setTimeout(() => ex.interrupt(new GatewayError('GW_ERR_UPSTREAM_TIMEOUT', `Upstream '${ex.upstream.name}' did not finish within ${ms}ms.`)), ms);
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, text: string): boolean {
    return this.#ended ? false : this.#next.onHeaders!(status, raw, resume, text);
  }

  onData(chunk: Buffer): boolean {
    return this.#ended ? false : this.#next.onData!(chunk);
  }

  onComplete(trailers: string[] | null): void {
    if (this.#end()) this.#next.onComplete!(trailers);
  }

  onError(err: Error): void {
    if (this.#end()) this.#next.onError!(err);
  }

  #end(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    clearTimeout(this.#timer);
    return true;
  }
}
