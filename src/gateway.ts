import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Logger } from 'pino';
import { loadConfig, type ConfigFile, type LoadedConfig } from './config/load.js';
import { formatIssue, type ConfigIssue } from './config/source.js';
import type { ListenerConfig } from './config/schema.js';
import { Runtime } from './runtime.js';
import { PoolCache } from './upstreams/upstream.js';
import { createHttpServer, earlyError, limitsOf, type ListenerLimits } from './listeners/http.js';
import { createHttpsServer } from './listeners/https.js';
import { compileListenerTls, ServerTls, type CompiledTls } from './listeners/tls.js';
import type { Server as TlsServer } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';
import type { ListenerInfo, ListenerServer } from './listeners/listener-info.js';
import { RequestContext } from './pipeline/context.js';
import { respondError, runRequestPhase } from './pipeline/respond.js';
import { normalizePath, splitTarget, targetAuthority } from './routing/normalize.js';
import { hostProblem } from './listeners/host.js';
import { hasRequestBody } from './http/headers.js';
import { clientAddress } from './proxy/headers.js';
import { createLogger, flushLogger } from './observability/logger.js';
import { flushAccessLogs } from './observability/access-log.js';
import { metrics } from './observability/metrics.js';
import { logGate } from './observability/logger.js';
import { compileCidrs } from './config/validate.js';
import { acceptProxyProtocol } from './listeners/proxy-protocol.js';
import { UpstreamCache } from './upstreams/reuse.js';
import { StoreCache } from './store/index.js';
import { tenantOf } from './tenancy/tenant.js';
import { systemClock, type Clock } from './store/clock.js';
import type { AdminServer } from './admin/server.js';
import { LocalBackend, prepareAdmin } from './admin/local.js';
import { BuildError, buildIssue, hostPort, reasonOf } from './config/build-error.js';
import { purgeZones } from './policies/cache/zones.js';
import type { PurgeSelector } from './policies/cache/store.js';
import { BackgroundWork } from './pipeline/work.js';
import type { Duplex } from 'node:stream';
import { TunnelSet, type UpgradeRequest } from './proxy/tunnel.js';
import { preflightRoute } from './policies/cors/route.js';

type H2Module = typeof import('./listeners/h2.js');
/** HTTP/2 support (node:http2, ~5 MB resident) is loaded only once a config has an h2 or h2c listener. */
let h2: H2Module | undefined;

interface ListenerState {
  readonly key: string;
  readonly config: ListenerConfig;
  readonly info: ListenerInfo;
  readonly limits: ListenerLimits;
  readonly server: ListenerServer;
  /** https and h2: the server's TLS, swapped in place by reloads. */
  readonly tls?: ServerTls;
}

export interface GatewayOptions {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Wall clock for limits and quotas (tests move it to calendar boundaries). */
  clock?: Clock;
  /** Serve the config's `admin` listener from this process (default true; cluster workers: false). */
  admin?: boolean;
  /** Build this text instead of reading `configPath` (cluster workers: the text the primary read). */
  files?: readonly ConfigFile[];
  /** Version number of the first config (cluster workers: the version the primary serves). Default 1. */
  version?: number;
}

/** How many reload outcomes `recentReloads` keeps. */
const RECENT_RELOADS = 10;

/** Outcome of the last reload, for status output. */
export interface LastReload {
  at: string;
  ok: boolean;
  /** Version and hash now serving, after a successful reload. */
  version?: number;
  hash?: string;
  issues?: string[];
}

export type ReloadResult = { ok: true; version: number } | { ok: false; issues: ConfigIssue[] };

/** A config built and its new sockets bound, not serving yet: `commit` swaps it in, `abort` discards it. */
interface PreparedConfig {
  readonly loaded: LoadedConfig;
  /** Throws (having undone everything) when a listener changed on the same port cannot bind. */
  commit(at: string): Promise<void>;
  abort(): Promise<void>;
}

/**
 * The gateway process: build → listen → reload (atomic swap) → drain → stop.
 *
 * @example
 *   const gw = await Gateway.start('gateway.yaml');
 *   await gw.reload();   // re-reads the file; the old config keeps serving if it is bad
 *   await gw.drain();    // stop accepting, finish in-flight, close pools
 */
