import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { eventually, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * Server-sent events through plain proxy routes: each event reaches the client while the
 * upstream still holds the stream open (nothing waits for the end of the body), and a client
 * that leaves closes the upstream's stream.
 */
describe('server-sent events through proxy routes', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  /** Per stream id: sends the next event (or ends the stream with `null`). */
  const streams = new Map<string, (event: string | null) => void>();
  const closedByClient = new Set<string>();

  beforeAll(async () => {
    up = await startUpstream((req, res) => {
      const id = new URL(req.url!, 'http://x').searchParams.get('id')!;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': open\n\n');
      streams.set(id, (event) => (event === null ? res.end() : res.write(`data: ${event}\n\n`)));
      res.on('close', () => {
        if (!res.writableEnded) closedByClient.add(id);
      });
    });
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - { name: plain, match: { path: /events }, upstream: up }
  - name: with-policies
    match: { path: /p/events }
    upstream: up
    rewrite: { stripPrefix: /p }
    policies:
      - request-id: {}
      - headers: { response: { set: { x-route: "\${route.name}" } } }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  /** Opens a stream; `next()` resolves with the next `data:` line the client receives. */
  function open(path: string, id: string) {
    const received: string[] = [];
    const waiters: Array<() => void> = [];
    let buffered = '';
    let ended = false;
    const ready = new Promise<{ res: http.IncomingMessage; req: http.ClientRequest }>((resolve, reject) => {
      const req = http.get(`${gw.url}${path}?id=${id}`, { agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          buffered += text;
          let cut: number;
          while ((cut = buffered.indexOf('\n\n')) >= 0) {
            const event = buffered.slice(0, cut);
            buffered = buffered.slice(cut + 2);
            if (event.startsWith('data: ')) received.push(event.slice(6));
          }
          waiters.splice(0).forEach((w) => w());
        });
        res.on('end', () => {
          ended = true;
          waiters.splice(0).forEach((w) => w());
        });
        resolve({ res, req });
      });
      req.on('error', reject);
    });
    return {
      ready,
      received,
      async next(count: number): Promise<void> {
        while (received.length < count && !ended) await new Promise<void>((r) => waiters.push(r));
        expect(received.length).toBe(count);
      },
      ended: () => ended,
    };
  }

  for (const path of ['/events', '/p/events']) {
    it(`delivers each event while the upstream holds the stream open (${path})`, async () => {
      const id = `deliver${path.replaceAll('/', '-')}`;
      const client = open(path, id);
      const { res } = await client.ready;
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('text/event-stream');
      if (path === '/p/events') expect(res.headers['x-route']).toBe('with-policies');
      const send = await eventually(() => streams.get(id), 5000, 'the upstream stream');
      for (let i = 1; i <= 3; i++) {
        send(`event ${i}`);
        // The upstream has not ended its response: the event arrives on its own.
        await client.next(i);
        expect(client.received[i - 1]).toBe(`event ${i}`);
      }
      send(null);
      await eventually(() => client.ended() || undefined, 5000, 'the end of the stream');
      expect(client.received).toEqual(['event 1', 'event 2', 'event 3']);
    });
  }

  it('a client that leaves closes the upstream stream', async () => {
    const id = 'leave';
    const client = open('/events', id);
    const { req } = await client.ready;
    const send = await eventually(() => streams.get(id), 5000, 'the upstream stream');
    send('only');
    await client.next(1);
    req.destroy();
    await eventually(() => closedByClient.has(id) || undefined, 5000, 'the upstream to see the stream closed');
    // The access log tells an operator the client left mid-stream, with what it had received.
    const line = await eventually(() => gw.logs.find((l) => l.msg === 'request' && l.route === 'plain' && l.aborted === true), 5000, 'the access log line');
    expect(line.status).toBe(200);
    expect(line.bytesOut).toBe(Buffer.byteLength(': open\n\ndata: only\n\n'));
  });
});
