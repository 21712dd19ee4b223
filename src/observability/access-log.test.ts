import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccessLogWriter } from './access-log.js';
import { millis, str } from './access-log-line.js';
import { BatchedDestination, bufferedDestination, isoTimeCached, loggerOptions } from './logger.js';
import { metrics } from './metrics.js';
import type { RequestContext } from '../pipeline/context.js';

/** A logger whose lines are collected as raw text. */
function textLogger(level = 'info'): { logger: pino.Logger; text: () => string } {
  let text = '';
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { logger: pino(loggerOptions(level), dest), text: () => text };
}

/** The fields the writers read, as a finished request would have them. */
function fakeContext(over: Record<string, unknown> = {}): RequestContext {
  return {
    id: 'req-1',
    method: 'GET',
    path: '/p',
    query: '',
    route: { name: 'r', apiVersion: undefined },
    status: 200,
    target: 'http://127.0.0.1:1',
    upstreamMs: 1.23456,
    elapsed: () => 2.5,
    bytesOut: 10,
    clientIp: '127.0.0.1',
    listener: { name: 'public' },
    header: (name: string) => (name === 'user-agent' ? 'ua' : undefined),
    aborted: false,
    errorCode: undefined,
    ...over,
  } as unknown as RequestContext;
}

const ALL = ['requestId', 'method', 'path', 'query', 'route', 'status', 'target', 'upstreamMs', 'totalMs', 'bytesIn', 'bytesOut', 'clientIp', 'listener', 'error', 'userAgent'];

describe('access-log line', () => {
  it("is one JSON line in pino's shape, with strings escaped", () => {
    const { logger, text } = textLogger();
    const w = AccessLogWriter.compile({ fields: ALL }, logger, '/tmp')!;
    const path = '/a"b\\c\u2028d\u0001é';
    w.write(fakeContext({ path, status: 502, errorCode: 'GW_ERR_UPSTREAM', upstreamMs: -1, target: '' }), 7);
    const lines = text().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'info', service: 'gantry', msg: 'request', path, status: 502, error: 'GW_ERR_UPSTREAM', upstreamMs: null, target: null, bytesIn: 7, totalMs: 2.5, userAgent: 'ua' });
    expect(typeof line.time).toBe('string');
    expect(Number.isNaN(Date.parse(line.time as string))).toBe(false);
  });

  it('writes null for a number that is not finite, and marks aborted requests', () => {
    const { logger, text } = textLogger();
    const w = AccessLogWriter.compile({ fields: ['status', 'upstreamMs', 'bytesOut'] }, logger, '/tmp')!;
    w.write(fakeContext({ upstreamMs: Number.NaN, bytesOut: Number.POSITIVE_INFINITY, aborted: true, status: 200 }), 0);
    expect(JSON.parse(text())).toMatchObject({ status: 200, upstreamMs: null, bytesOut: null, aborted: true });
  });

  it('follows the logger level (nothing below info)', () => {
    const { logger, text } = textLogger('warn');
    AccessLogWriter.compile(true, logger, '/tmp')!.write(fakeContext({ status: 500 }), 0);
    expect(text()).toBe('');
  });
});

describe('access-log value formatting', () => {
  afterEach(() => vi.useRealTimers());

  it('prints durations as String(Math.round(ms * 100) / 100) does', () => {
    const samples = [0, 0.004, 0.005, 0.01, 0.1, 0.999, 1, 1.005, 1.23456, 2.5, 10.1, 99.995, 123.45, 1e6 + 0.07, 999_999_999.99];
    for (let i = 0; i < 2000; i++) samples.push(Math.random() * 10 ** ((i % 7) - 1));
    for (const ms of samples) expect(millis(ms)).toBe(String(Math.round(ms * 100) / 100));
    expect(millis(Number.NaN)).toBe('null');
    expect(millis(Number.POSITIVE_INFINITY)).toBe('null');
    expect(millis(-0.5)).toBe('-0.5');
  });

  it('quotes strings as JSON that reads back the same, in ASCII only', () => {
    const samples = ['', 'GET', '/a/b?c=d', '127.0.0.1', '::ffff:10.0.0.1', 'a"b', 'a\\b', '\u0000', '\t', '\u007f', 'é', '\u2028', '\ud800', '\udfff😀', '😀', '~', ' ', 'ÿ\u0100\uffff'];
    for (let c = 0; c < 0x180; c++) samples.push(`x${String.fromCharCode(c)}y`);
    for (const s of samples) {
      const q = str(s);
      expect(JSON.parse(q)).toBe(s);
      expect(q).toMatch(/^"[\x20-\x7e]*"$/);
      // Printable ASCII is written as JSON.stringify writes it.
      if (/^[\x20-\x7e]*$/.test(JSON.stringify(s))) expect(q).toBe(JSON.stringify(s));
    }
  });

  it('stamps lines with the ISO time of the current millisecond', () => {
    vi.useFakeTimers();
    for (const t of ['2026-11-28T07:41:32.000Z', '2026-11-28T07:41:32.007Z', '2026-11-28T07:41:32.999Z', '2026-11-28T07:41:33.010Z', '2027-01-01T00:00:00.100Z']) {
      vi.setSystemTime(new Date(t));
      expect(isoTimeCached()).toBe(`,"time":"${t}"`);
    }
  });
});

