import type { RequestContext } from './context.js';

/**
 * Counts work a request starts that may outlive its response: subrequests, the
 * background cache revalidation they serve (RFC 5861 stale-while-revalidate), and the
 * cache's writes and drops in a shared store after the response was sent. A retiring
 * runtime and the gateway's drain wait for it as they wait for client requests.
 */
export interface WorkTracker {
  /**
   * Counts one piece of work until the returned function is called (it may be called more
   * than once). `cancel` is called when the gateway stops waiting (the drain deadline
   * passed, or an immediate close); the work is then no longer counted.
   */
  hold(cancel?: () => void): () => void;
}

/** What a runtime offers a tracker: its count of requests, which its retirement waits on. */
export interface WorkCounter {
  inFlight: number;
  requestDone(): void;
}

const noop = (): void => {};

/**
 * Holds `ctx`'s tracker (a no-op for a context the gateway did not track).
 *
 * @example
 *   const done = holdWork(ctx, () => sub.cancelable?.cancel());
 *   capture.once('close', done);
 */
export function holdWork(ctx: RequestContext, cancel?: () => void): () => void {
  const work = ctx.work;
  return work === undefined ? noop : work.hold(cancel);
}

interface Held {
  cancel: (() => void) | undefined;
  release(): void;
}

/**
 * The gateway's background work across config versions: how much is held, a callback when
 * none is left, and a way to stop all of it.
 *
 * @example
 *   const work = new BackgroundWork(() => maybeIdle());
 *   runtime.work = work.trackerFor(runtime);   // requests carry it as ctx.work
 *   work.cancelAll();                           // drain deadline passed
 */
export class BackgroundWork {
  readonly #active = new Set<Held>();
  readonly #onIdle: () => void;

  constructor(onIdle: () => void) {
    this.#onIdle = onIdle;
  }

  /** Pieces of work held right now. */
  get size(): number {
    return this.#active.size;
  }

  /** A tracker whose holds also count in `rt`'s requests, so that retiring `rt` waits for them. */
  trackerFor(rt: WorkCounter): WorkTracker {
    return {
      hold: (cancel) => {
        rt.inFlight++;
        let done = false;
        const held: Held = {
          cancel,
          release: () => {
            if (done) return;
            done = true;
            this.#active.delete(held);
            rt.requestDone();
            if (this.#active.size === 0) this.#onIdle();
          },
        };
        this.#active.add(held);
        return held.release;
      },
    };
  }

  /** Cancels and releases everything held (the holders' later releases do nothing). */
  cancelAll(): void {
    for (const held of [...this.#active]) {
      try {
        held.cancel?.();
      } finally {
        held.release();
      }
    }
  }
}
