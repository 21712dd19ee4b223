/**
 * Wall-clock time for limiter decisions. Injectable so tests can move time to a calendar
 * boundary (quota resets) without waiting for it.
 *
 * @example
 *   const clock = manualClock(Date.UTC(2024, 0, 31, 23, 59, 59));
 *   clock.advance(1000); // now it is February
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: Date.now };

/** A clock that only moves when told to (tests). */
export interface ManualClock extends Clock {
  set(ms: number): void;
  advance(ms: number): void;
}

export function manualClock(start = Date.now()): ManualClock {
  let t = start;
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}
