/**
 * The cache's clock, in ms since the epoch. Freshness, `Age`, stale-while-revalidate and
 * stale-if-error are all computed from it, so tests can move time instead of sleeping.
 *
 * @example
 *   cacheClock.set(() => fakeNow);   // tests
 *   cacheClock.reset();              // back to Date.now
 */
export const cacheClock = {
  now: Date.now as () => number,
  set(now: () => number): void {
    this.now = now;
  },
  reset(): void {
    this.now = Date.now;
  },
};
