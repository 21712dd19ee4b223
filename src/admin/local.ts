import type { Logger } from 'pino';
import type { Gateway } from '../gateway.js';
import type { AdminConfig } from '../config/ops-schema.js';
import { metrics } from '../observability/metrics.js';
import { runCommand } from './commands.js';
import type { AdminBackend } from './routes.js';
import { AdminServer } from './server.js';
import { BuildError, hostPort, reasonOf } from '../config/build-error.js';

/**
 * The admin backend of a single-process gateway: commands run on the gateway itself.
 *
 * @example
 *   const admin = await AdminServer.start(cfg, new LocalBackend(gw), logger);
 */
export class LocalBackend implements AdminBackend {
  readonly #gw: Gateway;
  readonly metricsContentType = metrics.contentType;

  constructor(gw: Gateway) {
    this.#gw = gw;
  }

  async run(command: string, payload?: unknown): Promise<unknown[]> {
    return [await runCommand(this.#gw, command, payload)];
  }

  metrics(): Promise<string> {
    return metrics.text();
  }

  describe(): { mode: 'single'; workers: number[] } {
    return { mode: 'single', workers: [process.pid] };
  }
}

/** An admin listener change made ready by `prepareAdmin`: `commit` applies it, `abort` undoes it. */
export interface AdminChange {
  /** The admin server once committed (undefined: none). */
  readonly server: AdminServer | undefined;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * Prepares bringing the admin listener in line with a (re)loaded config: binds the new
 * socket when host/port changed (or admin is new), without touching the current one yet,
 * so a reload that fails later can give it back. Throws a BuildError at `admin` when the
 * socket cannot be bound; the current listener then keeps serving.
 *
 * @example
 *   const change = await prepareAdmin(admin, cfg.admin, backend, logger);
 *   try { await otherWork(); } catch (e) { await change.abort(); throw e; }
 *   await change.commit(); admin = change.server;
 */
export async function prepareAdmin(current: AdminServer | undefined, cfg: AdminConfig | undefined, backend: AdminBackend, logger: Logger): Promise<AdminChange> {
  const none = () => Promise.resolve();
  // The old listener is released, not closed: a reload asked for on it still gets its answer.
  if (cfg === undefined) return { server: undefined, commit: async () => current?.release(), abort: none };
  if (current !== undefined && !current.needsRebind(cfg)) return { server: current, commit: async () => current.update(cfg), abort: none };
  let next: AdminServer;
  try {
    next = await AdminServer.start(cfg, backend, logger);
  } catch (e) {
    throw new BuildError(['admin'], `cannot listen on ${hostPort(cfg.host, cfg.port)}: ${reasonOf(e)}`, { cause: e });
  }
  return { server: next, commit: async () => current?.release(), abort: () => next.close() };
}

/**
 * Brings the admin listener in line with a (re)loaded config: starts it, keeps its socket
 * and updates the token, rebinds when host/port changed, or stops it when `admin` is gone.
 * A rebind that fails keeps the old listener and throws (the reload is then reported failed).
 */
export async function syncAdmin(current: AdminServer | undefined, cfg: AdminConfig | undefined, backend: AdminBackend, logger: Logger): Promise<AdminServer | undefined> {
  const change = await prepareAdmin(current, cfg, backend, logger);
  await change.commit();
  return change.server;
}

