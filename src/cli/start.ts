import { ConfigError, Gateway } from '../gateway.js';

export interface StartOptions {
  config: string;
  workers: number;
}

/**
 * `gantry start`: runs the gateway until SIGTERM/SIGINT (drain, exit 0) with SIGHUP reloads.
 * Resolves undefined (the process stays up) or an exit code when it cannot start.
 */
export async function start(options: StartOptions): Promise<number | undefined> {
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
  process.on('SIGHUP', () => void gw.reload());
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
