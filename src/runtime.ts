import type { Logger } from 'pino';
import type { LoadedConfig } from './config/load.js';
import { Server, type GatewayConfig, type ServerConfig } from './config/schema.js';
import { createPolicies, type PolicyInstance } from './pipeline/pipeline.js';
import { ConsumerPolicies } from './pipeline/consumer-policies.js';
import { compileRouteMatch, type CompiledRoute } from './routing/route.js';
import { Router } from './routing/router.js';
import { createHandler } from './handlers/index.js';
import { type PoolCache, type Upstream } from './upstreams/upstream.js';
import { compileCidrs, schemaDefaults } from './config/validate.js';
import type { ForwardingOptions } from './proxy/headers.js';
import type { StoreCache, StoreLease } from './store/index.js';
import type { Store } from './store/store.js';
import { AccessLogWriter } from './observability/access-log.js';
import { Tracing } from './observability/tracing.js';
import type { UpstreamCache, UpstreamLease } from './upstreams/reuse.js';
import { RefLease } from './util/ref-cache.js';
import { compileTenantFrom, type TenantResolver } from './tenancy/tenant.js';
import type { WorkTracker } from './pipeline/work.js';
import { BuildError } from './config/build-error.js';

/** Server settings with every default applied. */
export type ServerSettings = Required<ServerConfig>;

/** Settings of a config without `server:`: the schema's defaults. */
const SERVER_DEFAULTS: Readonly<ServerSettings> = schemaDefaults(Server);

/**
 * Everything one config version compiles to: routers per listener, upstreams with their
 * pools, policy instances. Requests capture the runtime they started on, so a reload swaps
 * one reference and in-flight requests finish on the old one.
 */
export class Runtime {
  readonly loaded: LoadedConfig;
  readonly config: GatewayConfig;
  readonly version: number;
  readonly server: ServerSettings;
  readonly routes: readonly CompiledRoute[];
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly forwarding: ForwardingOptions;
  /** The config's `store:` (kept across reloads while the config keeps it). */
  readonly store: Store;
  /** `tenantFrom:` compiled, or undefined (tenant only from consumers). */
  readonly resolveTenant: TenantResolver | undefined;
  readonly #storeLease: StoreLease;
  /** Compiled access log, null when off. */
  readonly accessLog: AccessLogWriter | null;
  /** Tracer, null when `telemetry.tracing` is absent (the data path then skips all trace work). */
  readonly tracing: Tracing | null;
  readonly #routers: Map<string, Router>;
  readonly #policies: readonly PolicyInstance[];
  /** When this config version was built (status output). */
  readonly loadedAt = new Date().toISOString();
  /** Hands the upstreams back to the gateway's UpstreamCache (set by `build`). */
  #releaseUpstreams: () => Promise<void> = () => Promise.resolve();
  /** Hands the tracer back (shared by config versions with equal tracing settings; set by `build`). */
  #tracingLease = new RefLease();
  /** Requests currently being served on this runtime, and background work they started (subrequests). */
  inFlight = 0;
  /** Counts background work of this runtime's requests (set by the gateway; requests carry it as `ctx.work`). */
  work: WorkTracker | undefined = undefined;
  /** Set by the first `retire`: every later call waits for the same release. */
  #retired: Promise<void> | undefined = undefined;
  #onIdle: (() => void) | undefined;

  private constructor(
    loaded: LoadedConfig,
    version: number,
    routes: CompiledRoute[],
    upstreams: Map<string, Upstream>,
    forwarding: ForwardingOptions,
    policies: PolicyInstance[],
    storeLease: StoreLease,
    accessLog: AccessLogWriter | null,
    tracing: Tracing | null,
  ) {
    this.#storeLease = storeLease;
    this.store = storeLease.store;
    this.resolveTenant = compileTenantFrom(loaded.config.tenantFrom);
    this.loaded = loaded;
    this.config = loaded.config;
    this.version = version;
    this.server = { ...SERVER_DEFAULTS, ...loaded.config.server };
    this.routes = routes;
    this.upstreams = upstreams;
    this.forwarding = forwarding;
    this.accessLog = accessLog;
    this.tracing = tracing;
    this.#policies = policies;
    this.#routers = new Map();
    for (const l of loaded.config.listeners) {
      this.#routers.set(l.name, new Router(routes.filter((r) => r.listeners === null || r.listeners.includes(l.name))));
    }
  }

