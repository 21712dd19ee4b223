import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { errors as undiciErrors } from 'undici';
import { track, trackedCount, untrack, type Timed } from './timeouts.js';

/** A timed request that records when and how it timed out. */
function timed(limit: number, headed = false): Timed & { err?: Error; at?: number } {
  const t: Timed & { err?: Error; at?: number } = {
    timedSince: performance.now(),
    timedLimit: limit,
    timedHeaded: headed,
    timedPrev: null,
    timedNext: null,
    timedOut(err) {
      t.err = err;
      t.at = performance.now();
    },
  };
  return t;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('proxy timeouts', () => {
  it('fails a request waiting for its head with undici’s headers timeout error, never before its limit', async () => {
    const t = timed(150);
    track(t);
    await wait(600);
    expect(t.err).toBeInstanceOf(undiciErrors.HeadersTimeoutError);
    expect(t.at! - t.timedSince).toBeGreaterThanOrEqual(150);
    expect(trackedCount()).toBe(0);
  });

  it('a streaming body uses the idle timeout: body timeout error', async () => {
    const t = timed(150, true);
    track(t);
    await wait(600);
    expect(t.err).toBeInstanceOf(undiciErrors.BodyTimeoutError);
  });

  it('untracked (finished) requests and limit 0 never time out; several are tracked at once', async () => {
    const done = timed(100);
    const none = timed(0);
    const a = timed(100_000);
    const b = timed(100_000);
    for (const t of [done, none, a, b]) track(t);
    untrack(done);
    untrack(done); // twice is harmless
    expect(trackedCount()).toBe(3);
    untrack(a); // from the middle of the list
    expect(trackedCount()).toBe(2);
    await wait(400);
    expect(done.err).toBeUndefined();
    expect(none.err).toBeUndefined();
    untrack(none);
    untrack(b);
    expect(trackedCount()).toBe(0);
  });
});
