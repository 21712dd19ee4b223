import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Writable } from 'node:stream';
import { Gateway } from '../src/gateway.js';
import type { Clock } from '../src/store/clock.js';

/**
 * Test harness: real sockets on 127.0.0.1 only. Upstreams are real node:http servers,
 * the gateway is the real Gateway class bound to port 0, clients are fetch / raw sockets.
 */

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface TestUpstream {
  url: string;
  port: number;
  server: http.Server;
  /** Every request the upstream received, body included. */
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** Starts an upstream; the default handler echoes method, url, headers and body length as JSON. */
export async function startUpstream(
  handler?: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void,
  options: { bufferBody?: boolean } = {},
): Promise<TestUpstream> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    if (options.bufferBody === false && handler) {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) });
      handler(req, res, Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
      if (handler) return handler(req, res, body);
      const out = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyLength: body.length });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A free 127.0.0.1 port (bound and released; the caller binds it next). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Parses the Prometheus text format into `name{labels}` → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Collects log lines in memory (parsed JSON). */
export function memoryLogger(level = 'info'): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level }, dest), lines };
}

export interface TestGateway {
  gw: Gateway;
  url: string;
  port: number;
  file: string;
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/**
 * Writes YAML to a temp file, or to `file` when given (so that relative paths in it resolve
 * against that file's folder; an empty `yaml` leaves a file written before as it is), and
 * starts a gateway on it (listeners should use port 0).
 */
export async function startGateway(yaml: string, options: { env?: NodeJS.ProcessEnv; file?: string; clock?: Clock } = {}): Promise<TestGateway> {
  if (options.file !== undefined && yaml !== '') writeFileSync(options.file, yaml);
  const file = options.file ?? writeTempConfig(yaml);
  const { logger, lines } = memoryLogger();
  const gw = await Gateway.start(file, { logger, env: options.env ?? process.env, ...(options.clock ? { clock: options.clock } : {}) });
  const port = gw.port();
  return { gw, url: `http://127.0.0.1:${port}`, port, file, logs: lines, close: () => gw.close() };
}

export function writeTempConfig(yaml: string, name = 'gateway.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-test-'));
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

/**
 * Sends raw bytes on a fresh TCP connection and resolves with everything the server sent
 * until it closed the connection or `timeoutMs` passed.
 */
export function rawRequest(port: number, data: string | Buffer, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, timeoutMs);
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (e) => {
      clearTimeout(timer);
      if (chunks.length) resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    sock.write(data);
  });
}

/** Status code of a raw HTTP response text. */
export function statusOf(raw: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return m ? Number(m[1]) : 0;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/**
 * A request through node:http (unlike fetch it can set Host and any other header),
 * on a fresh connection, body buffered.
 */
export function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString();
        resolve({ status: res.statusCode!, headers: res.headers, body, text, json: <T>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Polls `fn` until it returns a value other than undefined, and resolves with it; rejects
 * naming `what` once `ms` passed. The one way tests wait for something asynchronous.
 *
 * @example
 *   const span = await eventually(() => receiver.spans.find((s) => s.traceId === id), 5000, 'the span');
 */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, ms = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export interface SpawnedGateway {
  proc: ChildProcess;
  pid: number;
  /**
   * Port of the listener `options.listener` (default: the first) as the 'gateway started'
   * log line reported it; 0 when the gateway logs above `info` (use `readyUrl` then).
   */
  port: number;
  /** The config file (or folder) the process runs on. */
  file: string;
  /** Parsed JSON log lines of stdout so far. */
  logs: Record<string, unknown>[];
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Sends a signal to the process. */
  signal(sig: NodeJS.Signals): void;
  /** Sends `signal` (SIGTERM by default; SIGKILL after 10 s) unless it exited; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
  /** Peak resident set size of the gateway process (VmHWM), bytes. */
  peakRss(): number;
}

export interface SpawnOptions {
  /** Extra `gantry start` arguments, e.g. `['--workers', '2']`. */
  args?: string[];
  /** Ready once this URL answers 200 (e.g. the admin `/readyz`); default: once the 'gateway started' line is logged. */
  readyUrl?: string;
  /** Which listener's port `port` reports. */
  listener?: string;
  env?: NodeJS.ProcessEnv;
  /** Run on this existing config file or folder instead of writing `yaml` to a temp file. */
  file?: string;
}

/**
 * Runs `node dist/cli.js start --config FILE` in a child process (npm test builds dist
 * first) and resolves once it is ready: `readyUrl` answers 200, or without one, the
 * 'gateway started' line was logged.
 *
 * @example
 *   const g = await spawnGateway(yaml, { args: ['--workers', '2'], readyUrl: `${admin}/readyz` });
 *   g.signal('SIGHUP');
 *   expect(await g.stop()).toBe(0);
 */
export async function spawnGateway(yaml: string, options: SpawnOptions = {}): Promise<SpawnedGateway> {
  const file = options.file ?? writeTempConfig(yaml);
  const child = spawn(process.execPath, [join(process.cwd(), 'dist/cli.js'), 'start', '--config', file, ...(options.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  const logs: Record<string, unknown>[] = [];
  let out = '';
  let buf = '';
  let port = 0;
  let started = false;
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    const text = d.toString();
    out += text;
    buf += text;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue; // not a log line
      }
      logs.push(entry);
      if (entry.msg === 'gateway started' && !started) {
        started = true;
        const listeners = entry.listeners as Record<string, { port: number }>;
        port = (options.listener ? listeners[options.listener] : Object.values(listeners)[0])?.port ?? 0;
      }
    }
  });
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      exitCode = code;
      r(code);
    }),
  );
  const ready = async () => {
    if (exitCode !== undefined) throw new Error(`gateway exited (${exitCode}):\n${out}`);
    if (options.readyUrl === undefined) return started || undefined;
    try {
      return (await httpRequest(options.readyUrl)).status === 200 || undefined;
    } catch {
      return undefined; // not listening yet
    }
  };
  try {
    // Generous: a cluster start imports the gateway in three processes, slow on a busy 2-core machine.
    await eventually(ready, 25_000, 'the gateway to start');
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${out}`);
  }
  return {
    proc: child,
    pid: child.pid!,
    port,
    file,
    logs,
    output: () => out,
    signal: (sig) => void child.kill(sig),
    exited,
    async stop(signal = 'SIGTERM') {
      if (exitCode !== undefined) return exitCode;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    peakRss() {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    },
  };
}