  /** Compiles a validated config. Throws (with the route or policy named) when a factory fails. */
  static async build(loaded: LoadedConfig, version: number, pools: PoolCache, logger: Logger, stores: StoreCache, upstreamCache: UpstreamCache): Promise<Runtime> {
    const config = loaded.config;
    const server = { ...SERVER_DEFAULTS, ...config.server };
    const forwarding: ForwardingOptions = {
      trusted: compileCidrs(server.trustedProxies),
      anyTrusted: server.trustedProxies.length > 0,
      via: server.via ? `1.1 ${server.via}` : '',
      viaName: server.via,
    };
    // Upstreams whose config did not change are the same objects as before the reload:
    // health, breakers and budgets carry over (upstreams/reuse.ts).
    const upstreamLease: UpstreamLease = new RefLease();
    const upstreamDeps = { pools, logger, baseDir: loaded.baseDir };
    const releaseUpstreams = () => upstreamCache.release(upstreamLease);
    let upstreams: Map<string, Upstream>;
    let storeLease: StoreLease;
    try {
      upstreams = upstreamCache.acquire(config.upstreams, upstreamDeps, upstreamLease);
      await Promise.all([...upstreams.entries()].map(([name, u]) => u.ready.catch((e: unknown) => Promise.reject(BuildError.within(['upstreams', name], e)))));
      storeLease = await stores.acquire(config.store, logger).catch((e: unknown) => Promise.reject(BuildError.within(['store'], e)));
    } catch (e) {
      await releaseUpstreams();
      throw e;
    }
    const deps = { registry: loaded.registry, config, logger, baseDir: loaded.baseDir, store: storeLease.store, clock: stores.clock };
    const all: PolicyInstance[] = [];
    let accessLog: AccessLogWriter | null = null;
    const tracingLease = new RefLease();
    try {
      // Each failure names its config path (BuildError): the reload's issue points at it.
      const global = await createPolicies(config.policies, undefined, deps, ['policies'], all);
      // Upstream policies: one instance per upstream, shared by the routes that target it.
      const ofUpstream = new Map<string, PolicyInstance[]>();
      for (const [name, uc] of Object.entries(config.upstreams)) {
        if (uc.policies !== undefined && uc.policies.length > 0) ofUpstream.set(name, await createPolicies(uc.policies, undefined, deps, ['upstreams', name, 'policies'], all));
      }
      const ofConsumer = new Map<string, PolicyInstance[]>();
      for (const [i, cc] of config.consumers.entries()) {
        if (cc.policies !== undefined && cc.policies.length > 0) ofConsumer.set(cc.id, await createPolicies(cc.policies, undefined, deps, ['consumers', i, 'policies'], all));
      }
      const consumerPolicies = new ConsumerPolicies(ofConsumer);
      const routes: CompiledRoute[] = [];
      for (const [i, rc] of config.routes.entries()) {
        const own = await createPolicies(rc.policies, rc.name, deps, ['routes', i, 'policies'], all);
        const upstream = rc.upstream === undefined ? [] : (ofUpstream.get(rc.upstream) ?? []);
        let handler: CompiledRoute['handler'];
        try {
          handler = createHandler(rc, { config, upstreams, forwarding, logger, baseDir: loaded.baseDir, store: storeLease.store });
        } catch (e) {
          throw BuildError.within(['routes', i], e, `route "${rc.name}"`);
        }
        const pipeline = consumerPolicies.compose([...global, ...upstream, ...own]);
        routes.push({ ...compileRouteMatch(rc, i), pipeline, handler });
        // Endpoints the target adds (async: job status), under the route's name and policies.
        for (const extra of handler.routes ?? []) routes.push({ ...compileRouteMatch({ ...rc, match: extra.match }, i), pipeline, handler: extra.handler });
      }
      try {
        accessLog = AccessLogWriter.compile(config.log?.access, logger, loaded.baseDir);
      } catch (e) {
        // Its messages start with the setting they are about (`log.access.output: cannot open …`).
        const m = /^log\.access\.output: (.*)$/s.exec(e instanceof Error ? e.message : '');
        throw m ? new BuildError(['log', 'access', 'output'], m[1]!, { cause: e }) : BuildError.within(['log', 'access'], e);
      }
      const tracing = await Tracing.acquire(config.telemetry?.tracing, tracingLease).catch((e: unknown) => Promise.reject(BuildError.within(['telemetry', 'tracing'], e)));
      const rt = new Runtime(loaded, version, routes, upstreams, forwarding, all, storeLease, accessLog, tracing);
      rt.#releaseUpstreams = releaseUpstreams;
      rt.#tracingLease = tracingLease;
      return rt;
    } catch (e) {
      accessLog?.close();
      await tracingLease.release();
      await closePolicies(all, logger);
      await storeLease.release();
      await releaseUpstreams();
      throw e;
    }
  }

  router(listener: string): Router | undefined {
    return this.#routers.get(listener);
  }

  /**
   * Marks this runtime replaced; once its last request finishes its policies close and
   * its pools are released (pools the new config still uses stay open). Every call returns
   * the same promise: a second caller (a drain, then close) also waits for the release.
   */
  retire(logger: Logger): Promise<void> {
    if (this.#retired !== undefined) return this.#retired;
    this.#retired = new Promise((resolve) => {
      const close = () => {
        for (const r of this.routes) r.handler.close?.();
        void closePolicies(this.#policies, logger)
          .then(() => this.#storeLease.release())
          .then(() => {
            this.accessLog?.close();
            return this.#tracingLease.release();
          })
          .then(() => this.#releaseUpstreams())
          // A failed release must not leave a drain waiting forever.
          .catch((e: unknown) => logger.warn({ err: e, version: this.version }, 'releasing a retired config version failed'))
          .then(resolve);
      };
      if (this.inFlight === 0) close();
      else this.#onIdle = close;
    });
    return this.#retired;
  }

  /** Called when a request on this runtime ends. */
  requestDone(): void {
    if (--this.inFlight === 0 && this.#retired !== undefined && this.#onIdle) {
      const f = this.#onIdle;
      this.#onIdle = undefined;
      f();
    }
  }
}

async function closePolicies(list: readonly PolicyInstance[], logger: Logger): Promise<void> {
  await Promise.all(
    list.map(async (p) => {
      try {
        await p.hooks.close?.();
      } catch (e) {
        logger.warn({ err: e, policy: p.name }, 'policy close failed');
      }
    }),
  );
}
