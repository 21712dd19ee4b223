import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { GatewayError } from '../../errors.js';
import { failureKind } from '../../upstreams/upstream.js';
import type { RetryBudget } from '../../upstreams/retry-budget.js';
import type { RetryCondition } from '../../upstreams/schema.js';
import type { Dispatch, Exchange, Interceptor } from '../exchange.js';

/** Retry settings compiled at load (durations in ms). */
export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  on: ReadonlySet<RetryCondition>;
  backoff: number;
  maxBackoff: number;
  methods: ReadonlySet<string>;
  budget: RetryBudget;
}

/**
 * Retries, around the per-attempt layers: an attempt that failed before its response
 * head (connect error, reset, timeout) or answered a retryable status is tried again on
 * another target after an exponential backoff with full jitter (AWS Architecture Blog,
 * "Exponential Backoff and Jitter"), when all of these hold:
 *   - the method may be repeated (idempotent, RFC 9110 §9.2.2, or opted in per route)
 *     or the request carries an `Idempotency-Key`;
 *   - the body can be replayed (none, or small enough to have been kept);
 *   - tries remain, and the upstream's retry budget has room;
 *   - the route deadline leaves time for the backoff plus a typical response.
 * A retried response's body is read to its end and dropped, so its connection is reused.
 *
 * @example
 *   compose(dispatchAttempt, [retry(policy), deadline(), breaker()])
 */
export function retry(policy: RetryPolicy): Interceptor {
  return (next) =>
    function retryLoop(ex, handler) {
      policy.budget.request();
      const m = ex.ctx.method;
      if (!ex.replayable || policy.attempts < 2 || !(policy.methods.has(m) || ex.ctx.req.headers['idempotency-key'] !== undefined)) return next(ex, handler);
      next(ex, new RetryHandler(ex, handler, next, policy));
    };
}

/** Full-jitter exponential backoff for the n-th retry (n ≥ 1). */
export function backoffDelay(policy: Pick<RetryPolicy, 'backoff' | 'maxBackoff'>, n: number): number {
  return Math.random() * Math.min(policy.maxBackoff, policy.backoff * 2 ** (n - 1));
}

class RetryHandler implements Dispatcher.DispatchHandler {
  readonly #ex: Exchange;
  readonly #next: Dispatcher.DispatchHandler;
  readonly #dispatch: Dispatch;
  readonly #policy: RetryPolicy;
  /** Dropping the body of a response that will be retried. */
  #discarding = false;
  #delay = 0;

  constructor(ex: Exchange, next: Dispatcher.DispatchHandler, dispatch: Dispatch, policy: RetryPolicy) {
    this.#ex = ex;
    this.#next = next;
    this.#dispatch = dispatch;
    this.#policy = policy;
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, text: string): boolean {
    if (status >= 500 && this.#policy.on.has(String(status) as RetryCondition) && this.#mayRetry()) {
      this.#discarding = true;
      return true;
    }
    return this.#next.onHeaders!(status, raw, resume, text);
  }

  onData(chunk: Buffer): boolean {
    return this.#discarding ? true : this.#next.onData!(chunk);
  }

  onComplete(trailers: string[] | null): void {
    if (this.#discarding) return this.#schedule();
    this.#next.onComplete!(trailers);
  }

  onError(err: Error): void {
    if (this.#discarding && !this.#ex.done) return this.#schedule();
    if (!(err instanceof GatewayError)) {
      const kind = failureKind(err);
      if (kind !== 'aborted' && kind !== 'error' && this.#policy.on.has(kind) && this.#mayRetry()) return this.#schedule();
    }
    this.#next.onError!(err);
  }

  #mayRetry(): boolean {
    const ex = this.#ex;
    if (ex.done || ex.ctx.aborted || ex.attempt >= this.#policy.attempts) return false;
    this.#delay = backoffDelay(this.#policy, ex.attempt);
    if (ex.deadlineAt !== Infinity) {
      // An attempt that cannot finish in what is left is not started.
      const left = ex.deadlineAt - performance.now() - this.#delay;
      if (left < Math.max(1, ex.upstream.expectedLatency())) return false;
    }
    return this.#policy.budget.tryRetry();
  }

  #schedule(): void {
    this.#discarding = false;
    const ex = this.#ex;
    if (ex.done) return this.#next.onError!(new undiciErrors.RequestAbortedError('exchange ended'));
    const timer = setTimeout(() => {
      ex.interruptWait = undefined;
      this.#dispatch(ex, this);
    }, this.#delay);
    ex.interruptWait = (err) => {
      clearTimeout(timer);
      this.#next.onError!(err);
      return true;
    };
  }
}
