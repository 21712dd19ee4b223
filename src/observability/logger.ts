import { Buffer } from 'node:buffer';
import { fstatSync } from 'node:fs';
import pino, { type DestinationStream, type Logger } from 'pino';
import { metrics } from './metrics.js';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Where lines go; default: stdout through a batching writer (see bufferedDestination). */
  destination?: DestinationStream;
}

/**
 * The process logger (pino, JSON lines). Writes are batched, and asynchronous to a terminal
 * or a pipe so that logging never waits on a slow reader on the data path; `flushLogger`
 * runs at exit.
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
 * A destination that writes in batches (one write call per ~50 access-log lines instead of
 * one per line) and flushes at least once a second, so lines still reach the terminal
 * promptly when traffic is light.
 *
 * A regular file is written synchronously, a batch at a time (pino's own default): a 16 KB
 * write into the page cache takes a few microseconds, while an asynchronous write is a
 * round trip through libuv's thread pool — two context switches per batch. With the gateway pinned to one CPU, synchronous
 * writes raised a route with an access log from 0.59 to 0.72 of the node ceiling
 * (docs/benchmarks.md). Anything else (a pipe, a socket, a terminal) is written
 * asynchronously, because a slow reader there must never stall the event loop.
 *
 * A file descriptor that is not a regular file may be shared with other processes —
 * cluster workers inherit the primary's stdout — and only writes of at most PIPE_BUF (4096)
 * bytes reach a pipe whole. There batches are cut at line boundaries below 4096 bytes, so
 * lines of different workers never interleave mid-line.
 */
export function bufferedDestination(fd: number, output = fd === 1 ? 'stdout' : fd === 2 ? 'stderr' : `fd ${fd}`, maxBuffered = MAX_BUFFERED): BatchedDestination {
  const file = isRegularFile(fd);
  const maxWrite = file ? 64 * 1024 : PIPE_BUF;
  // `maxLength` is sonic-boom's bound on what it holds unwritten (options its types omit).
  // At least two chunks, or a whole chunk would be dropped without being tried.
  const options = { dest: fd, sync: file, minLength: 0, maxWrite, contentMode: 'buffer', maxLength: Math.max(maxBuffered, 2 * CHUNK) } as Parameters<typeof pino.destination>[0];
  return new BatchedDestination(pino.destination(options), file ? 0 : PIPE_BUF, output);
}

/**
 * Most bytes a destination holds unwritten. A full disk, a removed file or a log reader
 * that stopped reading would otherwise make the gateway keep every line in memory until it
 * runs out; past this bound lines are dropped and counted (`gantry_log_lines_dropped_total`).
 */
export const MAX_BUFFERED = 16 * 1024 * 1024;

/** sonic-boom in `contentMode: 'buffer'` (its type declarations describe only the string mode). */
interface BufferSink {
  write(chunk: Buffer): boolean;
}

/** What sonic-boom (buffer mode) holds unwritten: the chunk being written and the queued ones. */
interface HeldBuffers {
  _writingBuf?: unknown;
  _bufs?: unknown;
}

/** Lines sonic-boom holds unwritten (read once, when its destination is gone for good). */
function heldLines(boom: unknown): number {
  const held = boom as HeldBuffers;
  let n = Buffer.isBuffer(held._writingBuf) ? countLines(held._writingBuf) : 0;
  if (Array.isArray(held._bufs)) for (const list of held._bufs) if (Array.isArray(list)) for (const b of list) if (Buffer.isBuffer(b)) n += countLines(b);
  return n;
}

const EMPTY = Buffer.alloc(0);

/** Lines in a chunk (chunks are whole lines, each ending in a newline). */
function countLines(data: Buffer | string): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) if ((typeof data === 'string' ? data.charCodeAt(i) : data[i]) === 10) n++;
  return n;
}

/** Largest write POSIX guarantees to reach a pipe in one piece (Linux: 4096). */
const PIPE_BUF = 4096;
const CHUNK = 16 * 1024;

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/**
 * Gathers lines into chunks in front of sonic-boom. sonic-boom's own `minLength` batching
 * measures the byte length of the chunk it appends to on every write (a scan of up to
 * `maxWrite` bytes per line: ~5 µs per access-log line), and its `flush` stops at
 * `minLength` when a write is already in flight; here sonic-boom only ever sees whole
 * chunks and writes each at once, and `flush(cb)` calls back once everything is written.
 * Chunks are handed over as bytes (sonic-boom's `contentMode: 'buffer'`): given a string,
 * sonic-boom measures its UTF-8 length twice and encodes it twice more (once to write,
 * once to account for a partial write), four passes where one does.
 */
export class BatchedDestination implements pino.DestinationStream {
  readonly #boom: ReturnType<typeof pino.destination>;
  /** When > 0: every chunk is whole lines of at most this many bytes (see PIPE_BUF). */
  readonly #atomicBytes: number;
  #pending = '';
  #pendingBytes = 0;
  /** Every line gathered in `#pending` came through `writeAscii`. */
  #ascii = true;
  /** Chunks handed to sonic-boom and not yet written. */
  #busy = false;
  #waiters: ((err?: Error) => void)[] = [];
  #onError: (err: Error) => void = () => undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #output: string;
  /** A write failed and nothing has been written since: sonic-boom holds the failed chunk. */
  #failing = false;
  /** sonic-boom's own `write`; pino swaps it for a no-op when the reader is gone (EPIPE). */
  readonly #write: BufferSink['write'];
  /** The destination writes nothing any more (see `#gone`); every later line is dropped and counted. */
  #closed = false;
  /** Lines dropped because the bound on unwritten bytes was reached. */
  dropped = 0;

