/** Outcome of asking for a slot: now, later (queued), or refused. */
export type AdmitResult = 'now' | 'queued' | 'full';

interface Waiter {
  run: () => void;
  fail: () => void;
  timer: NodeJS.Timeout;
}

/**
 * `maxConcurrent` load shedding for one upstream: at most `limit` requests in flight,
 * up to `queueSize` more waiting (first in, first out) for at most `queueTimeout` ms; the
 * rest are refused at once (503). A request admitted without waiting costs no timer, no
 * closure and no Promise.
 *
 * @example
 *   const lim = new ConcurrencyLimiter(100, 50, 1000);
 *   const r = lim.admit(start, reject);   // start() runs now or when a slot frees; reject() on timeout
 *   …; lim.release();                     // when the request ends
 */
export class ConcurrencyLimiter {
  readonly limit: number;
  readonly queueSize: number;
  readonly queueTimeout: number;
  active = 0;
  /** Requests refused (queue full or queue timeout) since load. */
  shed = 0;
  readonly #queue: Waiter[] = [];

  constructor(limit: number, queueSize: number, queueTimeout: number) {
    this.limit = limit;
    this.queueSize = queueSize;
    this.queueTimeout = queueTimeout;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Takes a slot now (returns 'now'; the caller proceeds itself), or queues `run` to be
   * called when one frees ('queued'; `fail` is called instead after the queue timeout),
   * or refuses ('full').
   */
  admit(run: () => void, fail: () => void): AdmitResult {
    if (this.active < this.limit) {
      this.active++;
      return 'now';
    }
    if (this.#queue.length >= this.queueSize) {
      this.shed++;
      return 'full';
    }
    const w: Waiter = {
      run,
      fail,
      timer: setTimeout(() => {
        const i = this.#queue.indexOf(w);
        if (i >= 0) this.#queue.splice(i, 1);
        this.shed++;
        fail();
      }, this.queueTimeout),
    };
    this.#queue.push(w);
    return 'queued';
  }

  /** Removes a queued `run` (its client went away). */
  cancel(run: () => void): void {
    const i = this.#queue.findIndex((w) => w.run === run);
    if (i < 0) return;
    clearTimeout(this.#queue[i]!.timer);
    this.#queue.splice(i, 1);
  }

  /** Frees a slot; the oldest waiter, if any, takes it. */
  release(): void {
    const w = this.#queue.shift();
    if (w === undefined) {
      this.active--;
      return;
    }
    clearTimeout(w.timer);
    w.run();
  }
}
