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
  let destination = options.destination;
  if (!destination) {
    const boom = pino.destination({ dest: 1, sync: false, minLength: 4096 });
    // Buffered lines reach the terminal within a second even when traffic is light.
    setInterval(() => {
      try {
        boom.flush();
      } catch {
        // not ready yet (still opening) or already closed: nothing to flush
      }
    }, 1000).unref();
    destination = boom;
  }
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

/**
 * Lets one log line per key through per interval, so a failing upstream under load logs a
 * line a second (with how many were suppressed) instead of one per request.
 *
 * @example
 *   const gate = logGate(1000);
 *   const n = gate('catalog'); if (n >= 0) logger.warn({ suppressed: n }, 'upstream failed');
 */
export function logGate(intervalMs: number): (key: string) => number {
  const state = new Map<string, { at: number; suppressed: number }>();
  return (key) => {
    const now = Date.now();
    const s = state.get(key);
    if (s === undefined || now - s.at >= intervalMs) {
      const suppressed = s?.suppressed ?? 0;
      state.set(key, { at: now, suppressed: 0 });
      if (state.size > 10_000) state.clear();
      return suppressed;
    }
    s.suppressed++;
    return -1;
  };
}
