import type { UpstreamConfig } from '../config/schema.js';
import { RefCache, type RefLease } from '../util/ref-cache.js';
import { BuildError } from '../config/build-error.js';
import { readUpstreamTls, type UpstreamTlsMaterial } from './tls.js';
import { Upstream, type UpstreamDeps } from './upstream.js';

/** The upstreams one runtime holds, to hand back on retire. */
export type UpstreamLease = RefLease;

/**
 * Upstreams shared by the config versions that define them identically. A reload that
 * leaves an upstream's config unchanged gets the same `Upstream` object back: its health
 * verdicts, outlier ejections, circuit-breaker state, retry budget, balancer state and
 * warm pools carry over, and its health checker keeps its rhythm. An upstream closes when
 * the last runtime holding it retires.
 *
 * @example
 *   const lease: UpstreamLease = new RefLease();
 *   const map = cache.acquire(config.upstreams, deps, lease);  // reuse or build
 *   await cache.release(lease);                                // on retire
 */
export class UpstreamCache {
  readonly #entries = new RefCache<string, Upstream>((upstream) => upstream.close());

  acquire(configs: Record<string, UpstreamConfig>, deps: UpstreamDeps, lease: UpstreamLease): Map<string, Upstream> {
    const out = new Map<string, Upstream>();
    for (const [name, cfg] of Object.entries(configs)) {
      // The upstream's policies belong to the runtime (built per config version), not to the
      // upstream object: changing them keeps its health, breakers and pools.
      const { policies: _policies, ...own } = cfg;
      // The TLS files are read now: a reload after a certificate rotation builds a new upstream.
      let tls: UpstreamTlsMaterial | undefined;
      try {
        tls = readUpstreamTls(cfg.tls, deps.baseDir);
      } catch (e) {
        throw BuildError.within(['upstreams', name, 'tls'], e);
      }
      const key = `${name}\u0000${deps.baseDir}\u0000${JSON.stringify(own)}\u0000${tls?.key ?? ''}`;
      out.set(name, lease.add(this.#entries.acquire(key, () => new Upstream(name, cfg, deps, tls))));
    }
    return out;
  }

  /** Hands back a runtime's upstreams; those no runtime holds any more are closed. */
  release(lease: UpstreamLease): Promise<void> {
    return lease.release();
  }

  get size(): number {
    return this.#entries.size;
  }
}
