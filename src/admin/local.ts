import type { Logger } from 'pino';
import type { Gateway } from '../gateway.js';
import type { AdminConfig } from '../config/ops-schema.js';
import { metrics } from '../observability/metrics.js';
import { runCommand } from './commands.js';
import type { AdminBackend } from './routes.js';
import { AdminServer } from './server.js';

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

/**
 * Brings the admin listener in line with a (re)loaded config: starts it, keeps its socket
 * and updates the token, rebinds when host/port changed, or stops it when `admin` is gone.
 * A rebind that fails keeps the old listener and throws (the reload is then reported failed).
 */
export async function syncAdmin(current: AdminServer | undefined, cfg: AdminConfig | undefined, backend: AdminBackend, logger: Logger): Promise<AdminServer | undefined> {
  if (cfg === undefined) {
    await current?.close();
    return undefined;
  }
  if (current !== undefined && !current.needsRebind(cfg)) {
    current.update(cfg);
    return current;
  }
  const next = await AdminServer.start(cfg, backend, logger);
  await current?.close();
  return next;
}
