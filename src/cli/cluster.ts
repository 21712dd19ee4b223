import { releaseYoungGeneration } from '../proxy/memory.js';
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from 'pino';
import { ConfigError, Gateway } from '../gateway.js';
import { loadConfig, type ConfigFile, type LoadedConfig } from '../config/load.js';
import { watchReferencedFiles, type WatchedConfig } from '../config/watch.js';
import { Reload } from '../config/ops-schema.js';
import { schemaDefaults } from '../config/validate.js';
import { createLogger, flushLogger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import { runCommand, type ReloadOutcome } from '../admin/commands.js';
import type { AdminBackend } from '../admin/routes.js';
import type { AdminServer } from '../admin/server.js';
import { prepareAdmin, syncAdmin, type AdminChange } from '../admin/local.js';
import { buildIssue } from '../config/build-error.js';
import { formatIssue } from '../config/source.js';

/**
 * Cluster mode (`gantry start --workers N`, node:cluster): the primary reads and validates
 * the config, forks N workers that share the listeners (the kernel/primary spreads
 * connections), runs the admin listener, and relays admin commands to every worker over IPC.
 * Every worker serves the primary's current config: the primary reads the file once per
 * reload and sends that text and its version number; workers never read the config file. A
 * reload runs in two phases: every worker builds the new config without serving it, and only
 * when all of them could does the primary tell them to switch; otherwise they discard it and
 * all keep the old one. A worker started later (a replacement) gets the current text and
 * version. `/metrics` sums all workers with prom-client's AggregatorRegistry.
 */

/** The config every worker serves: the text the primary accepted, and its version. */
interface CurrentConfig {
  files: ConfigFile[];
  version: number;
  /** The config as the primary loaded it, for the watch of the files it references. */
  watched: WatchedConfig;
}

type ToWorker =
  | { type: 'gantry:command'; id: number; name: string; payload?: unknown }
  | { type: 'gantry:config'; files: ConfigFile[]; version: number };
type FromWorker =
  | { type: 'gantry:hello' }
  | { type: 'gantry:ready'; version: number }
  | { type: 'gantry:failed'; message: string }
  | { type: 'gantry:result'; id: number; ok: boolean; result?: unknown; error?: string };

/** A worker's answer to a command. */
type Answer = FromWorker & { type: 'gantry:result'; worker: Worker };

const COMMAND_TIMEOUT = 30_000;
/**
 * Time a worker has from its fork until it reports ready (imports, config build, listeners).
 * A worker that takes longer (say a plugin factory that never resolves) is killed: otherwise it
 * would hold the queue that serialises reloads and replacement forks forever. The environment
 * variable `GANTRY_WORKER_START_TIMEOUT` (milliseconds) overrides it.
 */
export const WORKER_START_TIMEOUT = 30_000;
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
  #current: CurrentConfig;
  /** Reloads and replacement forks run one at a time, so a worker never misses a reload. */
  #serial: Promise<unknown> = Promise.resolve();
  /** A reload waiting for the running one; later requests share it. */
  #queuedReload: Promise<ReloadOutcome[]> | undefined;

  readonly #startTimeout: number;

  constructor(configPath: string, count: number, loaded: LoadedConfig, logger: Logger, startTimeout = WORKER_START_TIMEOUT) {
    this.#configPath = configPath;
    this.#count = count;
    this.#startTimeout = startTimeout;
    this.#current = { files: loaded.files, version: 1, watched: { config: loaded.config, baseDir: loaded.baseDir } };
    this.logger = logger;
  }

  /** The config every worker serves (the last reload all of them took). */
  get serving(): WatchedConfig {
    return this.#current.watched;
  }

  /** Workers that finished starting (a starting worker cannot answer commands yet). */
  readonly #ready = new Set<Worker>();

  workers(): Worker[] {
    return [...this.#ready].filter((w) => w.isConnected());
  }

  /**
   * Forks one worker and resolves when it serves (or rejects when its config fails). The
   * worker asks for its config once it listens for messages (a message sent earlier would
   * be lost) and gets the current text and version. A worker not ready within the start
   * timeout is killed (SIGKILL: it may not handle signals yet) and the fork rejects; like a
   * crashed worker, its exit then schedules a replacement.
   */
  fork(): Promise<Worker> {
    const worker = cluster.fork({ GANTRY_WORKER: '1' });
    worker.on('message', (m: FromWorker) => this.#onMessage(m));
    // A message that cannot reach a dying worker: its exit is handled (and the worker replaced) on 'exit'.
    worker.on('error', (e) => this.logger.warn({ err: e, pid: worker.process.pid }, 'cannot send to a worker'));
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        worker.off('message', onMsg);
        if (err === undefined) {
          this.#ready.add(worker);
          resolve(worker);
        } else reject(err);
      };
      const onMsg = (m: FromWorker) => {
        if (m.type === 'gantry:hello') {
          const c = this.#current;
          worker.send({ type: 'gantry:config', files: c.files, version: c.version } satisfies ToWorker);
        } else if (m.type === 'gantry:ready') done();
        else if (m.type === 'gantry:failed') done(new Error(m.message));
      };
      const timer = setTimeout(() => {
        const ms = this.#startTimeout;
        done(new Error(`worker ${worker.process.pid} was not ready within the start timeout (${ms} ms); killed it`));
        this.logger.error({ pid: worker.process.pid, startTimeout: ms }, 'worker not ready within the start timeout; killing it');
        worker.process.kill('SIGKILL');
      }, this.#startTimeout);
      worker.on('message', onMsg);
      worker.once('exit', (code) => done(new Error(`worker exited with code ${code} before it was ready`)));
    });
  }

  async start(loaded: LoadedConfig): Promise<void> {
    // A replacement worker waits for a reload in progress, then gets its outcome.
    const replace = () =>
      this.#exclusive(() => this.fork()).catch((e: unknown) => this.logger.error({ err: e }, 'replacement worker failed'));
    await Promise.all(Array.from({ length: this.#count }, () => this.fork()));
    cluster.on('exit', (worker, code, signal) => {
      this.#ready.delete(worker);
      // Commands in flight to a dead worker will never be answered: settle them now.
      for (const [id, p] of this.#pending) if (p.worker === worker) this.#settle({ type: 'gantry:result', id, ok: false, error: WORKER_EXITED });
      if (this.#stopping) return;
      this.logger.error({ pid: worker.process.pid, code, signal }, 'worker died; starting a new one');
      setTimeout(() => void replace(), 500).unref();
    });
    this.#admin = await syncAdmin(undefined, loaded.config.admin, new ClusterBackend(this), this.logger);
    this.logger.info({ workers: this.workers().map((w) => w.process.pid), hash: loaded.hash }, 'cluster started');
  }

  #onMessage(m: FromWorker): void {
    if (m.type === 'gantry:result') this.#settle(m);
  }

  /** Answers a pending command (once: a late answer after a timeout is dropped). */
  #settle(m: FromWorker & { type: 'gantry:result' }): void {
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    clearTimeout(p.timer);
    p.resolve(m);
  }

  /** Runs a command on every worker; one result per worker, in worker order. */
  async broadcast(name: string, payload?: unknown): Promise<unknown[]> {
    const live = await this.#ask(name, payload);
    const failed = live.find((r) => !r.ok);
    if (failed) throw new Error(failed.error ?? `command '${name}' failed`);
    return live.map((r) => r.result);
  }

  /** Runs a command on every worker; the answers of the workers alive at the end, failures included. */
  async #ask(name: string, payload?: unknown): Promise<Answer[]> {
    const results = await Promise.all(
      this.workers().map(
        (w) =>
          new Promise<Answer>((resolve) => {
            const id = this.#nextId++;
            const timer = setTimeout(() => this.#settle({ type: 'gantry:result', id, ok: false, error: `worker ${w.process.pid} did not answer '${name}' in time` }), COMMAND_TIMEOUT);
            this.#pending.set(id, { worker: w, resolve: (r) => resolve({ ...r, worker: w }), timer });
            // A worker dying right now cannot take the message: it answers as exited (the
            // callback also keeps the send error from being thrown in the primary).
            w.send({ type: 'gantry:command', id, name, payload } satisfies ToWorker, (e: Error | null) => {
              if (e) this.#settle({ type: 'gantry:result', id, ok: false, error: WORKER_EXITED });
            });
          }),
      ),
    );
    // A worker that died meanwhile is not part of the answer (it is being replaced).
    return results.filter((r) => r.error !== WORKER_EXITED);
  }

  /** Runs `task` once every reload or replacement fork before it finished. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const p = this.#serial.then(task, task);
    this.#serial = p.catch(() => undefined);
    return p;
  }

  /**
   * Reloads every worker; serialised with other reloads and with replacement forks. The
   * primary reads and validates the file once, then runs two phases: every worker builds
   * that text (`reload.prepare`) without serving it, and only when all of them could, all
   * switch (`reload.commit`); when one cannot, every worker discards what it built
   * (`reload.abort`) and the reload answers 422 with that worker's issues. The primary binds
   * the admin listener's new socket (when the admin address changed) before any worker
   * builds, and closes the old one only once the workers switched: an address it cannot bind
   * rejects the reload (422 with the issue at `admin`). As in a single process
   * (Gateway.reload), requests for a reload while one is queued share the queued one: a
   * burst of SIGHUPs or file events reloads the workers at most twice.
   */
  reload(): Promise<ReloadOutcome[]> {
    if (this.#queuedReload !== undefined) return this.#queuedReload;
    const p = this.#exclusive(() => {
      this.#queuedReload = undefined;
      return this.#reloadNow();
    });
    this.#queuedReload = p;
    return p;
  }

  async #reloadNow(): Promise<ReloadOutcome[]> {
    const result = await loadConfig(this.#configPath);
    if (!result.ok) return this.#refuse(result.issues.map(formatIssue), 'config reload rejected; the workers keep serving the previous config');
    const loaded = result.loaded;
    let admin: AdminChange;
    try {
      admin = await prepareAdmin(this.#admin, loaded.config.admin, new ClusterBackend(this), this.logger);
    } catch (e) {
      return this.#refuse([formatIssue(buildIssue(loaded.source, e))], 'config reload failed; the workers keep serving the previous config', e);
    }
    const version = this.#current.version + 1;
    const prepared = await this.#ask('reload.prepare', { files: loaded.files, version });
    const failed = prepared.find((r) => !r.ok || !(r.result as ReloadOutcome).ok);
    if (failed !== undefined) {
      await admin.abort();
      const issues = failed.ok ? ((failed.result as ReloadOutcome).issues ?? []) : [`${this.#configPath}: a worker could not build the config: ${failed.error}`];
      return this.#refuse(issues, 'config reload failed in a worker; every worker keeps serving the previous config');
    }
    this.#current = { files: loaded.files, version, watched: { config: loaded.config, baseDir: loaded.baseDir } };
    const committed = await this.#ask('reload.commit');
    await admin.commit();
    this.#admin = admin.server;
    const outcomes = committed.map((r) => (r.ok ? (r.result as ReloadOutcome) : { ok: false, version: 0, hash: '', issues: [r.error ?? 'commit failed'] }));
    // Only a listener changed on the same port binds on commit; a worker where even that failed
    // is replaced, so it comes back on the current config like every other worker.
    committed.forEach((r, i) => {
      if (outcomes[i]!.ok) return;
      this.logger.error({ pid: r.worker.process.pid, issues: outcomes[i]!.issues }, 'a worker could not switch to the new config; replacing it');
      r.worker.kill();
    });
    this.logger.info({ workers: outcomes.map((o) => ({ ok: o.ok, version: o.version })) }, 'cluster reloaded');
    return outcomes;
  }

  /** A reload that no worker takes: each discards what it prepared and records `issues` as its last reload. */
  async #refuse(issues: string[], msg: string, err?: unknown): Promise<ReloadOutcome[]> {
    this.logger.error({ err, issues }, msg);
    return (await this.broadcast('reload.abort', { issues })) as ReloadOutcome[];
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
  const primary = new Primary(configPath, count, result.loaded, logger, startTimeoutFromEnv(logger));
  try {
    await primary.start(result.loaded);
  } catch (e) {
    logger.error({ err: e }, 'cluster failed to start');
    await primary.stop('startup-failure');
    return 1;
  }
  const r = result.loaded.config.reload ?? schemaDefaults(Reload);
  // The primary reads no certificate or schema file itself; it watches them for the workers, which do.
  const watching = r.watch ? watchReferencedFiles(configPath, r.debounce, () => primary.reload(), () => primary.serving, logger) : undefined;
  process.on('SIGHUP', () =>
    void primary.reload().then(
      () => watching?.refresh(),
      (e: unknown) => logger.error({ err: e }, 'cluster reload failed'),
    ));
  const stop = (signal: string) => void primary.stop(signal).then(() => process.exit(0));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return undefined;
}

/** `GANTRY_WORKER_START_TIMEOUT` (ms) when set to a positive number; a value that is not one is named in a warning, not silently dropped. */
function startTimeoutFromEnv(logger: Logger): number {
  const raw = process.env.GANTRY_WORKER_START_TIMEOUT;
  if (raw === undefined || raw === '') return WORKER_START_TIMEOUT;
  const ms = Number(raw);
  if (Number.isFinite(ms) && ms > 0) return ms;
  logger.warn({ value: raw, startTimeout: WORKER_START_TIMEOUT }, 'GANTRY_WORKER_START_TIMEOUT is not a positive number of milliseconds; using the default');
  return WORKER_START_TIMEOUT;
}

/** A worker of `gantry start --workers N`: one gateway without the admin listener, on the primary's config text. */
export async function startWorker(configPath: string): Promise<number | undefined> {
  let gw: Gateway;
  try {
    const { files, version } = await configFromPrimary();
    gw = await Gateway.start(configPath, { admin: false, files, version });
  } catch (e) {
    process.send?.({ type: 'gantry:failed', message: (e as Error).message } satisfies FromWorker);
    if (e instanceof ConfigError) return 1;
    throw e;
  }
  releaseYoungGeneration();
  // Answer the primary's metric requests with this worker's registry.
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry();
  // The steps of a reload run in order (an abort waits for a slow prepare to finish).
  let reloadSteps: Promise<unknown> = Promise.resolve();
  process.on('message', (m: ToWorker) => {
    if (m?.type !== 'gantry:command') return;
    const run = () => runCommand(gw, m.name, m.payload);
    const done = m.name.startsWith('reload') ? (reloadSteps = reloadSteps.then(run, run)) : run();
    done.then(
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

/** Asks the primary for the config to serve: the text it accepted last, and its version. */
function configFromPrimary(): Promise<{ files: ConfigFile[]; version: number }> {
  return new Promise((resolve) => {
    const onMessage = (m: ToWorker) => {
      if (m?.type !== 'gantry:config') return;
      process.off('message', onMessage);
      resolve(m);
    };
    process.on('message', onMessage);
    process.send?.({ type: 'gantry:hello' } satisfies FromWorker);
  });
}
