import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerState } from './circuit-breaker.js';
import { RetryBudget } from './retry-budget.js';
import { ConcurrencyLimiter } from './concurrency.js';
import { getCookie } from './keys.js';
import { compileExpect } from './health.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('circuit breaker', () => {
  const opts = { failureRatio: 0.5, minRequests: 4, window: 10_000, openFor: 40, halfOpenRequests: 2, consecutiveFailures: 0 };

  it('closed → open on the failure ratio → half-open after openFor → closed after its probes succeed', async () => {
    const states: BreakerState[] = [];
    const b = new CircuitBreaker(opts, (s) => states.push(s));
    for (const ok of [true, false, true]) b.record(ok);
    expect(b.state).toBe('closed'); // under minRequests
    b.record(false); // 2 of 4 failed
    expect(b.state).toBe('open');
    expect(b.allow()).toBe(false);
    expect(b.retryAfterMs()).toBeGreaterThan(0);
    await sleep(50);
    expect(b.allow()).toBe(true);
    expect(b.allow()).toBe(true);
    expect(b.allow()).toBe(false); // only halfOpenRequests probes
    b.record(true);
    b.record(true);
    expect(b.state).toBe('closed');
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('a failed probe reopens; consecutiveFailures opens without the ratio', async () => {
    const b = new CircuitBreaker({ ...opts, minRequests: 1000, consecutiveFailures: 3 });
    b.record(false);
    b.record(false);
    expect(b.state).toBe('closed');
    b.record(false);
    expect(b.state).toBe('open');
    await sleep(50);
    expect(b.allow()).toBe(true);
    b.record(false);
    expect(b.state).toBe('open');
    expect(b.status().opened).toBe(2);
  });
});

describe('retry budget', () => {
  it('allows minRetries plus ratio × requests per window', () => {
    const b = new RetryBudget(0.2, 2, 10_000);
    for (let i = 0; i < 100; i++) b.request();
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (b.tryRetry()) allowed++;
    expect(allowed).toBe(22);
    expect(b.refused).toBe(78);
  });
});

describe('concurrency limiter', () => {
  it('admits up to the limit, queues up to the queue size, refuses the rest; release hands the slot over', async () => {
    const lim = new ConcurrencyLimiter(1, 1, 30);
    const ran: string[] = [];
    expect(lim.admit(() => ran.push('a'), () => ran.push('a-failed'))).toBe('now');
    expect(lim.admit(() => ran.push('b'), () => ran.push('b-failed'))).toBe('queued');
    expect(lim.admit(() => ran.push('c'), () => ran.push('c-failed'))).toBe('full');
    lim.release();
    expect(ran).toEqual(['b']);
    expect(lim.admit(() => ran.push('d'), () => ran.push('d-failed'))).toBe('queued');
    await sleep(50);
    expect(ran).toEqual(['b', 'd-failed']);
    lim.release();
    expect(lim.active).toBe(0);
    expect(lim.shed).toBe(2);
  });
});

describe('helpers', () => {
  const cookies: [string | undefined, string, string | undefined][] = [
    ['a=1; pin=abc', 'pin', 'abc'],
    ['pin=abc;a=1', 'pin', 'abc'],
    ['xpin=1; pin="q"', 'pin', 'q'],
    ['a=1', 'pin', undefined],
    [undefined, 'pin', undefined],
  ];
  it.each(cookies)('getCookie(%j, %s) = %j', (header, name, want) => expect(getCookie(header, name)).toBe(want));

  it('compileExpect takes codes and ranges', () => {
    const ok = compileExpect([204, '200-202']);
    expect([200, 202, 204, 203, 500].map(ok)).toEqual([true, true, true, false, false]);
  });
});