  constructor(boom: ReturnType<typeof pino.destination>, atomicBytes = 0, output = 'log') {
    this.#boom = boom;
    this.#atomicBytes = atomicBytes;
    this.#output = output;
    this.#write = (boom as unknown as BufferSink).write;
    this.#timer = setInterval(() => this.#tick(), 1000).unref();
    boom.on('drain', () => this.#settle());
    boom.on('write', () => {
      this.#failing = false;
    });
    boom.on('error', (err: Error) => {
      this.#failing = true;
      this.#gone(); // after pino's own listener, which handles EPIPE first
      this.#settle(err);
      this.#onError(err);
    });
    boom.on('drop', (data: Buffer) => this.#drop(countLines(data)));
  }

  #drop(lines: number): void {
    if (lines === 0) return;
    this.dropped += lines;
    metrics.logLinesDropped(this.#output, lines);
  }

  /**
   * Whether the destination is gone for good. pino's rule for a closed stdout (EPIPE: the
   * reader went away) replaces sonic-boom's `write` with a no-op, so lines handed over
   * afterwards vanish silently. Checked on the error event and once per chunk, never per
   * line; the first time, the lines sonic-boom still held (the failed write and its queue)
   * are counted as dropped too.
   */
  #gone(): boolean {
    if (this.#closed) return true;
    if ((this.#boom as unknown as BufferSink).write === this.#write) return false;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#drop(heldLines(this.#boom));
    return true;
  }

  /**
   * Once a second: hands over what is gathered, and after a failed write tries the held
   * chunk again. sonic-boom retries a failed chunk only when it is given more to write, and
   * once its bound is reached it drops everything it is given without trying: an empty
   * write is what lets logging resume when the disk has room again or a reader is back.
   */
  #tick(): void {
    this.flush();
    if (!this.#failing || this.#closed) return;
    try {
      (this.#boom as unknown as BufferSink).write(EMPTY);
    } catch (e) {
      // closed meanwhile: a timer must never throw
      this.#onError(e as Error);
    }
  }

  /** Called when a write fails (the lines of that write are lost; later writes are tried). */
  onError(listener: (err: Error) => void): void {
    this.#onError = listener;
  }

  write(line: string): boolean {
    return this.#append(line, this.#atomicBytes > 0 ? Buffer.byteLength(line) : 0, false);
  }

  /**
   * `write` for a line known to be ASCII only (access-log lines escape everything else):
   * its byte length is its length, and a chunk of such lines is encoded as Latin-1, a copy,
   * where UTF-8 would first measure and then encode every character (~670 instructions per
   * access-log line).
   */
  writeAscii(line: string): boolean {
    return this.#append(line, line.length, true);
  }

  /** Gathers a line of `bytes` bytes (counted only on a pipe); a chunk is Latin-1 while every line in it is ASCII. */
  #append(line: string, bytes: number, ascii: boolean): boolean {
    if (this.#atomicBytes > 0) {
      if (this.#pendingBytes + bytes > this.#atomicBytes) this.#push();
      this.#pendingBytes += bytes;
    }
    this.#ascii &&= ascii;
    this.#pending += line;
    if (this.#atomicBytes === 0 && this.#pending.length >= CHUNK) this.#push();
    return true;
  }

  /** Hands what is gathered to sonic-boom; `cb` runs once all of it is written. */
  flush(cb?: (err?: Error) => void): void {
    this.#push();
    if (cb === undefined) return;
    if (this.#busy) this.#waiters.push(cb);
    else process.nextTick(cb);
  }

  /** Writes what is left and closes the file; resolves once closed. */
  end(): Promise<void> {
    clearInterval(this.#timer);
    this.#push();
    // pino made `end` a no-op too: no 'close' will come.
    if (this.#gone()) return Promise.resolve();
    const closed = new Promise<void>((resolve) => {
      this.#boom.once('close', () => resolve());
      this.#boom.once('error', () => resolve());
    });
    this.#boom.end();
    return closed;
  }

  #push(): void {
    if (this.#pending === '') return;
    const chunk = this.#pending;
    const encoding = this.#ascii ? 'latin1' : 'utf8';
    this.#pending = '';
    this.#pendingBytes = 0;
    this.#ascii = true;
    if (this.#gone()) return this.#drop(countLines(chunk));
    this.#busy = true;
    try {
      (this.#boom as unknown as BufferSink).write(Buffer.from(chunk, encoding));
    } catch (e) {
      // closed already (a line logged after its config was retired): report, never throw into a request
      this.#settle(e as Error);
      this.#onError(e as Error);
    }
  }

  #settle(err?: Error): void {
    this.#busy = false;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const cb of waiters) cb(err);
  }
}

let lastMs = -1;
let lastTime = '';
let lastSecond = -1;
let secondPrefix = '';
/** `'000'` … `'999'`. */
const MILLIS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/**
 * pino's ISO timestamp. Under load many lines share a millisecond, and `toISOString` per
 * line was a measurable part of access logging: the text is made once per millisecond,
 * and the date and time once per second (the milliseconds come from a table).
 */
export function isoTimeCached(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    const second = Math.floor(now / 1000);
    if (second !== lastSecond) {
      lastSecond = second;
      // `2026-11-28T07:41:32.000Z` without `000Z`
      secondPrefix = `,"time":"${new Date(second * 1000).toISOString().slice(0, -4)}`;
    }
    lastTime = `${secondPrefix}${MILLIS[now - second * 1000]!}Z"`;
  }
  return lastTime;
}

/**
 * Writes out buffered log lines; resolves once they are written (or after `timeoutMs`, so
 * a stuck terminal cannot hold up an exit).
 */
export function flushLogger(logger: Logger, timeoutMs = 2000): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    try {
      logger.flush(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      // a closed destination has nothing left to flush
      clearTimeout(timer);
      resolve();
    }
  });
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
