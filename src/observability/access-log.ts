import { isAbsolute, resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import type { RequestContext } from '../pipeline/context.js';
import { AccessLog as AccessLogSchema, type AccessLogConfig, type AccessLogField } from '../config/ops-schema.js';
import { validateInPlace } from '../config/validate.js';
import { bufferedDestination, loggerOptions } from './logger.js';

export const REDACTED = '[REDACTED]';

/**
 * One JSON access-log line per request, written in the log phase (after the response is
 * finished, so it never delays it). Compiled once per config: the field list becomes an
 * array of writers, redaction sets are lower-cased, the destination is opened once and
 * shared across reloads.
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
  readonly #writers: readonly FieldWriter[];
  readonly #successRatio: number;
  readonly #headers: readonly [name: string, redacted: boolean][];
  readonly #redactQuery: ReadonlySet<string>;
  readonly #release: () => void;

  private constructor(cfg: AccessLogConfig, logger: Logger, release: () => void) {
    this.#logger = logger;
    this.#release = release;
    this.#successRatio = cfg.sample.successes;
    const redactHeaders = new Set(cfg.redact.headers.map((h) => h.toLowerCase()));
    this.#headers = cfg.headers.map((h) => [h.toLowerCase(), redactHeaders.has(h.toLowerCase())] as [string, boolean]);
    this.#redactQuery = new Set(cfg.redact.query.map((q) => q.toLowerCase()));
    this.#writers = cfg.fields.map((f) => FIELDS[f]);
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
    const line: Record<string, unknown> = { msg: 'request' };
    for (let i = 0; i < this.#writers.length; i++) this.#writers[i]!(line, ctx, bytesIn, this);
    if (ctx.aborted) line.aborted = true;
    this.#logger.info(line);
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

type FieldWriter = (line: Record<string, unknown>, ctx: RequestContext, bytesIn: number, w: AccessLogWriter) => void;

const round = (ms: number) => Math.round(ms * 100) / 100;

const FIELDS: Record<AccessLogField, FieldWriter> = {
  requestId: (l, c) => (l.requestId = c.id),
  method: (l, c) => (l.method = c.method),
  path: (l, c) => (l.path = c.path),
  query: (l, c, _b, w) => {
    const q = w.queryOf(c);
    if (q !== undefined) l.query = q;
  },
  route: (l, c) => (l.route = c.route?.name ?? null),
  status: (l, c) => (l.status = c.status),
  target: (l, c) => (l.target = c.target || null),
  upstreamMs: (l, c) => (l.upstreamMs = c.upstreamMs < 0 ? null : round(c.upstreamMs)),
  totalMs: (l, c) => (l.totalMs = round(c.elapsed())),
  bytesIn: (l, _c, b) => (l.bytesIn = b),
  bytesOut: (l, c) => (l.bytesOut = c.bytesOut),
  clientIp: (l, c) => (l.clientIp = c.clientIp),
  listener: (l, c) => (l.listener = c.listener.name),
  consumer: (l, c) => {
    if (c.consumer) l.consumer = c.consumer.id;
  },
  tenant: (l, c) => {
    const t = c.tenant ?? c.consumer?.tenant;
    if (t) l.tenant = t;
  },
  apiVersion: (l, c) => {
    const v = c.route?.apiVersion;
    if (v !== undefined) l.apiVersion = v;
  },
  error: (l, c) => {
    if (c.errorCode) l.error = c.errorCode;
  },
  traceId: (l, c) => {
    const id = c.trace?.traceId;
    if (id) l.traceId = id;
  },
  userAgent: (l, c) => {
    const ua = c.header('user-agent');
    if (ua !== undefined) l.userAgent = ua;
  },
  headers: (l, c, _b, w) => {
    const h = w.headersOf(c);
    if (h !== undefined) l.headers = h;
  },
};

/** Open file/stderr destinations shared by every config version that writes to them. */
const outputs = new Map<string, { logger: Logger; dest: pino.DestinationStream & { end(): void }; refs: number }>();

function openOutput(output: string, processLogger: Logger, baseDir: string): { logger: Logger; release: () => void } {
  if (output === 'stdout') return { logger: processLogger, release: () => undefined };
  const key = output === 'stderr' ? 'stderr' : isAbsolute(output) ? output : resolve(baseDir, output);
  let entry = outputs.get(key);
  if (entry === undefined) {
    const dest = key === 'stderr' ? bufferedDestination(2) : bufferedDestination(key, { append: true, mkdir: true });
    const logger = pino(loggerOptions(), dest);
    entry = { logger, dest, refs: 0 };
    outputs.set(key, entry);
  }
  entry.refs++;
  const e = entry;
  let released = false;
  return {
    logger: e.logger,
    release: () => {
      if (released) return;
      released = true;
      if (--e.refs > 0) return;
      outputs.delete(key);
      // SonicBoom flushes what is buffered, then closes the file (stderr stays open).
      if (key !== 'stderr') e.dest.end();
    },
  };
}

/** Flushes every file destination (tests, shutdown). */
export function flushAccessLogs(): Promise<void> {
  return Promise.all(
    [...outputs.values()].map((e) => new Promise<void>((r) => e.logger.flush(() => r()))),
  ).then(() => undefined);
}
