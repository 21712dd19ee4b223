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
  return pino(loggerOptions(options.level ?? 'info'), options.destination ?? bufferedDestination(1));
}

/** The options every Gantry logger shares (process log, access-log files). */
export function loggerOptions(level = 'info'): pino.LoggerOptions {
  return {
    level,
    base: { service: 'gantry' },
    timestamp: isoTimeCached,
    formatters: { level: (label) => ({ level: label }) },
  };
}

/**
 * An asynchronous destination that writes in batches of 32 KB or more (one write call per
 * ~100 access-log lines instead of one per line) and flushes at least once a second, so
 * lines still reach the terminal promptly when traffic is light.
 */
export function bufferedDestination(dest: number | string, extra: { append?: boolean; mkdir?: boolean } = {}): pino.DestinationStream & { flush(): void; end(): void } {
  const boom = pino.destination({ dest, sync: false, minLength: 32 * 1024, maxWrite: 64 * 1024, ...extra });
  setInterval(() => {
    try {
      boom.flush();
    } catch {
      // not ready yet (still opening) or already closed: nothing to flush
    }
  }, 1000).unref();
  return boom;
}

let lastMs = -1;
let lastTime = '';

/**
 * pino's ISO timestamp, formatted once per millisecond: under load many lines share a
 * millisecond, and `toISOString` per line was a measurable part of access logging.
 */
function isoTimeCached(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
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