export class Gateway {
  readonly logger: Logger;
  readonly configPath: string;
  readonly #pools = new PoolCache();
  readonly #stores: StoreCache;
  readonly #listeners = new Map<string, ListenerState>();
  /** Upstreams kept across reloads while their config is unchanged (health, breakers, budgets). */
  readonly #upstreams = new UpstreamCache();
  readonly #env: NodeJS.ProcessEnv | undefined;
  #runtime!: Runtime;
  #version = 0;
  #inFlight = 0;
  /** Subrequests and background revalidations, which may outlive their client requests. */
  readonly #work = new BackgroundWork(() => this.#onIdle?.());
  #draining = false;
  /** Open WebSocket tunnels (each also counts in `#inFlight` until its socket closes). */
  readonly #tunnels = new TunnelSet(() => this.#onIdle?.());
  #onIdle: (() => void) | undefined;
  #reloading: Promise<ReloadResult> | undefined;
  #queuedReload: Promise<ReloadResult> | undefined;
  #lastReload: LastReload | undefined;
  /** The last reloads, newest first (at most `RECENT_RELOADS`), for the dashboard. */
  #recentReloads: LastReload[] = [];
  /** Cluster workers: the config prepared by `prepare`, waiting for `commitPrepared`/`abortPrepared`. */
  #prepared: PreparedConfig | undefined;
  readonly #withAdmin: boolean;
  #admin: AdminServer | undefined;
  /** Removes this gateway from the in-flight gauges (once stopped). */
  #untrackMetrics: () => void = () => {};

  private constructor(configPath: string, logger: Logger, env: NodeJS.ProcessEnv | undefined, clock: Clock, withAdmin: boolean) {
    this.#stores = new StoreCache(clock);
    this.configPath = configPath;
    this.logger = logger;
    this.#env = env;
    this.#withAdmin = withAdmin;
  }

