import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
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

/** Writes YAML to a temp file and starts a gateway on it (listeners should use port 0). */
export async function startGateway(yaml: string, options: { env?: NodeJS.ProcessEnv; file?: string; clock?: Clock } = {}): Promise<TestGateway> {
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

export interface SpawnedGateway {
  pid: number;
  port: number;
  /** Parsed JSON log lines so far. */
  logs: Record<string, unknown>[];
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
  /** Peak resident set size of the gateway process (VmHWM), bytes. */
  peakRss(): number;
}

/**
 * Runs `node dist/cli.js start` on a config in a child process (npm test builds dist
 * first) and resolves once it logged its listener ports.
 */
export async function spawnGateway(yaml: string, options: { listener?: string; env?: NodeJS.ProcessEnv } = {}): Promise<SpawnedGateway> {
  const { spawn } = await import('node:child_process');
  const { readFileSync } = await import('node:fs');
  const file = writeTempConfig(yaml);
  const child = spawn(process.execPath, [join(process.cwd(), 'dist/cli.js'), 'start', '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buf = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${stderr}`)), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'gateway started') {
            clearTimeout(timer);
            const listeners = entry.listeners as Record<string, { port: number }>;
            resolve((options.listener ? listeners[options.listener] : Object.values(listeners)[0])!.port);
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then((code) => reject(new Error(`gateway exited with ${code}: ${stderr}`)));
  });
  return {
    pid: child.pid!,
    port,
    logs,
    exited,
    stop(signal = 'SIGTERM') {
      child.kill(signal);
      return exited;
    },
    peakRss() {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    },
  };
}
