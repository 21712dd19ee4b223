import { releaseYoungGeneration } from '../proxy/memory.js';
import cluster from 'node:cluster';
import { ConfigError, Gateway } from '../gateway.js';
import { watchReferencedFiles } from '../config/watch.js';
import { Reload } from '../config/ops-schema.js';
import { schemaDefaults } from '../config/validate.js';
import { startPrimary, startWorker } from './cluster.js';

export interface StartOptions {
  config: string;
  workers: number;
}

/**
 * `gantry start`: runs the gateway until SIGTERM/SIGINT (drain, exit 0). SIGHUP, a change
 * of the config file or of a certificate or schema file it references (`reload.watch`) and
 * `POST /api/reload` reload it without dropping a request. `--workers N` (N > 1) runs a primary that forks N workers sharing the listeners.
 * Resolves undefined (the process stays up) or an exit code when it cannot start.
 */
export async function start(options: StartOptions): Promise<number | undefined> {
  if (!Number.isInteger(options.workers) || options.workers < 1) {
    process.stderr.write(`gantry start: --workers must be a positive integer\n`);
    return 2;
  }
  if (cluster.isWorker) return startWorker(options.config);
  if (options.workers > 1) return startPrimary(options.config, options.workers);
  let gw: Gateway;
  try {
    gw = await Gateway.start(options.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(e.message + '\n');
      return 1;
    }
    throw e;
  }
  releaseYoungGeneration();
  const reload = gw.runtime.config.reload ?? schemaDefaults(Reload);
  const watching = reload.watch
    ? watchReferencedFiles(options.config, reload.debounce, () => gw.reload(), () => ({ config: gw.runtime.config, baseDir: gw.runtime.loaded.baseDir }), gw.logger)
    : undefined;
  process.on('SIGHUP', () => void gw.reload().finally(() => watching?.refresh()));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    gw.logger.info({ signal }, 'stopping');
    void gw.drain().then((inTime) => process.exit(inTime ? 0 : 1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return undefined;
}