  /** Loads the config, builds it and binds every listener. Throws with all config errors. */
  static async start(configPath: string, options: GatewayOptions = {}): Promise<Gateway> {
    const result = await loadConfig(configPath, { env: options.env, files: options.files });
    if (!result.ok) throw new ConfigError(result.issues);
    const logger = options.logger ?? createLogger({ level: result.loaded.config.log?.level });
    const gw = new Gateway(configPath, logger, options.env, options.clock ?? systemClock, options.admin !== false);
    for (const w of result.loaded.warnings) logger.warn(formatIssue(w));
    try {
      gw.#version = options.version ?? 1;
      gw.#runtime = await Runtime.build(result.loaded, gw.#version, gw.#pools, logger, gw.#stores, gw.#upstreams);
      gw.#runtime.work = gw.#work.trackerFor(gw.#runtime);
      await (await gw.#prepareSockets(result.loaded)).commit();
    } catch (e) {
      // Nothing may keep the process alive after a failed start: a Redis client, a pool.
      if (gw.#runtime !== undefined) await gw.#runtime.retire(logger);
      await gw.#pools.closeAll();
      await gw.#stores.closeAll();
      // A port taken, a file gone: reported like a config error, at the config path that failed.
      if (e instanceof BuildError) throw new ConfigError([buildIssue(result.loaded.source, e)]);
      throw e;
    }
    metrics.reloadResult(true, { version: gw.#version, hash: result.loaded.hash });
    gw.#untrackMetrics = metrics.trackInFlight(gw);
    logger.info({ version: gw.#version, hash: result.loaded.hash, routes: gw.#runtime.routes.length, listeners: gw.addresses() }, 'gateway started');
    return gw;
  }

  /** The runtime serving new requests. */
  get runtime(): Runtime {
    return this.#runtime;
  }

  /** Client requests being served right now, across config versions (background work not included). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Subrequests and background revalidations running right now, across config versions. */
  get background(): number {
    return this.#work.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  get lastReload(): LastReload | undefined {
    return this.#lastReload;
  }

  /** The last reload outcomes, newest first (at most 10). */
  get recentReloads(): readonly LastReload[] {
    return this.#recentReloads;
  }

  #noteReload(r: LastReload): void {
    this.#lastReload = r;
    this.#recentReloads = [r, ...this.#recentReloads.slice(0, RECENT_RELOADS - 1)];
  }

  /**
   * Removes cached responses from this gateway's cache zones: one key (with its variants),
   * every key under a prefix, or every entry tagged so. Resolves with how many were removed.
   *
   * @example
   *   await gw.purgeCache({ prefix: '/api/products/' });
   *   await gw.purgeCache({ tag: 'product-42' }, 'catalog');   // one zone only
   */
  purgeCache(selector: PurgeSelector, zone?: string): Promise<number> {
    return purgeZones(this.#runtime.loaded.baseDir, selector, zone);
  }

  /** Bound addresses by listener name (`port: 0` listeners report their real port). */
  addresses(): Record<string, { host: string; port: number }> {
    const out: Record<string, { host: string; port: number }> = {};
    for (const [name, l] of this.#listeners) {
      const a = l.server.address() as AddressInfo | null;
      if (a) out[name] = { host: a.address, port: a.port };
    }
    return out;
  }

  port(listener?: string): number {
    const addrs = this.addresses();
    const a = listener ? addrs[listener] : Object.values(addrs)[0];
    if (!a) throw new Error(`no listener ${listener ?? ''}`);
    return a.port;
  }

  /**
   * Re-reads and rebuilds the config. The new config is validated and built completely
   * before it replaces the old; on any error the old one keeps serving. Reloads run one at
   * a time, and requests for a reload while one is queued share the queued one (a burst
   * of SIGHUPs or file events builds at most two configs).
   */
  reload(): Promise<ReloadResult> {
    if (this.#queuedReload !== undefined) return this.#queuedReload;
    const run = (): Promise<ReloadResult> => {
      this.#queuedReload = undefined;
      return this.#reloadNow();
    };
    const p = (this.#reloading ?? Promise.resolve()).then(run, run);
    this.#queuedReload = p;
    this.#reloading = p;
    return p;
  }

  async #reloadNow(): Promise<ReloadResult> {
    const at = new Date().toISOString();
    if (this.#draining) return this.#failed(at, [drainingIssue(this.configPath)], 'reload refused: draining');
    const result = await loadConfig(this.configPath, { env: this.#env });
    if (!result.ok) return this.#failed(at, result.issues, 'config reload rejected; the previous config keeps serving');
    try {
      await (await this.#prepare(result.loaded, this.#version + 1)).commit(at);
    } catch (e) {
      return this.#buildFailed(at, result.loaded, e);
    }
    return { ok: true, version: this.#version };
  }

  /**
   * Cluster workers, first phase of a reload: builds the primary's config text as `version`
   * and binds its new sockets without serving it. `commitPrepared` then swaps it in, or
   * `abortPrepared` discards it (closing what it opened): every worker switches only once
   * all of them could build the config. Nothing is recorded as a reload until then.
   *
   * @example
   *   const r = await gw.prepare(loaded.files, 3);
   *   if (r.ok) await gw.commitPrepared(); else await gw.abortPrepared(r.issues.map(formatIssue));
   */
  async prepare(files: readonly ConfigFile[], version: number): Promise<ReloadResult> {
    await this.#discardPrepared();
    if (this.#draining) return { ok: false, issues: [drainingIssue(this.configPath)] };
    const result = await loadConfig(this.configPath, { env: this.#env, files });
    if (!result.ok) return { ok: false, issues: result.issues };
    try {
      this.#prepared = await this.#prepare(result.loaded, version);
    } catch (e) {
      const issue = buildIssue(result.loaded.source, e);
      this.logger.error({ err: e, issues: [formatIssue(issue)] }, 'config could not be built; the previous config keeps serving');
      return { ok: false, issues: [issue] };
    }
    return { ok: true, version };
  }

  /** Cluster workers, second phase: serves the config `prepare` built. */
  async commitPrepared(): Promise<ReloadResult> {
    const at = new Date().toISOString();
    const p = this.#prepared;
    this.#prepared = undefined;
    if (p === undefined) return this.#failed(at, [{ file: this.configPath, line: 0, path: '', message: 'no prepared config to commit', severity: 'error' }], 'reload commit without a prepared config');
    try {
      await p.commit(at);
    } catch (e) {
      return this.#buildFailed(at, p.loaded, e);
    }
    return { ok: true, version: this.#version };
  }

  /** Cluster workers: discards the prepared config (if any) and records the reload as failed with `issues`. */
  async abortPrepared(issues: string[]): Promise<void> {
    await this.#discardPrepared();
    this.#reloadFailed(issues);
  }

  async #discardPrepared(): Promise<void> {
    const p = this.#prepared;
    this.#prepared = undefined;
    await p?.abort();
  }

  #failed(at: string, issues: ConfigIssue[], msg: string, err?: unknown): ReloadResult {
    this.#noteReload({ at, ok: false, issues: issues.map(formatIssue) });
    this.logger.error({ err, issues: issues.map(formatIssue) }, msg);
    metrics.reloadResult(false);
    return { ok: false, issues };
  }

  /** The operator sees the config path and the reason; the log keeps the error itself. */
  #buildFailed(at: string, loaded: LoadedConfig, e: unknown): ReloadResult {
    return this.#failed(at, [buildIssue(loaded.source, e)], 'config reload failed; the previous config keeps serving', e);
  }

  /**
   * Builds `loaded` as config `version` and binds the sockets it adds; the current config
   * keeps serving until `commit`. On a failure here nothing is left open.
   */
  async #prepare(loaded: LoadedConfig, version: number): Promise<PreparedConfig> {
    const next = await Runtime.build(loaded, version, this.#pools, this.logger, this.#stores, this.#upstreams);
    let sockets: SocketChange;
    try {
      sockets = await this.#prepareSockets(loaded);
    } catch (e) {
      // A runtime built but never swapped in holds pools, stores and policy resources.
      void next.retire(this.logger);
      throw e;
    }
    return {
      loaded,
      commit: async (at) => {
        try {
          await sockets.commit();
        } catch (e) {
          void next.retire(this.logger);
          throw e;
        }
        this.#swap(next, loaded, at);
      },
      abort: async () => {
        await sockets.abort();
        await next.retire(this.logger);
      },
    };
  }

  /** Serves `next`; the old runtime retires once its last request ends. */
  #swap(next: Runtime, loaded: LoadedConfig, at: string): void {
    const old = this.#runtime;
    next.work = this.#work.trackerFor(next);
    this.#runtime = next;
    this.#version = next.version;
    this.#noteReload({ at, ok: true, version: next.version, hash: loaded.hash });
    for (const w of loaded.warnings) this.logger.warn(formatIssue(w));
    this.logger.info({ version: next.version, hash: loaded.hash, routes: next.routes.length }, 'config reloaded');
    metrics.reloadResult(true, { version: next.version, hash: loaded.hash });
    // In-flight requests hold `old`; it closes what only it uses once the last one ends.
    void old.retire(this.logger).then(() => this.#forgetRemoved(old));
  }

  /**
   * Records a reload that failed outside this process (in cluster mode, another worker or
   * the primary could not take the config) as this gateway's last reload: status and
   * metrics show it.
   */
  #reloadFailed(issues: string[]): void {
    this.#noteReload({ at: new Date().toISOString(), ok: false, issues });
    metrics.reloadResult(false);
  }

  /**
   * Binds what a (re)loaded config adds, the admin listener's new socket included; `commit`
   * closes what it removes, `abort` closes what was bound: a reload that cannot bind leaves
   * the sockets as they were.
   */
  async #prepareSockets(loaded: LoadedConfig): Promise<SocketChange> {
    const admin = this.#withAdmin ? await prepareAdmin(this.#admin, loaded.config.admin, new LocalBackend(this), this.logger) : undefined;
    let listeners: SocketChange;
    try {
      listeners = await this.#prepareListeners(loaded);
    } catch (e) {
      await admin?.abort();
      throw e;
    }
    return {
      commit: async () => {
        try {
          await listeners.commit();
        } catch (e) {
          await admin?.abort();
          throw e;
        }
        if (admin === undefined) return;
        await admin.commit();
        this.#admin = admin.server;
      },
      abort: async () => {
        await listeners.abort();
        await admin?.abort();
      },
    };
  }

  /** Bound port of the admin listener, or undefined when there is none in this process. */
  get adminPort(): number | undefined {
    return this.#admin?.port;
  }

  /** Drops metric series of routes and upstream targets that `old` had and the serving config does not. */
  #forgetRemoved(old: Runtime): void {
    const now = this.#runtime;
    const names = new Set(now.routes.map((r) => r.name));
    metrics.forgetRoutes(old.routes.filter((r) => !names.has(r.name)).map((r) => r.name));
    const current = new Map<string, string[]>();
    for (const [name, u] of now.upstreams) current.set(name, u.targets.map((t) => t.origin));
    for (const name of old.upstreams.keys()) if (!current.has(name)) metrics.forgetUpstream(name);
    metrics.forgetTargets(current);
  }

  /**
   * Starts listeners the config adds and (on commit) stops those it removes; a listener
   * whose name, address, protocol and limits are unchanged keeps its socket (no refused
   * connections during a reload). New sockets are bound before any old one closes, so a
   * listener that cannot bind (port taken, certificate file gone) leaves every listener as
   * it was and throws a BuildError naming it. Only a listener changed on the same port must
   * wait for its old self to close, so it binds on commit; if it then cannot bind, the old
   * one listens again and commit throws.
   */
  async #prepareListeners(loaded: LoadedConfig): Promise<SocketChange> {
    const byKey = new Map([...this.#listeners.values()].map((s) => [s.key, s]));
    const wanted = loaded.config.listeners.map((cfg, index) => ({ cfg, index, key: listenerKey(cfg) }));
    const keys = new Set(wanted.map((w) => w.key));
    const removed = [...byKey.values()].filter((s) => !keys.has(s.key));
    const added = wanted.filter((w) => !byKey.has(w.key));
    const samePort = (port: number) => port !== 0 && added.some((w) => w.cfg.port === port);
    // A kept https or h2 listener re-reads its files and takes its new tls block in place
    // (certificates rotate with a reload, connections stay): built first, applied on commit.
    const rotate = wanted.flatMap((w) => {
      const kept = byKey.get(w.key);
      return kept?.tls !== undefined && w.cfg.tls !== undefined ? [{ state: kept, tls: kept.tls, next: listenerTls(w.cfg, w.index, loaded.baseDir) }] : [];
    });
    const started = new Map<string, ListenerState>();
    const stopStarted = () => {
      for (const s of started.values()) stopListener(s);
    };
    try {
      for (const w of added) if (!samePort(w.cfg.port)) started.set(w.key, await this.#listen(w.key, w.cfg, w.index, loaded.baseDir));
    } catch (e) {
      stopStarted();
      throw e;
    }
    const commit = async () => {
      const reopened: ListenerState[] = [];
      try {
        for (const s of removed) {
          if (!samePort(s.config.port)) continue;
          reopened.push(s);
          await closeListening(s.server);
        }
        for (const w of added) if (!started.has(w.key)) started.set(w.key, await this.#listen(w.key, w.cfg, w.index, loaded.baseDir));
      } catch (e) {
        stopStarted();
        for (const s of reopened) await this.#relisten(s);
        throw e;
      }
      for (const s of removed) if (!reopened.includes(s)) stopListener(s);
      for (const r of rotate) {
        if (r.tls.apply(r.state.server as unknown as TlsServer, r.next)) this.logger.info({ listener: r.state.config.name }, 'listener tls reloaded: new handshakes use the new certificates');
      }
      this.#listeners.clear();
      for (const w of wanted) this.#listeners.set(w.cfg.name, byKey.get(w.key) ?? started.get(w.key)!);
    };
    return { commit, abort: async () => stopStarted() };
  }

  /** A listener closed for a same-port change that then failed: it listens again (best effort, logged). */
  async #relisten(s: ListenerState): Promise<void> {
    try {
      await listenOn(s.server, s.config.port, s.config.host ?? '0.0.0.0');
    } catch (e) {
      this.logger.error({ err: e, listener: s.config.name }, 'a listener closed for a reload could not listen again');
    }
  }

  async #listen(key: string, cfg: ListenerConfig, index: number, baseDir: string): Promise<ListenerState> {
    const limits = limitsOf(cfg);
    const protocol = cfg.protocol ?? 'http';
    const secure = (protocol === 'https' || protocol === 'h2') && cfg.tls !== undefined;
    const handler = (req: IncomingMessage, res: ServerResponse) => this.#handle(state, req, res);
    const info: ListenerInfo = { name: cfg.name, scheme: secure ? 'https' : 'http', dispatch: handler };
    // HTTP/2 streams have an entry of their own: the HTTP/1.1 path tests nothing per request.
    const h2handler = (req: Http2ServerRequest, res: Http2ServerResponse) => this.#handleH2(state, req, res);
    if (protocol === 'h2' || protocol === 'h2c') h2 ??= await import('./listeners/h2.js');
    let server: ListenerServer;
    const tls = secure ? new ServerTls(listenerTls(cfg, index, baseDir)) : undefined;
    try {
      if (protocol === 'h2c') server = h2!.createH2cServer(limits, h2handler);
      else if (!secure) server = createHttpServer(limits, handler);
      else if (protocol === 'h2') server = h2!.createH2Server(limits, tls!.serverOptions(), { http1: handler, http2: h2handler });
      else server = createHttpsServer(limits, tls!.serverOptions(), handler);
    } catch (e) {
      throw BuildError.within(['listeners', index, 'tls'], e, `"${cfg.name}"`);
    }
    if (cfg.proxyProtocol !== undefined) {
      // Before any other connection listener: the header is read first, everything after it sees the client's address.
      const pp = cfg.proxyProtocol;
      const trusted = pp.trustedIPs.length > 0 ? compileCidrs(pp.trustedIPs) : null;
      const gate = logGate(1000);
      acceptProxyProtocol(server as unknown as NetServer, pp, trusted, (why, peer) => {
        metrics.proxyProtocolRefused(cfg.name);
        const suppressed = gate(why);
        if (suppressed >= 0) this.logger.warn({ listener: cfg.name, peer, reason: why, suppressed }, 'connection refused: PROXY protocol');
      });
    }
    tls?.attach(server as unknown as TlsServer);
    const state: ListenerState = { key, config: cfg, info, limits, server, ...(tls ? { tls } : {}) };
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(state, req, socket, head));
    state.server.on('connection', (socket: Socket) => {
      metrics.connectionOpened(cfg.name);
      socket.once('close', () => metrics.connectionClosed(cfg.name));
    });
    if (protocol === 'h2' || protocol === 'h2c') state.server.on('stream', () => metrics.http2Stream(cfg.name));
    const host = cfg.host ?? '0.0.0.0';
    try {
      await listenOn(state.server, cfg.port, host);
    } catch (e) {
      throw new BuildError(['listeners', index], `"${cfg.name}": cannot listen on ${hostPort(host, cfg.port)}: ${reasonOf(e)}`, { cause: e });
    }
    return state;
  }

  /**
   * An upgrade request (node:http hands over the socket): only `Upgrade: websocket` on GET
   * (RFC 6455 §4.1) is served, through `#handle` like any request, with a response bound
   * to the socket so that refusals and policy answers are ordinary HTTP responses.
   */
  #upgrade(listener: ListenerState, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // node:http removed its own listeners from the socket: an error must not go unhandled.
    socket.on('error', () => socket.destroy());
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    res.once('finish', () => socket.end());
    const token = req.headers.upgrade;
    if (token === undefined || token.trim().toLowerCase() !== 'websocket') {
      // Another protocol (h2c from `curl --http2`, TLS/1.0 …): the request is served as the
      // HTTP/1.1 request it also is, Upgrade ignored (RFC 9110 §7.8; RFC 7540 §3.2 expects
      // this of servers without h2c), and the connection closes after it. Its body cannot
      // be read once node:http has handed the socket over, so one with a body is refused.
      if (hasRequestBody(req.headers)) {
        return earlyError(res, 'GW_ERR_NOT_IMPLEMENTED', `Upgrade: ${token ?? ''} is not served here; send the request without it.`);
      }
      return this.#handle(listener, req, res);
    }
    if (req.method !== 'GET') return earlyError(res, 'GW_ERR_BAD_REQUEST', 'A WebSocket opening handshake is a GET request (RFC 6455 §4.1).');
    if (this.#draining) return earlyError(res, 'GW_ERR_SHUTTING_DOWN', 'The gateway is draining.');
    this.#handle(listener, req, res, { socket, head, tunnels: this.#tunnels, tunnel: undefined });
  }

  /** The data path entry of HTTP/1.x requests: check the message, then `#serve` it. */
  #handle(listener: ListenerState, req: IncomingMessage, res: ServerResponse, upgrade?: UpgradeRequest): void {
    const startedAt = performance.now();
    const url = req.url ?? '/';
    if (url.length > listener.limits.maxUrlLength) return earlyError(res, 'GW_ERR_URI_TOO_LONG');
    // llhttp also reads `HTTP/2.0` and HTTP/0.9 request lines, with HTTP/1.1 framing: refused, not forwarded.
    if (req.httpVersionMajor !== 1) return earlyError(res, 'GW_ERR_HTTP_VERSION_NOT_SUPPORTED', 'Only HTTP/1.0 and HTTP/1.1 requests are served here.');
    // Absolute form (RFC 9112 §3.2.2): the target's authority replaces Host, for routing and forwarding alike.
    if (url.charCodeAt(0) !== 47 && req.headers.host !== undefined) {
      const authority = targetAuthority(url);
      if (authority === '') return earlyError(res, 'GW_ERR_BAD_REQUEST', 'An absolute request target needs a host (RFC 9110 §4.2.1).');
      if (authority !== undefined) req.headers.host = authority;
    }
    // RFC 9112 §3.2: one valid Host (the listener leaves this check to us, so the 400 is problem+json).
    const hostError = hostProblem(req);
    if (hostError !== undefined) return earlyError(res, 'GW_ERR_BAD_REQUEST', hostError);
    // Belt and braces over llhttp: never forward a message whose length two parsers could read differently.
    if (req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] !== undefined) {
      return earlyError(res, 'GW_ERR_BAD_REQUEST', 'Content-Length and Transfer-Encoding together are ambiguous.');
    }
    if (this.#draining) res.shouldKeepAlive = false;
    this.#serve(listener, req, res, url, startedAt, upgrade);
  }

  /**
   * The data path entry of HTTP/2 streams (h2 and h2c listeners): nghttp2 has checked the
   * framing and the fields (RFC 9113 §8.1.1, §8.2); the request is made to read like an
   * HTTP/1.1 one (listeners/h2.ts `adaptH2Request`), then served by `#serve` like any.
   * CONNECT (and extended CONNECT, RFC 8441) is not served.
   */
  #handleH2(listener: ListenerState, h2req: Http2ServerRequest, h2res: Http2ServerResponse): void {
    const startedAt = performance.now();
    // The compatibility objects carry what the data path reads and writes (see listeners/h2.ts).
    const req = h2req as unknown as IncomingMessage;
    const res = h2res as unknown as ServerResponse;
    const url = h2req.url;
    if (h2req.method === 'CONNECT' || url === undefined) return earlyError(res, 'GW_ERR_NOT_IMPLEMENTED', 'CONNECT (tunnels) is not served by this gateway.');
    if (url.length > listener.limits.maxUrlLength) return earlyError(res, 'GW_ERR_URI_TOO_LONG');
    const problem = h2!.adaptH2Request(h2req);
    if (problem !== undefined) return earlyError(res, 'GW_ERR_BAD_REQUEST', problem);
    this.#serve(listener, req, res, url, startedAt, undefined);
  }

  /** The protocol-independent part of the data path: normalise, route, run the pipeline. */
  #serve(listener: ListenerState, req: IncomingMessage, res: ServerResponse, url: string, startedAt: number, upgrade: UpgradeRequest | undefined): void {
    const rt = this.#runtime;
    const target = splitTarget(url);
    const path = target === null ? null : normalizePath(target[0], rt.server.mergeSlashes);
    if (path === null) return earlyError(res, 'GW_ERR_BAD_REQUEST', 'The request target is not a valid origin-form path.');

    if (path === rt.server.healthPath) return healthReply(res, 200, { status: 'ok' });
    if (path === rt.server.readyPath) {
      if (this.#draining) return healthReply(res, 503, { status: 'draining' });
      const store = rt.store.healthy ? 'ok' : 'unreachable';
      const ready = rt.store.healthy || !rt.server.readyRequiresStore;
      return healthReply(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', version: rt.version, store });
    }

    const ip = rt.forwarding.anyTrusted ? clientAddress(req, rt.forwarding) : (req.socket.remoteAddress ?? '');
    const ctx = new RequestContext(req, res, listener.info, path, target![1], ip, startedAt, this.logger);
    ctx.work = rt.work;
    if (rt.tracing !== null) rt.tracing.startServer(ctx);
    // Tenancy: resolved once, before any policy (an authenticated consumer's tenant replaces it).
    if (rt.resolveTenant !== undefined) ctx.tenant = rt.resolveTenant(ctx);
    const bytesAtStart = req.socket.bytesRead;
    rt.inFlight++;
    this.#inFlight++;
    res.on('close', () => this.#finished(rt, ctx, bytesAtStart));

    const router = rt.router(listener.config.name);
    let found = router ? router.find(ctx.method, path, req.headers, ctx.query) : undefined;
    if (found === undefined || found.kind === 'not-found') {
      respondError(ctx, 'GW_ERR_NOT_FOUND', `No route for ${ctx.method} ${path}.`);
      return;
    }
    if (found.kind === 'method-not-allowed') {
      // A CORS preflight to a route without OPTIONS: its `cors` policy answers it.
      const preflight = ctx.method === 'OPTIONS' ? preflightRoute(router!, path, req.headers, ctx.query, rt.config) : undefined;
      if (preflight === undefined) {
        respondError(ctx, 'GW_ERR_METHOD_NOT_ALLOWED', `${ctx.method} is not allowed here.`, ['allow', found.allow.join(', ')]);
        return;
      }
      found = preflight;
    }
    if (upgrade !== undefined) {
      if (found.route.config.websocket === undefined || found.route.config.websocket === false) {
        respondError(ctx, 'GW_ERR_WEBSOCKET_NOT_ROUTED', `${path} does not accept WebSocket upgrades.`);
        return;
      }
      ctx.upgrade = upgrade;
    }
    ctx.route = found.route;
    ctx.params = found.params;
    runRequestPhase(ctx);
  }

  /** Log phase: after the response finished or the client went away. */
  #finished(rt: Runtime, ctx: RequestContext, bytesAtStart: number): void {
    // A tunnel (101) never finishes its HTTP response: it ends when its sockets close.
    if (!ctx.res.writableFinished && ctx.status !== 101) {
      ctx.aborted = true;
      ctx.cancelable?.cancel();
    }
    const route = ctx.route;
    if (route !== undefined) {
      const hooks = route.pipeline.log;
      for (let i = 0; i < hooks.length; i++) {
        try {
          hooks[i]!(ctx);
        } catch (e) {
          this.logger.error({ err: e, route: route.name }, 'log hook failed');
        }
      }
    }
    if (rt.accessLog !== null && (route === undefined || route.config.accessLog !== false)) {
      if (ctx.tenant === undefined) tenantOf(ctx, rt.resolveTenant); // claim:NAME is known only after auth
      const cl = ctx.req.headers['content-length'];
      rt.accessLog.write(ctx, cl !== undefined ? Number(cl) || 0 : (h2?.receivedBodyBytes(ctx.req) ?? Math.max(0, ctx.req.socket.bytesRead - bytesAtStart)));
    }
    if (ctx.trace !== undefined) ctx.trace.end(ctx);
    metrics.requestDone(route?.name, ctx.method, ctx.aborted ? 0 : ctx.status, ctx.elapsed() / 1000);
    rt.requestDone();
    if (ctx.upgrade?.tunnel !== undefined) this.#tunnels.delete(ctx.upgrade.tunnel);
    if (--this.#inFlight === this.#tunnels.size && this.#onIdle) this.#onIdle();
  }

  /**
   * Nothing left to wait for: no client request and no background work. Open tunnels do
   * not count: a WebSocket has no end of its own, so drain closes them once the rest is done.
   */
  #idle(): boolean {
    return this.#inFlight === this.#tunnels.size && this.#work.size === 0;
  }

  /**
   * Graceful stop: stop accepting, let in-flight requests and their background work
   * (subrequests, cache revalidations) finish (within `timeout`), then close connections
   * and pools. Resolves with whether everything finished in time.
   */
  async drain(timeout = this.#runtime.server.drainTimeout): Promise<boolean> {
    this.#draining = true;
    this.logger.info({ inFlight: this.#inFlight, background: this.#work.size, timeoutMs: timeout }, 'draining');
    const closed = [...this.#listeners.values()].map(
      (l) =>
        new Promise<void>((resolve) => {
          l.server.close(() => resolve());
          l.server.closeIdleConnections();
        }),
    );
    let inTime = true;
    if (!this.#idle()) {
      inTime = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeout);
        timer.unref();
        this.#onIdle = () => {
          if (!this.#idle()) return;
          clearTimeout(timer);
          resolve(true);
        };
      });
    }
    this.#onIdle = undefined;
    this.#tunnels.closeAll();
    for (const l of this.#listeners.values()) l.server.closeAllConnections();
    // Past the deadline: stop what is left, so that the runtime retires now.
    this.#work.cancelAll();
    await Promise.all(closed);
    await this.#admin?.close();
    await this.#runtime.retire(this.logger);
    await this.#pools.closeAll();
    await this.#stores.closeAll();
    this.#untrackMetrics();
    this.logger.info({ inTime }, 'drained');
    await Promise.all([flushLogger(this.logger), flushAccessLogs()]);
    return inTime;
  }

  /** Immediate stop (tests): closes everything without waiting. */
  async close(): Promise<void> {
    this.#draining = true;
    for (const l of this.#listeners.values()) {
      l.server.close();
      l.server.closeAllConnections();
    }
    this.#tunnels.closeAll();
    this.#work.cancelAll();
    await this.#admin?.close();
    await this.#runtime.retire(this.logger);
    await this.#pools.closeAll();
    await this.#stores.closeAll();
    this.#untrackMetrics();
    await flushLogger(this.logger);
  }
}

/** Sockets a config adds, bound: `commit` applies the change, `abort` closes them again. */
interface SocketChange {
  commit(): Promise<void>;
  abort(): Promise<void>;
}

function drainingIssue(file: string): ConfigIssue {
  return { file, line: 0, path: '', message: 'the gateway is draining', severity: 'error' };
}

/** All the issues of a config that failed to load. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(`invalid config:\n${issues.map(formatIssue).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** The compiled TLS of listener `index`; a file that cannot be read or used is a BuildError at its path. */
function listenerTls(cfg: ListenerConfig, index: number, baseDir: string): CompiledTls {
  try {
    return compileListenerTls(cfg.tls!, baseDir);
  } catch (e) {
    throw BuildError.within(['listeners', index, 'tls'], e, `"${cfg.name}"`);
  }
}

function listenOn(server: ListenerServer, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stops accepting; resolves once the socket is released (connections in flight finish on their own). */
function closeListening(server: ListenerServer): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // `close` waits for open connections; the port itself is free once the handle is closed.
    setImmediate(resolve);
  });
}

function stopListener(s: ListenerState): void {
  s.server.close();
  s.server.closeIdleConnections();
}

function listenerKey(l: ListenerConfig): string {
  // The tls block is not part of it: a kept listener takes a changed one in place (ServerTls.apply).
  return `${l.name}|${l.host ?? '0.0.0.0'}|${l.port}|${l.protocol ?? 'http'}|${JSON.stringify(l.limits ?? {})}|${l.tls !== undefined}|${JSON.stringify(l.proxyProtocol ?? null)}`;
}

function healthReply(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, ['content-type', 'application/json', 'cache-control', 'no-store', 'content-length', String(text.length)]);
  res.end(text);
}
