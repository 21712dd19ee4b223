import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { eventually, httpRequest, sleep, spawnGateway, startUpstream, type SpawnedGateway, type TestUpstream } from '../helpers.js';

const MB = 1024 * 1024;
const SIZE = 200 * MB;
const CHUNK = Buffer.alloc(64 * 1024, 'gantry-streaming-');

/** A readable of `total` bytes of a fixed pattern, produced on demand (never all in memory). */
function pattern(total: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(CHUNK.length, total - sent);
      sent += n;
      this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    },
  });
}

/** Streaming both ways, backpressure, and client aborts reaching the upstream. */
describe('streaming through a gateway process', () => {
  let up: TestUpstream;
  let gw: SpawnedGateway;
  const holds = { open: 0, closed: 0 };
  let pausedUpstreamClosed: Promise<void> = Promise.resolve();
  let uploadAborted: Promise<number> = Promise.resolve(0);

  beforeAll(async () => {
    let signalPaused: () => void = () => undefined;
    pausedUpstreamClosed = new Promise((r) => (signalPaused = r));
    let signalUpload: (n: number) => void = () => undefined;
    uploadAborted = new Promise((r) => (signalUpload = r));
    up = await startUpstream(
      (req, res) => {
        const url = req.url ?? '';
        if (url === '/upload' || url === '/upload-abort') {
          const hash = createHash('sha256');
          let n = 0;
          req.on('data', (c: Buffer) => {
            n += c.length;
            hash.update(c);
          });
          req.on('close', () => {
            if (url === '/upload-abort' && !req.complete) signalUpload(n);
          });
          req.on('end', () => {
            const out = JSON.stringify({ bytes: n, sha256: hash.digest('hex') });
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': out.length });
            res.end(out);
          });
          return;
        }
        if (url === '/download' || url === '/endless') {
          req.resume();
          const total = url === '/download' ? SIZE : Number.MAX_SAFE_INTEGER;
          res.writeHead(200, url === '/download' ? { 'content-length': String(SIZE) } : {});
          const src = pattern(total);
          src.pipe(res);
          res.on('close', () => {
            src.destroy();
            if (url === '/endless') signalPaused();
          });
          return;
        }
        if (url === '/hold') {
          req.resume();
          holds.open++;
          res.on('close', () => holds.closed++);
          return; // never answers
        }
        req.resume();
        res.writeHead(200, { 'content-length': '2' });
        res.end('ok');
      },
      { bufferBody: false },
    );
    gw = await spawnGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
log: { level: info, access: false }
upstreams:
  up:
    targets: [ "${up.url}" ]
    pool: { connections: 4 }
routes:
  - { name: all, match: { path: /* }, upstream: up }
`);
  });
  afterAll(async () => {
    await gw?.stop('SIGKILL');
    await up?.close();
  });

  it('streams a 200 MB upload and a 200 MB download with gateway RSS under 150 MB', { timeout: 120_000 }, async () => {
    // Upload: the upstream hashes what it receives.
    const expected = createHash('sha256');
    for await (const c of pattern(SIZE)) expected.update(c as Buffer);
    const uploaded = await new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
      const req = http.request(`http://127.0.0.1:${gw.port}/upload`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(JSON.parse(body)));
      });
      req.on('error', reject);
      pattern(SIZE).pipe(req);
    });
    expect(uploaded.bytes).toBe(SIZE);
    expect(uploaded.sha256).toBe(expected.digest('hex'));

    // Download: count what arrives.
    const downloaded = await new Promise<number>((resolve, reject) => {
      http
        .get(`http://127.0.0.1:${gw.port}/download`, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => resolve(n));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    expect(downloaded).toBe(SIZE);
    const peak = gw.peakRss();
    if (process.env.GANTRY_REPORT_RSS) console.log(`gateway peak RSS ${(peak / MB).toFixed(1)} MB`);
    expect(peak).toBeLessThan(150 * MB);
  });

  it('a client aborting an upload aborts the upstream request', async () => {
    const sock = net.connect(gw.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(`POST /upload-abort HTTP/1.1\r\nHost: a\r\nContent-Length: ${100 * MB}\r\n\r\n`);
    sock.write(Buffer.alloc(MB, 1));
    await sleep(200);
    sock.destroy();
    const received = await Promise.race([uploadAborted, sleep(5000).then(() => -1)]);
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(100 * MB);
  });

  it('a client that stops reading and disappears frees the upstream connection', async () => {
    const sock = net.connect(gw.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /endless HTTP/1.1\r\nHost: a\r\n\r\n');
    // Read the head, then stop reading so backpressure pauses the upstream.
    await new Promise((r) => sock.once('data', r));
    sock.pause();
    await sleep(500);
    sock.destroy();
    const closed = await Promise.race([pausedUpstreamClosed.then(() => true), sleep(5000).then(() => false)]);
    expect(closed).toBe(true);
  });

  it('a load run that ends with requests in flight leaves no upstream connection stuck', async () => {
    const before = holds.open;
    // 40 requests the upstream never answers, on a pool of 4 connections.
    const socks = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const s = net.connect(gw.port, '127.0.0.1');
        s.on('error', () => undefined);
        await new Promise((r) => s.once('connect', r));
        s.write('GET /hold HTTP/1.1\r\nHost: a\r\n\r\n');
        return s;
      }),
    );
    await sleep(300);
    expect(holds.open - before).toBeGreaterThan(0);
    for (const s of socks) s.destroy();
    // Every held upstream request is cancelled…
    await eventually(() => holds.closed === holds.open || undefined, 5000, 'every held upstream request to be cancelled');
    // …and the pool serves at full speed again.
    const results = await Promise.all(Array.from({ length: 40 }, () => httpRequest(`http://127.0.0.1:${gw.port}/fast`)));
    expect(results.every((r) => r.status === 200 && r.text === 'ok')).toBe(true);
  });
});
