import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from 'pino';
import { ConfigError, Gateway } from '../gateway.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { watchConfig } from '../config/watch.js';
import { createLogger, flushLogger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import { runCommand, type ReloadOutcome } from '../admin/commands.js';
import type { AdminBackend } from '../admin/routes.js';
import type { AdminServer } from '../admin/server.js';
import { prepareAdmin, syncAdmin, type AdminChange } from '../admin/local.js';
import { buildIssue } from '../config/build-error.js';
import { formatIssue } from '../config/source.js';

/**
 * Cluster mode (`gantry start --workers N`, node:cluster): the primary validates the config,
 * forks N workers that share the listeners (the kernel/primary spreads connections), runs
 * the admin listener, and relays admin commands to every worker over IPC. A reload is
 * validated in the primary first, so an invalid config never reaches a worker; a valid one
 * is reloaded by every worker, each swapping atomically. `/metrics` sums all workers with
 * prom-client's AggregatorRegistry.
 */

type ToWorker = { type: 'gantry:command'; id: number; name: string; payload?: unknown };
type FromWorker =
  | { type: 'gantry:ready'; version: number }
  | { type: 'gantry:failed'; message: string }
  | { type: 'gantry:result'; id: number; ok: boolean; result?: unknown; error?: string };

const COMMAND_TIMEOUT = 30_000;
const WORKER_EXITED = 'worker exited';

class ClusterBackend implements AdminBackend {
  readonly metricsContentType = metrics.contentType;
  readonly #primary: Primary;
  constructor(primary: Primary) {
    this.#primary = primary;
  }
  run(command: string, payload?: unknown): Promise<unknown[]> {
    return command === 'reload' ? this.#primary.reload() : this.#primary.broadcast(command, payload);
  }
  metrics(): Promise<string> {
    return this.#primary.aggregator.clusterMetrics();
  }
  describe(): { mode: 'cluster'; workers: number[] } {
    return { mode: 'cluster', workers: this.#primary.workers().map((w) => w.process.pid ?? 0) };
  }
}

class Primary {
  readonly aggregator = new AggregatorRegistry();
  readonly logger: Logger;
  readonly #configPath: string;
  readonly #count: number;
  readonly #pending = new Map<number, { worker: Worker; resolve: (v: FromWorker & { type: 'gantry:result' }) => void; timer: NodeJS.Timeout }>();
  #nextId = 1;
  #stopping = false;
  #admin: AdminServer | undefined;
  #reloading: Promise<ReloadOutcome[]> = Promise.resolve([]);
  /** A reload waiting for the running one; later requests share it. */
  #queuedReload: Promise<ReloadOutcome[]> | undefined;

  constructor(configPath: string, count: number, logger: Logger) {
    this.#configPath = configPath;
    this.#count = count;
    this.logger = logger;
  }

  /** Workers that finished starting (a starting worker cannot answer commands yet). */
  readonly #ready = new Set<Worker>();

  workers(): Worker[] {
    return [...this.#ready].filter((w) => w.isConnected());
  }

  /** Forks one worker and resolves when it serves (or rejects when its config fails). */
  fork(): Promise<Worker> {
    const worker = cluster.fork({ GANTRY_WORKER: '1' });
    worker.on('message', (m: FromWorker) => this.#onMessage(m));
    return new Promise((resolve, reject) => {
      const onMsg = (m: FromWorker) => {
        if (m.type === 'gantry:ready') {
          worker.off('message', onMsg);
          this.#ready.add(worker);
          resolve(worker);
        } else if (m.type === 'gantry:failed') {
          worker.off('message', onMsg);
          reject(new Error(m.message));
        }
      };
      worker.on('message', onMsg);
      worker.once('exit', (code) => reject(new Error(`worker exited with code ${code} before it was ready`)));
    });
  }

  async start(loaded: LoadedConfig): Promise<void> {
    await Promise.all(Array.from({ length: this.#count }, () => this.fork()));
    cluster.on('exit', (worker, code, signal) => {
      this.#ready.delete(worker);
      // Commands in flight to a dead worker will never be answered: settle them now.
      for (const [id, p] of this.#pending) {
        if (p.worker !== worker) continue;
        this.#pending.delete(id);
        clearTimeout(p.timer);
        p.resolve({ type: 'gantry:result', id, ok: false, error: WORKER_EXITED });
      }
      if (this.#stopping) return;
      this.logger.error({ pid: worker.process.pid, code, signal }, 'worker died; starting a new one');
      setTimeout(() => void this.fork().catch((e: unknown) => this.logger.error({ err: e }, 'replacement worker failed')), 500).unref();
    });
    this.#admin = await syncAdmin(undefined, loaded.config.admin, new ClusterBackend(this), this.logger);
    this.logger.info({ workers: this.workers().map((w) => w.process.pid), hash: loaded.hash }, 'cluster started');
  }

  #onMessage(m: FromWorker): void {
    if (m.type !== 'gantry:result') return;
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    clearTimeout(p.timer);
    p.resolve(m);
  }

  /** Runs a command on every worker; one result per worker, in worker order. */
  async broadcast(name: string, payload?: unknown): Promise<unknown[]> {
    const results = await Promise.all(
      this.workers().map(
        (w) =>
          new Promise<FromWorker & { type: 'gantry:result' }>((resolve) => {
            const id = this.#nextId++;
            const timer = setTimeout(() => {
              this.#pending.delete(id);
              resolve({ type: 'gantry:result', id, ok: false, error: `worker ${w.process.pid} did not answer '${name}' in time` });
            }, COMMAND_TIMEOUT);
            this.#pending.set(id, { worker: w, resolve, timer });
            w.send({ type: 'gantry:command', id, name, payload } satisfies ToWorker);
          }),
      ),
    );
    // A worker that died meanwhile is not part of the answer (it is being replaced).
    const live = results.filter((r) => r.error !== WORKER_EXITED);
    const failed = live.find((r) => !r.ok);
    if (failed) throw new Error(failed.error ?? `command '${name}' failed`);
    return live.map((r) => r.result);
  }

  /**
   * Reloads every worker; serialised. Each worker validates the file itself and keeps its
   * config when it is bad, so a rejected reload shows in every worker's status and
   * metrics. The primary binds the admin listener's new socket (when the admin address
   * changed) before any worker reloads, and closes the old one only once all took the
   * config: an address it cannot bind rejects the reload (422 with the issue at `admin`)
   * with every worker still on its config, and a rejection by the workers gives the new
   * socket back. As in a single process (Gateway.reload), requests for a reload while one
   * is queued share the queued one: a burst of SIGHUPs or file events reloads the workers
   * at most twice.
   */
  reload(): Promise<ReloadOutcome[]> {
    if (this.#queuedReload !== undefined) return this.#queuedReload;
    const run = (): Promise<ReloadOutcome[]> => {
      this.#queuedReload = undefined;
      return this.#reloadNow();
    };
    const p = this.#reloading.then(run, run);
    this.#queuedReload = p;
    this.#reloading = p;
    return p;
  }

  async #reloadNow(): Promise<ReloadOutcome[]> {
    const result = await loadConfig(this.#configPath);
    let admin: AdminChange | undefined;
    // An invalid config: no admin change; the workers reject it and report why.
    if (result.ok) {
      try {
        admin = await prepareAdmin(this.#admin, result.loaded.config.admin, new ClusterBackend(this), this.logger);
      } catch (e) {
        const issues = [formatIssue(buildIssue(result.loaded.source, e))];
        this.logger.error({ err: e, issues }, 'config reload failed; the workers keep serving the previous config');
        // Every worker records the failure as its own (status lastReload, reload metrics).
        return (await this.broadcast('reload.failed', { issues })) as ReloadOutcome[];
      }
    }
    let outcomes: ReloadOutcome[];
    try {
      outcomes = (await this.broadcast('reload')) as ReloadOutcome[];
    } catch (e) {
      await admin?.abort();
      throw e;
    }
    const rejected = outcomes.find((o) => !o.ok);
    if (rejected) {
      await admin?.abort();
      this.logger.error({ issues: rejected.issues }, 'config reload rejected; workers keep serving the previous config');
      return outcomes;
    }
    // The workers read the file after the primary did: an edit in between can leave the admin
    // listener on the settings the primary read (the file watcher's next reload aligns them).
    if (!result.ok || outcomes.some((o) => o.hash !== result.loaded.hash)) {
      this.logger.warn({ workers: outcomes.map((o) => o.hash) }, 'the config file changed during the reload; reload again to apply its admin settings');
    }
    if (admin !== undefined) {
      await admin.commit();
      this.#admin = admin.server;
    }
    this.logger.info({ workers: outcomes.map((o) => ({ ok: o.ok, version: o.version })) }, 'cluster reloaded');
    return outcomes;
  }

  async stop(signal: string): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.logger.info({ signal }, 'stopping workers');
    // Every worker, ready or still starting.
    const all = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
    const exits = all.map((w) => new Promise<void>((r) => w.once('exit', () => r())));
    for (const w of all) w.process.kill('SIGTERM');
    await Promise.all(exits);
    await this.#admin?.close();
    await flushLogger(this.logger);
  }
}

/** The primary of `gantry start --workers N`. */
export async function startPrimary(configPath: string, count: number): Promise<number | undefined> {
  const result = await loadConfig(configPath);
  if (!result.ok) {
    process.stderr.write(new ConfigError(result.issues).message + '\n');
    return 1;
  }
  const logger = createLogger({ level: result.loaded.config.log?.level }).child({ role: 'primary' });
  const primary = new Primary(configPath, count, logger);
  try {
    await primary.start(result.loaded);
  } catch (e) {
    logger.error({ err: e }, 'cluster failed to start');
    await primary.stop('startup-failure');
    return 1;
  }
  const reload = () => void primary.reload().catch((e: unknown) => logger.error({ err: e }, 'cluster reload failed'));
  const r = result.loaded.config.reload;
  if (r?.watch !== false) watchConfig(configPath, r?.debounce ?? 300, reload);
  process.on('SIGHUP', reload);
  const stop = (signal: string) => void primary.stop(signal).then(() => process.exit(0));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return undefined;
}

/** A worker of `gantry start --workers N`: one gateway without the admin listener. */
export async function startWorker(configPath: string): Promise<number | undefined> {
  let gw: Gateway;
  try {
    gw = await Gateway.start(configPath, { admin: false });
  } catch (e) {
    process.send?.({ type: 'gantry:failed', message: (e as Error).message } satisfies FromWorker);
    if (e instanceof ConfigError) return 1;
    throw e;
  }
  // Answer the primary's metric requests with this worker's registry.
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry();
  process.on('message', (m: ToWorker) => {
    if (m?.type !== 'gantry:command') return;
    runCommand(gw, m.name, m.payload).then(
      (result) => process.send?.({ type: 'gantry:result', id: m.id, ok: true, result } satisfies FromWorker),
      (e: unknown) => process.send?.({ type: 'gantry:result', id: m.id, ok: false, error: (e as Error).message } satisfies FromWorker),
    );
  });
  // The primary coordinates reloads; a SIGHUP sent to the whole process group must not
  // reload (or, by default, kill) a worker on its own.
  process.on('SIGHUP', () => undefined);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void gw.drain().then((inTime) => process.exit(inTime ? 0 : 1));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  process.send?.({ type: 'gantry:ready', version: gw.runtime.version } satisfies FromWorker);
  return undefined;
}
