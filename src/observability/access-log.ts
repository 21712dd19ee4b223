import { existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import type { RequestContext } from '../pipeline/context.js';
import { AccessLog as AccessLogSchema, type AccessLogConfig } from '../config/ops-schema.js';
import { validateInPlace } from '../config/validate.js';
import { BatchedDestination, bufferedDestination, logGate, loggerOptions } from './logger.js';
import { compileLine, type LineBuilder } from './access-log-line.js';
import { RefCache } from '../util/ref-cache.js';

export const REDACTED = '[REDACTED]';

/**
 * One JSON access-log line per request, written in the log phase (after the response is
 * finished, so it never delays it). Compiled once per config: the field list becomes an
 * array of writers, redaction sets are lower-cased, the destination is opened once and
 * shared across reloads.
 *
 * The line is serialised here rather than by `logger.info(obj)`: pino's generic path
 * builds an object and walks its keys per line, which measured ~12 µs per request on the
 * benchmark's policies route; the access-log fields are fixed at load, so the line is one
 * compiled concatenation (access-log-line.ts). The line has pino's shape (`level`, `time`,
 * the logger's bindings, `msg`) and goes to the logger's own destination (pino's
 * sonic-boom, batched), so ordering and flushing stay pino's.
 *
 * Errors (status ≥ 400, gateway errors, aborted requests) are always logged; successes
 * are sampled by `sample.successes`. Values of redacted headers and query parameters
 * (credentials: RFC 9110 §11.6.2 Authorization, RFC 6265 Cookie, API keys) never reach
 * the log.
 *
 * @example
 *   const log = AccessLogWriter.compile({ output: 'stdout', sample: { successes: 0.1 } }, logger, '/etc/gantry');
 *   log?.write(ctx, bytesIn);
 */
export class AccessLogWriter {
  readonly #logger: Logger;
  readonly #stream: { write(line: string): unknown };
  readonly #asciiStream: BatchedDestination | null;
  readonly #line: LineBuilder;
  readonly #successRatio: number;
  readonly #headers: readonly [name: string, redacted: boolean][];
  readonly #redactQuery: ReadonlySet<string>;
  readonly #release: () => void;

  private constructor(cfg: AccessLogConfig, logger: Logger, release: () => void) {
    this.#logger = logger;
    this.#stream = (logger as unknown as Record<symbol, { write(line: string): unknown }>)[pino.symbols.streamSym]!;
    // Lines are ASCII only (access-log-line.ts): Gantry's own destinations take them as such.
    this.#asciiStream = this.#stream instanceof BatchedDestination ? this.#stream : null;
    // pino's serialised bindings (`,"service":"gantry"`, or pid/hostname by default).
    const chindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '';
    this.#release = release;
    this.#successRatio = cfg.sample.successes;
    const redactHeaders = new Set(cfg.redact.headers.map((h) => h.toLowerCase()));
    this.#headers = cfg.headers.map((h) => [h.toLowerCase(), redactHeaders.has(h.toLowerCase())] as [string, boolean]);
    this.#redactQuery = new Set(cfg.redact.query.map((q) => q.toLowerCase()));
    this.#line = compileLine(cfg.fields, `${chindings},"msg":"request"`);
  }

  /**
   * Builds the writer for `log.access` (`true`, `false` or settings); null when off.
   * `logger` is the process logger, used for `stdout`.
   */
  static compile(setting: boolean | object | undefined, logger: Logger, baseDir: string): AccessLogWriter | null {
    if (setting === false) return null;
    const cfg = structuredClone(setting === true || setting === undefined ? {} : setting) as AccessLogConfig;
    // Defaults are filled here: Ajv does not apply defaults inside `anyOf` (true | {…}).
    const issues = validateInPlace(AccessLogSchema, cfg);
    if (issues.length > 0) throw new Error(`log.access: ${issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
    if (!cfg.enabled) return null;
    const out = openOutput(cfg.output, logger, baseDir);
    return new AccessLogWriter(cfg, out.logger, out.release);
  }

  /** Writes the line for a finished request (or skips it when sampled out). */
  write(ctx: RequestContext, bytesIn: number): void {
    const failed = ctx.status >= 400 || ctx.aborted || ctx.errorCode !== undefined;
    if (!failed && this.#successRatio < 1 && Math.random() >= this.#successRatio) return;
    if (this.#logger.levelVal > INFO) return;
    const line = this.#line(ctx, bytesIn, this);
    if (this.#asciiStream !== null) this.#asciiStream.writeAscii(line);
    else this.#stream.write(line);
  }

  /** The logged header map (`headers` field). */
  headersOf(ctx: RequestContext): Record<string, string> | undefined {
    if (this.#headers.length === 0) return undefined;
    const out: Record<string, string> = {};
    for (const [name, redacted] of this.#headers) {
      const v = ctx.header(name);
      if (v !== undefined) out[name] = redacted ? REDACTED : v;
    }
    return out;
  }

  /** The query string with redacted parameter values replaced. */
  queryOf(ctx: RequestContext): string | undefined {
    const q = ctx.query;
    if (q === '' || q === '?') return undefined;
    if (this.#redactQuery.size === 0) return q;
    const params = new URLSearchParams(q);
    let changed = false;
    for (const key of new Set(params.keys())) {
      if (this.#redactQuery.has(key.toLowerCase())) {
        params.set(key, REDACTED);
        changed = true;
      }
    }
    return changed ? `?${params.toString()}` : q;
  }

  /** Releases the destination (a file stays open while any config uses it). */
  close(): void {
    this.#release();
  }
}

const INFO = 30;

/**
 * Open file/stderr destinations shared by every config version that writes to them: a
 * file stays open while any config uses it, then SonicBoom flushes what is buffered and
 * closes it (stderr is never closed).
 */
const outputs = new RefCache<string, Output>((out, key) => {
  if (key === 'stderr') return;
  const done = out.dest.end();
  closing.add(done);
  void done.then(() => closing.delete(done));
});
/** Files being closed (their last lines still being written). */
const closing = new Set<Promise<void>>();

interface Output {
  logger: Logger;
  dest: BatchedDestination;
}

const outputErrorGate = logGate(60_000);

/**
 * Opens (creating folders as needed) an access-log file for appending, synchronously, so
 * that a path that cannot be written fails the config load or reload with its reason
 * instead of losing lines silently later.
 */
function openLogFile(path: string): number {
  try {
    makeFolders(dirname(path));
    return openSync(path, 'a');
  } catch (e) {
    throw new Error(`log.access.output: cannot open ${path} for writing (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
}

/**
 * Creates missing folders one level at a time. Node 20's `mkdirSync(p, { recursive: true })`
 * never returns for a path under a pseudo-filesystem such as /proc (mkdir answers ENOENT
 * though the parent exists, and it retries forever); one level at a time, that is an error.
 */
function makeFolders(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) {
    if (dirname(d) === d) break;
    missing.push(d);
  }
  for (const d of missing.reverse()) mkdirSync(d);
}

function openOutput(output: string, processLogger: Logger, baseDir: string): { logger: Logger; release: () => void } {
  if (output === 'stdout') return { logger: processLogger, release: () => undefined };
  const key = output === 'stderr' ? 'stderr' : isAbsolute(output) ? output : resolve(baseDir, output);
  const ref = outputs.acquire(key, () => {
    const dest = bufferedDestination(key === 'stderr' ? 2 : openLogFile(key), key);
    // Later write errors (disk full, file removed): one line a minute on the process log.
    dest.onError((err) => {
      if (outputErrorGate(key) >= 0) processLogger.error({ err, output: key }, 'access log cannot be written');
    });
    return { logger: pino(loggerOptions(), dest), dest };
  });
  return { logger: ref.value.logger, release: () => void ref.release() };
}

/** Writes out every access-log file (open or closing); resolves when done or after `timeoutMs`. */
export function flushAccessLogs(timeoutMs = 2000): Promise<void> {
  const flushed = [...outputs.entries()].map(([, o]) => new Promise<void>((r) => o.dest.flush(() => r())));
  const all = Promise.all([...flushed, ...closing]).then(() => undefined);
  return Promise.race([all, new Promise<void>((r) => setTimeout(r, timeoutMs).unref())]);
}
