import type { Algorithm, LimitSpec } from '../store/store.js';
import { formatDuration, parseDuration } from '../config/units.js';
import type { TierLimitConfig, TiersConfig } from './schema.js';

/** The limit-shaped part of a rate-limit config (also what a tier may override). */
export interface LimitFields {
  algorithm: Algorithm;
  limit?: number | undefined;
  window?: number | undefined;
  rate?: string | undefined;
  burst?: number | undefined;
}

/** `10/s` → { count: 10, perMs: 1000 }; `5/30s` → { count: 5, perMs: 30000 }. */
export function parseRate(rate: string): { count: number; perMs: number } | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)?\s*(ms|s|m|h|d)$/.exec(rate.trim());
  if (!m) return undefined;
  const perMs = parseDuration(`${m[2] ?? '1'}${m[3]}`);
  const count = Number(m[1]);
  if (perMs === undefined || perMs <= 0 || !(count > 0)) return undefined;
  return { count, perMs };
}

/**
 * Why these fields do not make a limit, or undefined when they do. Windows need `limit`
 * and `window`; a bucket or GCRA needs `rate`, or `limit` and `window`.
 */
export function limitProblem(f: LimitFields): string | undefined {
  const windowed = f.algorithm === 'fixed-window' || f.algorithm === 'sliding-window';
  if (windowed) {
    if (f.rate !== undefined) return `rate applies to token-bucket and gcra; ${f.algorithm} takes limit and window`;
    if (f.burst !== undefined) return `burst applies to token-bucket and gcra; ${f.algorithm} takes limit and window`;
    if (f.limit === undefined || f.window === undefined) return `${f.algorithm} needs limit and window`;
  } else {
    if (f.rate !== undefined && (f.limit !== undefined || f.window !== undefined)) return 'use either rate or limit + window, not both';
    if (f.rate === undefined && (f.limit === undefined || f.window === undefined)) return `${f.algorithm} needs rate (e.g. 10/s) or limit and window`;
    if (f.rate !== undefined && parseRate(f.rate) === undefined) return `rate '${f.rate}' is not a rate such as 10/s or 100/1m`;
  }
  if (f.window !== undefined && f.window <= 0) return 'window must be > 0';
  return undefined;
}

/** Compiles validated fields into a store `LimitSpec`. Throws on an invalid combination. */
export function compileSpec(f: LimitFields): LimitSpec {
  const problem = limitProblem(f);
  if (problem) throw new Error(problem);
  if (f.rate !== undefined) {
    const r = parseRate(f.rate)!;
    // A fractional count (0.5/s) becomes a whole unit over a longer period (1/2s).
    const scale = Number.isInteger(r.count) ? 1 : 1 / (r.count % 1 || 1);
    const limit = Math.round(r.count * scale);
    return { algorithm: f.algorithm, limit, windowMs: r.perMs * scale, burst: f.burst ?? Math.max(1, limit) };
  }
  return { algorithm: f.algorithm, limit: f.limit!, windowMs: f.window!, burst: f.burst ?? f.limit! };
}

/** Applies a tier's override to a policy's own fields. */
export function withTier(base: LimitFields, t: TierLimitConfig): LimitFields {
  // Without `rate`, a tier limit has `limit` (checked at load, see limits/semantics.ts).
  if (t.rate !== undefined) return { algorithm: base.algorithm, rate: t.rate, burst: t.burst ?? base.burst };
  if (base.rate !== undefined && t.window === undefined) {
    // The policy speaks in rate; the tier's `limit` replaces the rate's count.
    const r = parseRate(base.rate)!;
    return { algorithm: base.algorithm, rate: `${t.limit}/${formatDuration(r.perMs)}`, burst: t.burst ?? base.burst };
  }
  return { algorithm: base.algorithm, limit: t.limit, window: t.window ?? base.window, burst: t.burst ?? base.burst };
}

/**
 * Specs by tier for the policy `name`: the tiers that override it. Built at load, looked
 * up per request by the consumer's tier.
 */
export function tierSpecs<T>(name: string, tiers: TiersConfig | undefined, build: (t: TierLimitConfig) => T): Map<string, T> {
  const out = new Map<string, T>();
  for (const [tier, def] of Object.entries(tiers ?? {})) {
    const t = def.limits?.[name];
    if (t !== undefined) out.set(tier, build(t));
  }
  return out;
}

/** Seconds a policy's quota covers: the window, or for bucket/GCRA the time to refill the burst. */
export function windowSeconds(spec: LimitSpec): number {
  const ms = spec.algorithm === 'fixed-window' || spec.algorithm === 'sliding-window' ? spec.windowMs : (spec.burst * spec.windowMs) / spec.limit;
  return Math.max(1, Math.ceil(ms / 1000));
}

/** A readable default policy name: `100-per-1m`. */
export function defaultName(spec: LimitSpec): string {
  return `${spec.limit}-per-${formatDuration(spec.windowMs)}`;
}
