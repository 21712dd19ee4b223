import { readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, httpRequest, sleep, spawnGateway, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/** Where a /proc fd link points, or undefined when the fd closed meanwhile (readdir's own). */
function linkOf(link: string): string | undefined {
  try {
    return readlinkSync(link);
  } catch {
    return undefined;
  }
}

/** Access-log settings: fields, redaction, sampling and file output. */
describe('access log', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let file: TestGateway;

  beforeAll(async () => {
    up = await startUpstream();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
log:
  access:
    fields: [requestId, method, path, query, route, status, headers, userAgent, error]
    headers: [authorization, cookie, x-api-key, user-agent, x-tenant]
    sample: { successes: 0 }
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - { name: echo, match: { path: /echo/* }, upstream: echo }
  - { name: quiet, match: { path: /quiet }, static: { status: 200 }, accessLog: false }
`);
    file = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
log: { access: { output: logs/access.log, fields: [method, path, status] } }
routes:
  - { name: ok, match: { path: /ok }, static: { status: 200, body: ok } }
`);
  });
  afterAll(async () => {
    await gw?.close();
    await file?.close();
    await up?.close();
  });

  const accessLines = (g: TestGateway) => g.logs.filter((l) => l.msg === 'request');

  it('logs every error and redacts credentials in headers and query', async () => {
    const res = await httpRequest(`${gw.url}/missing?api_key=s3cret&page=2&Token=abc`, {
      headers: { authorization: 'Bearer top-secret', cookie: 'sid=abc', 'x-api-key': 'k-123', 'user-agent': 'curl/8', 'x-tenant': 'acme' },
    });
    expect(res.status).toBe(404);
    await sleep(20);
    const line = accessLines(gw).at(-1)!;
    expect(line).toMatchObject({
      method: 'GET',
      path: '/missing',
      route: null,
      status: 404,
      error: 'GW_ERR_NOT_FOUND',
      userAgent: 'curl/8',
      headers: { authorization: '[REDACTED]', cookie: '[REDACTED]', 'x-api-key': '[REDACTED]', 'user-agent': 'curl/8', 'x-tenant': 'acme' },
    });
    expect(line.query).toBe('?api_key=%5BREDACTED%5D&page=2&Token=%5BREDACTED%5D');
    expect(JSON.stringify(line)).not.toMatch(/top-secret|sid=abc|k-123|s3cret/);
    // Only the configured fields (plus the test logger's own: level, time, pid, hostname) are written.
    expect(Object.keys(line).sort()).toEqual(['error', 'headers', 'hostname', 'level', 'method', 'msg', 'path', 'pid', 'query', 'requestId', 'route', 'status', 'time', 'userAgent'].sort());
  });

  it('samples successes (ratio 0 here) but never errors; routes can opt out', async () => {
    const before = accessLines(gw).length;
    for (let i = 0; i < 5; i++) expect((await httpRequest(`${gw.url}/echo/ok`)).status).toBe(200);
    expect((await httpRequest(`${gw.url}/quiet`)).status).toBe(200);
    expect((await httpRequest(`${gw.url}/nope`)).status).toBe(404);
    await sleep(20);
    const added = accessLines(gw).slice(before);
    expect(added.map((l) => l.status)).toEqual([404]);
  });

  it('writes to a file relative to the config', async () => {
    for (let i = 0; i < 3; i++) await httpRequest(`${file.url}/ok`);
    await file.gw.close();
    await sleep(50);
    const lines = readFileSync(join(dirname(file.file), 'logs/access.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ msg: 'request', method: 'GET', path: '/ok', status: 200 });
    expect(accessLines(file)).toHaveLength(0);
  });

  it('a reload that keeps a file output keeps the same open file; the reload that drops it writes it out and closes it', async () => {
    const old = await startUpstream();
    const cfg = (access: string, withOld: boolean) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
log: { access: ${access} }
upstreams: ${withOld ? `{ old: { targets: [ "${old.url}" ] } }` : '{}'}
routes:
  - { name: ok, match: { path: /* }, static: { status: 200, body: ok } }
${withOld ? '  - { name: old, match: { path: /old }, upstream: old }' : ''}
`;
    const access = '{ output: logs/shared.log, fields: [path] }';
    const g = await startGateway(cfg(access, true));
    try {
      const path = join(realpathSync(dirname(g.file)), 'logs/shared.log');
      // The file descriptors of this process open on the log file.
      const fds = () => readdirSync('/proc/self/fd').filter((fd) => linkOf(`/proc/self/fd/${fd}`) === path);
      expect((await httpRequest(`${g.url}/old`)).status).toBe(200); // a pooled connection to `old`
      expect((await httpRequest(`${g.url}/one`)).status).toBe(200);
      const open = fds();
      expect(open).toHaveLength(1);

      // Same output, `old` gone: once the first config version has retired (its pool to
      // `old` closed, which comes after its access log is released), the file is still open.
      writeFileSync(g.file, cfg(access, false));
      expect((await g.gw.reload()).ok).toBe(true);
      const connections = () => new Promise<number>((r) => old.server.getConnections((_e, n) => r(n)));
      await eventually(async () => ((await connections()) === 0 ? true : undefined), 5000, 'the first config version to retire');
      expect(fds()).toEqual(open);
      expect((await httpRequest(`${g.url}/two`)).status).toBe(200);

      // Access log off: the last version using the file retires, its lines are written, the file closes.
      writeFileSync(g.file, cfg('false', false));
      expect((await g.gw.reload()).ok).toBe(true);
      await eventually(() => (fds().length === 0 ? true : undefined), 5000, 'the log file to be closed');
      expect((await httpRequest(`${g.url}/three`)).status).toBe(200);
      const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { path: string }).path);
      expect(lines).toEqual(['/old', '/one', '/two']);
    } finally {
      await g.close();
      await old.close();
    }
  });

  it('SIGTERM writes every buffered access-log line before the process exits', async () => {
    const child = await spawnGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
log: { access: { output: stdout } }
routes:
  - { name: ok, match: { path: /ok }, static: { status: 200, body: ok } }
`);
    const n = 300; // ~100 KB of lines: several chunks, the last one still gathered in memory
    for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: 50 }, () => httpRequest(`http://127.0.0.1:${child.port}/ok`)));
    expect(await child.stop('SIGTERM')).toBe(0);
    expect(child.logs.filter((l) => l.msg === 'request')).toHaveLength(n);
    expect(child.logs.some((l) => l.msg === 'drained')).toBe(true);
  });

  it('refuses to start on an output it cannot open, and reports write errors on the process log', async () => {
    await expect(
      startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
log: { access: { output: /proc/gantry-nope/access.log } }
routes: [ { name: ok, match: { path: /ok }, static: { status: 200 } } ]
`),
    ).rejects.toThrow(/log\.access\.output: cannot open \/proc\/gantry-nope\/access\.log/);
    // /dev/full opens, but every write fails with ENOSPC.
    const full = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
log: { access: { output: /dev/full } }
routes: [ { name: ok, match: { path: /ok }, static: { status: 200 } } ]
`);
    try {
      for (let i = 0; i < 3; i++) expect((await httpRequest(`${full.url}/ok`)).status).toBe(200);
      await eventually(() => full.logs.some((l) => l.msg === 'access log cannot be written') || undefined, 3000, 'the write error to be logged');
      const errors = full.logs.filter((l) => l.msg === 'access log cannot be written');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ output: '/dev/full', err: { code: 'ENOSPC' } });
      expect((await httpRequest(`${full.url}/ok`)).status).toBe(200);
    } finally {
      await full.close();
    }
  });

  it('rejects unknown fields with the config path', async () => {
    await expect(
      startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
log: { access: { fields: [method, password] } }
routes: [ { name: ok, match: { path: /ok }, static: { status: 200 } } ]
`),
    ).rejects.toThrow(/log\.access/);
  });
});
