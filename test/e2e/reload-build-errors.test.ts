import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, httpRequest, startGateway, type TestGateway } from '../helpers.js';

/**
 * A reload whose config is valid but cannot be built — a port already taken, a file that
 * cannot be opened — answers 422 with an issue an operator can act on: the file, the line
 * and the config path of what failed, and why in plain words. Nothing changes: the previous
 * config keeps serving on every listener it had, the admin listener included.
 */

const TOKEN = 'reload-build-errors-token-01';
const auth = { authorization: `Bearer ${TOKEN}` };

interface Ports {
  public: number;
  admin: number;
  taken: number;
}

const config = (p: Ports, change: { publicPort?: number; adminPort?: number; internalFirst?: boolean; internal?: boolean; accessLog?: string } = {}) => {
  const pub = `  - name: public\n    port: ${change.publicPort ?? p.public}\n    host: 127.0.0.1\n`;
  const internal = change.internal || change.internalFirst ? `  - name: internal\n    port: ${p.taken}\n    host: 127.0.0.1\n` : '';
  return `version: 1
listeners:
${change.internalFirst ? internal + pub : pub + internal}admin: { host: 127.0.0.1, port: ${change.adminPort ?? p.admin}, token: "${TOKEN}" }
server: { readyRequiresStore: false }
${change.accessLog ? `log:\n  access:\n    output: ${change.accessLog}\n` : ''}routes:
  - { name: hello, match: { path: /hello }, static: { body: ok } }
`;
};

/** 1-based line of the first line of `text` starting with `prefix` (after indentation). */
const lineOf = (text: string, prefix: string, from = 0) => text.split('\n').findIndex((l, i) => i >= from && l.trimStart().startsWith(prefix)) + 1;

describe('a reload that cannot be built', () => {
  let ports: Ports;
  let gw: TestGateway;
  let squatter: net.Server;
  let admin: string;

  beforeAll(async () => {
    // Another process's socket, as far as the gateway can tell.
    squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    ports = { public: await freePort(), admin: await freePort(), taken: (squatter.address() as net.AddressInfo).port };
    gw = await startGateway(config(ports));
    admin = `http://127.0.0.1:${ports.admin}`;
  });
  afterAll(async () => {
    await gw?.close();
    await new Promise((r) => squatter?.close(r));
  });

  const cases: { desc: string; change: Parameters<typeof config>[1]; issue: (file: string, text: string) => string }[] = [
    {
      desc: 'a new listener on a port in use',
      change: { internal: true },
      issue: (f, t) => `${f}:${lineOf(t, '- name: internal')} listeners[1]: "internal": cannot listen on 127.0.0.1:${ports.taken}: address in use (EADDRINUSE)`,
    },
    {
      desc: 'a new listener on a port in use, listed before the kept one',
      change: { internalFirst: true },
      issue: (f, t) => `${f}:${lineOf(t, '- name: internal')} listeners[0]: "internal": cannot listen on 127.0.0.1:${ports.taken}: address in use (EADDRINUSE)`,
    },
    {
      desc: 'a listener moved to a port in use',
      change: { publicPort: -1 },
      issue: (f, t) => `${f}:${lineOf(t, '- name: public')} listeners[0]: "public": cannot listen on 127.0.0.1:${ports.taken}: address in use (EADDRINUSE)`,
    },
    {
      desc: 'the admin listener moved to a port in use',
      change: { adminPort: -1 },
      issue: (f, t) => `${f}:${lineOf(t, 'admin:')} admin: cannot listen on 127.0.0.1:${ports.taken}: address in use (EADDRINUSE)`,
    },
    {
      desc: 'an access log file that cannot be opened',
      change: { accessLog: '/proc/gantry-nope/access.log' },
      issue: (f, t) => `${f}:${lineOf(t, 'output:')} log.access.output: cannot open /proc/gantry-nope/access.log for writing (ENOENT)`,
    },
  ];

  for (const c of cases) {
    it(`${c.desc}: 422 naming file:line:path and the reason; the old config keeps serving`, async () => {
      const version = gw.gw.runtime.version;
      const change = { ...c.change };
      if (change.publicPort === -1) change.publicPort = ports.taken;
      if (change.adminPort === -1) change.adminPort = ports.taken;
      const text = config(ports, change);
      writeFileSync(gw.file, text);
      try {
        const res = await httpRequest(admin + '/api/reload', { method: 'POST', headers: auth });
        expect(res.status).toBe(422);
        const body = res.json<{ ok: boolean; version: number; issues: string[] }>();
        expect(body).toMatchObject({ ok: false, version });
        expect(body.issues).toEqual([c.issue(gw.file, text)]);
      } finally {
        writeFileSync(gw.file, config(ports));
      }
      // Nothing changed: same version, same listeners, all answering.
      expect(gw.gw.runtime.version).toBe(version);
      expect(gw.gw.addresses()).toEqual({ public: { host: '127.0.0.1', port: ports.public } });
      expect((await httpRequest(`http://127.0.0.1:${ports.public}/hello`)).text).toBe('ok');
      const status = await httpRequest(admin + '/api/status', { headers: auth });
      expect(status.json()).toMatchObject({ config: { version }, lastReload: { ok: false, issues: [c.issue(gw.file, text)] } });
    });
  }

  it('a start that cannot bind fails with the same issue (a ConfigError), leaving nothing bound', async () => {
    const free = { public: await freePort(), admin: await freePort(), taken: ports.taken };
    const text = config(free, { internal: true });
    const err = await startGateway(text).then(
      (g) => g.close().then(() => undefined),
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('ConfigError');
    const issue = `:${lineOf(text, '- name: internal')} listeners\\[1\\]: "internal": cannot listen on 127\\.0\\.0\\.1:${ports.taken}: address in use \\(EADDRINUSE\\)$`;
    expect(err?.message.split('\n').slice(1)).toEqual([expect.stringMatching(new RegExp(issue))]);
    // What was bound before the failure (the public and admin listeners) is closed again.
    for (const port of [free.public, free.admin]) await expect(httpRequest(`http://127.0.0.1:${port}/hello`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('reloads once the cause is gone', async () => {
    writeFileSync(gw.file, config(ports, { internal: true }));
    await new Promise((r) => squatter.close(r));
    try {
      const res = await httpRequest(admin + '/api/reload', { method: 'POST', headers: auth });
      expect(res.status).toBe(200);
      expect((await httpRequest(`http://127.0.0.1:${ports.taken}/hello`)).text).toBe('ok');
    } finally {
      await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r)); // closed again in afterAll
    }
  });
});
