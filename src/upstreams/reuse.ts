import type { UpstreamConfig } from '../config/schema.js';
import { Upstream, type UpstreamDeps } from './upstream.js';

/** The upstreams one runtime holds, to hand back on retire. */
export type UpstreamLease = Set<string>;

/**
 * Upstreams shared by the config versions that define them identically. A reload that
 * leaves an upstream's config unchanged gets the same `Upstream` object back: its health
 * verdicts, outlier ejections, circuit-breaker state, retry budget, balancer state and
 * warm pools carry over, and its health checker keeps its rhythm. An upstream closes when
 * the last runtime holding it retires.
 *
 * @example
 *   const lease: UpstreamLease = new Set();
 *   const map = cache.acquire(config.upstreams, deps, lease);  // reuse or build
 *   await cache.release(lease);                                // on retire
 */
export class UpstreamCache {
  readonly #entries = new Map<string, { upstream: Upstream; refs: number }>();

  acquire(configs: Record<string, UpstreamConfig>, deps: UpstreamDeps, lease: UpstreamLease): Map<string, Upstream> {
    const out = new Map<string, Upstream>();
    for (const [name, cfg] of Object.entries(configs)) {
      const key = `${name}\u0000${deps.baseDir}\u0000${JSON.stringify(cfg)}`;
      let e = this.#entries.get(key);
      if (e === undefined) {
        e = { upstream: new Upstream(name, cfg, deps), refs: 0 };
        this.#entries.set(key, e);
      }
      if (!lease.has(key)) {
        lease.add(key);
        e.refs++;
      }
      out.set(name, e.upstream);
    }
    return out;
  }

  /** Hands back a runtime's upstreams; those no runtime holds any more are closed. */
  async release(lease: UpstreamLease): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const key of lease) {
      const e = this.#entries.get(key);
      if (!e || --e.refs > 0) continue;
      this.#entries.delete(key);
      closing.push(e.upstream.close());
    }
    lease.clear();
    await Promise.all(closing);
  }

  get size(): number {
    return this.#entries.size;
  }
}
