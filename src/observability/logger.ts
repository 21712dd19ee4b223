import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Where lines go; default: stdout through an asynchronous buffered writer. */
  destination?: DestinationStream;
}

/**
 * The process logger (pino, JSON lines). Writes are buffered and asynchronous so that
 * logging never waits on the terminal or a pipe on the data path; `flushLogger` runs at
 * exit.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 });
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'gantry' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Flushes buffered log lines (best effort, synchronous). */
export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // a closed destination has nothing left to flush
  }
}