describe('batched destination', () => {
  it('gathers lines into chunks and writes them all, in order, on flush', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gantry-log-')), 'out.log');
    const dest = bufferedDestination(openSync(file, 'a'));
    expect(dest).toBeInstanceOf(BatchedDestination);
    const line = `${'x'.repeat(99)}\n`;
    for (let i = 0; i < 1000; i++) dest.write(line); // 100 KB: several chunks, some still gathered
    await new Promise<void>((resolve, reject) => dest.flush((err) => (err ? reject(err) : resolve())));
    expect(readFileSync(file, 'utf8')).toBe(line.repeat(1000));
    dest.end();
  });

  it('writes a full chunk to a regular file at once, without a thread-pool round trip', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gantry-log-')), 'out.log');
    const dest = bufferedDestination(openSync(file, 'a'));
    const line = `${'y'.repeat(99)}\n`;
    for (let i = 0; i < 200; i++) dest.write(line); // 20 KB: one 16 KB chunk handed over
    const written = readFileSync(file, 'utf8'); // read before any callback or tick has run
    expect(written.length).toBeGreaterThanOrEqual(16 * 1024);
    expect(line.repeat(200).startsWith(written)).toBe(true);
    await dest.end();
    expect(readFileSync(file, 'utf8')).toBe(line.repeat(200));
  });

  it('encodes chunks of ASCII lines as such, and a chunk with any other line as UTF-8', async () => {
    for (const fd of ['file', 'pipe'] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'gantry-log-'));
      const file = join(dir, 'out.log');
      // A pipe's chunks are cut below 4096 bytes at line boundaries (the other encoding path).
      const dest = fd === 'file' ? bufferedDestination(openSync(file, 'a')) : new BatchedDestination(pino.destination({ dest: file, sync: true }), 4096);
      const ascii = `{"path":"/a\\u00e9"}\n`;
      const other = '{"msg":"é ü 😀"}\n';
      let expected = '';
      for (let i = 0; i < 3000; i++) {
        // Runs of ASCII-only lines, with a line from another writer now and then.
        const line = i % 700 === 0 ? other : ascii;
        if (line === other) dest.write(line);
        else dest.writeAscii(line);
        expected += line;
      }
      await dest.end();
      expect(readFileSync(file, 'utf8')).toBe(expected);
    }
  });
});

describe('batched destination that cannot write', () => {
  it('holds at most its bound of unwritten bytes, then drops lines and counts them', () => {
    // A regular file opened read-only: every write fails (EBADF), as on a full disk.
    const file = join(mkdtempSync(join(tmpdir(), 'gantry-log-')), 'out.log');
    writeFileSync(file, '');
    const errors: Error[] = [];
    const dest = bufferedDestination(openSync(file, 'r'), 'test-readonly', 1024 * 1024);
    dest.onError((err) => errors.push(err));
    const line = `${'z'.repeat(999)}\n`;
    for (let i = 0; i < 20_000; i++) dest.write(line); // 20 MB against a 1 MB bound
    expect(errors.length).toBeGreaterThan(0);
    // Everything past the bound is dropped (about 19 MB of 20), not kept in memory.
    expect(dest.dropped).toBeGreaterThan(20_000 - 1_100);
    expect(dest.dropped).toBeLessThan(20_000 - 900);
    expect(metrics.logDropped.series('test-readonly').value).toBe(dest.dropped);
    void dest.end();
  });
});

describe('batched destination on a pipe', () => {
  it('hands over whole lines in chunks of at most 4096 bytes', async () => {
    const boom = pino.destination({ dest: '/dev/null', sync: false, minLength: 0, contentMode: 'buffer' });
    const chunks: string[] = [];
    const write = boom.write.bind(boom) as unknown as (data: Buffer) => boolean;
    (boom as unknown as { write: (data: Buffer) => boolean }).write = (data: Buffer) => {
      chunks.push(data.toString());
      return write(data);
    };
    const dest = new BatchedDestination(boom, 4096);
    const lines = Array.from({ length: 500 }, (_, i) => `${JSON.stringify({ i, pad: 'é'.repeat(i % 300) })}\n`);
    for (const l of lines) dest.write(l);
    await new Promise<void>((resolve) => dest.flush(() => resolve()));
    expect(chunks.join('')).toBe(lines.join(''));
    expect(chunks.length).toBeGreaterThan(20);
    for (const c of chunks) {
      expect(Buffer.byteLength(c)).toBeLessThanOrEqual(4096);
      expect(c.endsWith('\n')).toBe(true);
    }
    await dest.end();
  });
});
