import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { HealthCheckConfig, OutlierConfig } from './schema.js';
import type { Target } from './target.js';

/** Passive detection defaults: on even when `outlierDetection:` is not written. */
export const DEFAULT_OUTLIER: Required<OutlierConfig> = { consecutiveErrors: 5, on5xx: true, baseEjection: 10_000, maxEjection: 300_000 };

/** What health tracking tells the upstream: a target's availability may have changed. */
export type HealthChange = (target: Target, reason: string) => void;

/**
 * Passive outlier detection (Envoy's consecutive-errors detector): a target whose real
 * traffic fails `consecutiveErrors` times in a row is ejected for `baseEjection × n`
 * (n = its ejection count, capped at `maxEjection`), then returns by itself. Any success
 * resets the run. Everything here is a few field updates per attempt, no allocation.
 *
 * @example
 *   const p = new PassiveHealth(DEFAULT_OUTLIER, onChange);
 *   p.failure(target);  // connect error, reset, timeout or (with on5xx) a 5xx
 *   p.success(target);
 */
export class PassiveHealth {
  readonly options: Required<OutlierConfig>;
  readonly #onChange: HealthChange;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(options: Required<OutlierConfig>, onChange: HealthChange) {
    this.options = options;
    this.#onChange = onChange;
  }

  success(t: Target): void {
    t.consecutiveFailures = 0;
  }

  /** A failed attempt; `is5xx` failures count only with `on5xx`. */
  failure(t: Target, is5xx: boolean): void {
    const o = this.options;
    if (o.consecutiveErrors === 0 || (is5xx && !o.on5xx)) return;
    if (++t.consecutiveFailures < o.consecutiveErrors || t.ejectedUntil !== 0) return;
    t.ejections++;
    const ms = Math.min(o.baseEjection * t.ejections, o.maxEjection);
    t.ejectedUntil = performance.now() + ms;
    t.consecutiveFailures = 0;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      t.ejectedUntil = 0;
      this.#onChange(t, 'ejection ended');
    }, ms);
    timer.unref();
    this.#timers.add(timer);
    this.#onChange(t, `ejected for ${ms}ms after ${o.consecutiveErrors} consecutive failures`);
  }

  close(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}

/** Compiles `expect: [200, "200-299"]` into a status predicate. */
export function compileExpect(expect: readonly (number | string)[]): (status: number) => boolean {
  const ranges = expect.map((e) => {
    if (typeof e === 'number') return [e, e] as const;
    const [a, b] = e.split('-').map(Number) as [number, number];
    return [a, b] as const;
  });
  return (s) => ranges.some(([a, b]) => s >= a && s <= b);
}

/**
 * Active health checks: each target is probed every `interval` (`GET path` over its own
 * pooled connections, at most `timeout`). `unhealthyAfter` failures in a row take it out
 * of rotation, `healthyAfter` passes bring it back. Timers are unref'd and stop on close.
 *
 * @example
 *   const hc = new ActiveHealth(cfg, () => upstream.targets, onChange, logger);
 *   hc.start(); … hc.close();
 */
export class ActiveHealth {
  readonly #cfg: HealthCheckConfig;
  readonly #targets: () => readonly Target[];
  readonly #onChange: HealthChange;
  readonly #expect: (status: number) => boolean;
  readonly #streak = new WeakMap<Target, number>();
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(cfg: HealthCheckConfig, targets: () => readonly Target[], onChange: HealthChange, logger: Logger) {
    this.#cfg = cfg;
    this.#targets = targets;
    this.#onChange = onChange;
    this.#expect = compileExpect(cfg.expect);
    this.#logger = logger;
  }

  /** Probes now, then every interval. */
  start(): void {
    const round = () => {
      if (this.#closed) return;
      void Promise.all(this.#targets().map((t) => this.probe(t))).finally(() => {
        if (this.#closed) return;
        this.#timer = setTimeout(round, this.#cfg.interval);
        this.#timer.unref();
      });
    };
    round();
  }

  /** One probe of one target; updates its streak and health. */
  async probe(t: Target): Promise<void> {
    let ok = false;
    let why = '';
    try {
      const res = await t.pool.request({
        method: this.#cfg.method,
        path: t.basePath + this.#cfg.path,
        headers: { 'user-agent': 'gantry-health-check' },
        signal: AbortSignal.timeout(this.#cfg.timeout),
      });
      await res.body.dump();
      ok = this.#expect(res.statusCode);
      if (!ok) why = `status ${res.statusCode}`;
    } catch (e) {
      why = (e as { code?: string }).code ?? (e as Error).name;
    }
    if (this.#closed) return;
    // The streak counts passes as positive and failures as negative numbers.
    const prev = this.#streak.get(t) ?? 0;
    const streak = ok ? Math.max(prev, 0) + 1 : Math.min(prev, 0) - 1;
    this.#streak.set(t, streak);
    if (t.activeHealthy && !ok && -streak >= this.#cfg.unhealthyAfter) {
      t.activeHealthy = false;
      this.#logger.debug({ target: t.url, why }, 'health check failing');
      this.#onChange(t, `health check failed ${-streak} times (${why})`);
    } else if (!t.activeHealthy && ok && streak >= this.#cfg.healthyAfter) {
      t.activeHealthy = true;
      this.#onChange(t, `health check passed ${streak} times`);
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}
