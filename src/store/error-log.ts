import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';

/**
 * Logs a recurring failure at most once per interval, with how many occurrences were
 * folded into the line: a Redis outage under load must not write a log line per request.
 *
 * @example
 *   const log = new ThrottledLog(logger, 10_000);
 *   log.report(err, 'rate-limit store unavailable; allowing');
 */
export class ThrottledLog {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #last = -Infinity;
  #suppressed = 0;

  constructor(logger: Logger, intervalMs: number) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  /** Logs now, or counts the occurrence for the next line. Returns whether a line was written. */
  report(err: unknown, msg: string): boolean {
    const now = performance.now();
    if (now - this.#last < this.#intervalMs) {
      this.#suppressed++;
      return false;
    }
    this.#logger.warn({ err: errorSummary(err), suppressed: this.#suppressed }, msg);
    this.#last = now;
    this.#suppressed = 0;
    return true;
  }

  /** Forgets the interval, so the next failure after a recovery is logged at once. */
  reset(): void {
    this.#last = -Infinity;
    this.#suppressed = 0;
  }
}

function errorSummary(err: unknown): { message: string; name?: string } {
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { message: String(err) };
}
