import type { LimitSpec } from './store.js';

/**
 * The four limiter algorithms as small state machines over one mutable record, used by
 * the memory store. `lua.ts` holds the same arithmetic for Redis; both are tested against
 * one table (store.conformance.ts) so they cannot drift apart.
 *
 * Time is integer microseconds where it matters (GCRA), so equal-time comparisons are
 * exact and the n-th of `burst` simultaneous requests is never lost to rounding.
 */

/** Limiter state: the meaning of a/b/c depends on the algorithm (see each function). */
export interface LimiterState {
  a: number;
  b: number;
  c: number;
  /** Epoch ms after which the state holds nothing worth keeping (swept). */
  expiresAt: number;
}

/** Result of one step; `granted` is what was taken. Times are ms from now. */
export interface Step {
  granted: number;
  limit: number;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

export function newState(): LimiterState {
  return { a: Number.NaN, b: 0, c: 0, expiresAt: 0 };
}

/**
 * Applies one request (`want` units) to `s` at `nowMs`. `partial` grants what is
 * available (lease mode); otherwise all or nothing.
 */
export function step(s: LimiterState, spec: LimitSpec, nowMs: number, want: number, partial: boolean, out: Step): Step {
  switch (spec.algorithm) {
    case 'fixed-window':
      return fixedWindow(s, spec, nowMs, want, partial, out);
    case 'sliding-window':
      return slidingWindow(s, spec, nowMs, want, partial, out);
    case 'token-bucket':
      return tokenBucket(s, spec, nowMs, want, partial, out);
    case 'gcra':
      return gcra(s, spec, nowMs, want, partial, out);
  }
}

function grant(available: number, want: number, partial: boolean): number {
  if (partial) return Math.max(0, Math.min(want, Math.floor(available)));
  return want <= available ? want : 0;
}

/** a = window index, b = count in it. Windows are aligned to the epoch. */
function fixedWindow(s: LimiterState, spec: LimitSpec, t: number, want: number, partial: boolean, out: Step): Step {
  const W = spec.windowMs;
  const L = spec.limit;
  const win = Math.floor(t / W);
  if (s.a !== win) {
    s.a = win;
    s.b = 0;
  }
  const g = grant(L - s.b, want, partial);
  s.b += g;
  const end = (win + 1) * W;
  s.expiresAt = end;
  out.granted = g;
  out.limit = L;
  out.remaining = Math.max(0, L - s.b);
  out.resetMs = end - t;
  out.retryAfterMs = g > 0 ? 0 : end - t;
  return out;
}

/**
 * Sliding-window counter (a = window index, b = count in it, c = count in the previous
 * one): the previous window's count is weighted by how much of it the sliding window
 * still covers, assuming its requests were spread evenly. See docs/rate-limits.md for
 * the error this approximation allows.
 */
function slidingWindow(s: LimiterState, spec: LimitSpec, t: number, want: number, partial: boolean, out: Step): Step {
  const W = spec.windowMs;
  const L = spec.limit;
  const win = Math.floor(t / W);
  if (s.a !== win) {
    s.c = s.a === win - 1 ? s.b : 0;
    s.b = 0;
    s.a = win;
  }
  const elapsed = t - win * W;
  const est = (s.c * (W - elapsed)) / W + s.b;
  const g = grant(L - est, want, partial);
  s.b += g;
  s.expiresAt = (win + 2) * W;
  out.granted = g;
  out.limit = L;
  out.remaining = Math.max(0, Math.floor(L - est - g));
  out.resetMs = W - elapsed;
  out.retryAfterMs = g > 0 ? 0 : slidingRetry(s, L, W, elapsed, want);
  return out;
}

function slidingRetry(s: LimiterState, L: number, W: number, elapsed: number, want: number): number {
  const need = Math.min(want, L);
  const room = L - s.b - need;
  if (room >= 0 && s.c > 0) return Math.max(1, W - (room * W) / s.c - elapsed);
  // Wait for the next window, where this window's count becomes the weighted one.
  const into = s.b > 0 ? Math.max(0, W - ((L - need) * W) / s.b) : 0;
  return Math.max(1, W - elapsed + into);
}

/** a = tokens, b = time of the last refill (ms). Starts full; refills `limit` per `windowMs`. */
function tokenBucket(s: LimiterState, spec: LimitSpec, t: number, want: number, partial: boolean, out: Step): Step {
  const B = spec.burst;
  const rate = spec.limit / spec.windowMs;
  const fresh = Number.isNaN(s.a);
  let tokens = fresh ? B : Math.min(B, s.a + Math.max(0, t - s.b) * rate);
  const g = grant(tokens, want, partial);
  tokens -= g;
  s.a = tokens;
  s.b = fresh ? t : Math.max(t, s.b);
  const toFull = (B - tokens) / rate;
  s.expiresAt = t + toFull;
  out.granted = g;
  out.limit = B;
  out.remaining = Math.floor(tokens);
  out.resetMs = toFull;
  out.retryAfterMs = g > 0 ? 0 : Math.max(1, (Math.min(partial ? 1 : want, B) - tokens) / rate);
  return out;
}

/**
 * Generic cell rate algorithm (ITU-T I.371): a = theoretical arrival time in µs. One
 * token is emitted every T = windowMs / limit; up to `burst` may be taken at once.
 */
function gcra(s: LimiterState, spec: LimitSpec, nowMs: number, want: number, partial: boolean, out: Step): Step {
  const t = Math.round(nowMs * 1000);
  const T = emissionIntervalUs(spec);
  const B = spec.burst;
  const tat = Number.isNaN(s.a) ? t : Math.max(s.a, t);
  // Units that fit now: (t + B·T − tat) / T, an integer division on integers.
  const fit = Math.floor((t + B * T - tat) / T);
  const g = grant(fit, want, partial);
  s.a = tat + g * T;
  s.expiresAt = s.a / 1000;
  out.granted = g;
  out.limit = B;
  out.remaining = Math.max(0, fit - g);
  out.resetMs = (s.a - t) / 1000;
  const need = partial ? 1 : Math.min(want, B);
  out.retryAfterMs = g > 0 ? 0 : Math.max(1, (tat + need * T - B * T - t) / 1000);
  return out;
}

/** GCRA emission interval in whole µs (at least 1). */
export function emissionIntervalUs(spec: LimitSpec): number {
  return Math.max(1, Math.round((spec.windowMs * 1000) / spec.limit));
}
