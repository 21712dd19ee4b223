import { performance } from 'node:perf_hooks';
import { errors as undiciErrors } from 'undici';

/**
 * Response and idle timeouts of proxied requests, checked by one sweep every
 * `SWEEP_MS` over the requests in flight, instead of undici's per-request timers.
 *
 * Why not undici's `headersTimeout`/`bodyTimeout`: a pooled connection alternates between
 * undici's keep-alive timer (a native timer) and its headers timer (one of undici's own
 * "fast" timers), so every request creates a fast timer, and a cleared fast timer stays in
 * undici's timer list until that list's next tick, about half a second later. Under load
 * that outlives two young-generation collections: the timers were the largest share of
 * what the gateway promoted to the old generation (sampled with `HeapProfiler`, surviving
 * young collections only), whose growth brought a ~7 ms mark-compact every few seconds.
 * With undici's per-request timeouts off, nothing per request outlives its request; the
 * sweep reads the clock once per tick. A timeout fires at most `2 × SWEEP_MS` late
 * (undici's fast timers: up to 1 s), never early.
 *
 * A timed request is a node of an intrusive list (no allocation per request): `timedSince`
 * is when it started waiting (the response head, then each body chunk), `timedLimit` how
 * long it may wait, 0 for no limit.
 */
export interface Timed {
  timedSince: number;
  timedLimit: number;
  /** The head arrived: `timedLimit` is the idle timeout now. */
  timedHeaded: boolean;
  timedPrev: Timed | null;
  timedNext: Timed | null;
  /** The limit passed: fail the request with `err` (undici's own timeout errors, so mapping and retries are unchanged). */
  timedOut(err: Error): void;
}

const SWEEP_MS = 100;

let head: Timed | null = null;
let timer: NodeJS.Timeout | undefined;
/** `performance.now()` at the last sweep: body chunks stamp it instead of reading the clock. */
let coarseNow = performance.now();

/** The coarse clock: when the last sweep ran (at most `SWEEP_MS` ago while requests are in flight). */
export function coarseClock(): number {
  return coarseNow;
}

/** Starts timing `t` (its fields already set); `t` must not be timed already. */
export function track(t: Timed): void {
  t.timedPrev = null;
  t.timedNext = head;
  if (head !== null) head.timedPrev = t;
  head = t;
  if (timer === undefined) {
    coarseNow = performance.now();
    timer = setInterval(sweep, SWEEP_MS);
    timer.unref();
  }
}

/** Stops timing `t` (a no-op when it is not timed). */
export function untrack(t: Timed): void {
  const prev = t.timedPrev;
  const next = t.timedNext;
  if (prev === null && head !== t) return;
  if (prev !== null) prev.timedNext = next;
  else head = next;
  if (next !== null) next.timedPrev = prev;
  t.timedPrev = null;
  t.timedNext = null;
}

function sweep(): void {
  const now = performance.now();
  coarseNow = now;
  if (head === null) {
    // Nothing in flight for a whole tick: stop until the next request.
    clearInterval(timer);
    timer = undefined;
    return;
  }
  let t: Timed | null = head;
  while (t !== null) {
    const next: Timed | null = t.timedNext;
    // Chunks are stamped with the coarse clock (up to one tick old): allow one tick more, so it never fires early.
    if (t.timedLimit > 0 && now - t.timedSince > t.timedLimit + (t.timedHeaded ? SWEEP_MS : 0)) {
      untrack(t);
      t.timedOut(t.timedHeaded ? new undiciErrors.BodyTimeoutError() : new undiciErrors.HeadersTimeoutError());
    }
    t = next;
  }
}

/** Requests being timed (tests). */
export function trackedCount(): number {
  let n = 0;
  for (let t = head; t !== null; t = t.timedNext) n++;
  return n;
}

/**
 * A request sent with undici's `dispatch` and timed by the sweep: the `Timed` fields, and
 * how it fails. On a connection it is aborted there; still waiting for one (every
 * connection of the pool busy) it fails at once (`onError`), and when undici's turn comes,
 * `onConnect` throws, so that undici drops it unsent and keeps the connection (calling the
 * `abort` undici hands over before writing would destroy that connection). ProxyCall,
 * the resilient path's Attempt and mirror copies share it.
 */
export abstract class TimedCall implements Timed {
  timedSince = 0;
  timedLimit = 0;
  timedHeaded = false;
  timedPrev: Timed | null = null;
  timedNext: Timed | null = null;
  #abort: ((err?: Error) => void) | undefined = undefined;
  /** Why it failed before it reached a connection. */
  #unsent: Error | undefined = undefined;

  /** undici's `onConnect`: the request is about to be written. */
  onConnect(abort: (err?: Error) => void): void {
    if (this.#unsent !== undefined) throw this.#unsent;
    this.#abort = abort;
  }

  /** Ends the request with `err`, wherever it is. */
  fail(err: Error): void {
    if (this.#abort !== undefined) return this.#abort(err);
    this.#unsent = err;
    this.onError(err);
  }

  /** The head, or the next body chunk, did not come in time (a retry interceptor decides what follows). */
  timedOut(err: Error): void {
    this.fail(err);
  }

  /** undici's `onError`, also called by `fail` for a request not yet sent; later calls must do nothing. */
  abstract onError(err: Error): void;
}
