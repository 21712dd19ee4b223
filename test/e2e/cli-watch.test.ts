import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, httpRequest, spawnGateway, type SpawnedGateway } from '../helpers.js';

const TOKEN = 'watch-token-0123456789';

/** `gantry start` reloads when its config file changes, and keeps serving through a bad edit. */
describe('gantry start: config file watch', () => {
  let gantry: SpawnedGateway;
  let file: string;
  let pub: string;
  let admin: string;
  const config = (body: string) => `version: 1
listeners: [ { name: public, port: ${new URL(pub).port}, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: ${new URL(admin).port}, token: "${TOKEN}" }
reload: { watch: true, debounce: 100ms }
log: { level: error }
routes:
  - { name: hello, match: { path: /hello }, static: { status: 200, body: "${body}" } }
`;
  const version = async () =>
    (await httpRequest(`${admin}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json<{ config: { version: number }; lastReload: { ok: boolean } | null }>();

  beforeAll(async () => {
    pub = `http://127.0.0.1:${await freePort()}`;
    admin = `http://127.0.0.1:${await freePort()}`;
    gantry = await spawnGateway(config('one'), { readyUrl: `${admin}/readyz` });
    file = gantry.file;
  });
  afterAll(async () => {
    await gantry?.stop();
  });

  it('an edit reloads; a broken edit is rejected and the last good config keeps serving', async () => {
    expect((await httpRequest(`${pub}/hello`)).text).toBe('one');
    writeFileSync(file, config('two'));
    await eventually(async () => ((await httpRequest(`${pub}/hello`)).text === 'two' ? true : undefined), 10_000, 'the edit to be served');
    expect((await version()).config.version).toBe(2);
    writeFileSync(file, config('three').replace('routes:', 'routes: [ broken'));
    const s = await eventually(async () => {
      const v = await version();
      return v.lastReload?.ok === false ? v : undefined;
    }, 10_000, 'the broken edit to be rejected');
    expect(s.config.version).toBe(2);
    expect((await httpRequest(`${pub}/hello`)).text).toBe('two');
  });
});

/** `gantry start --config DIR`: the folder's `.yaml` files are one config, and any of them changing reloads it. */
describe('gantry start: config folder watch', () => {
  let gantry: SpawnedGateway;
  let dir: string;
  let pub: string;
  let admin: string;
  const routes = (body: string) => `routes:\n  - { name: hello, match: { path: /hello }, static: { status: 200, body: "${body}" } }\n`;
  const status = async () =>
    (await httpRequest(`${admin}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).json<{
      config: { version: number };
      lastReload: { ok: boolean; issues?: string[] } | null;
    }>();
  const served = (path: string, text: string) =>
    eventually(async () => ((await httpRequest(`${pub}${path}`)).text === text ? true : undefined), 10_000, `${path} to answer ${text}`);

  beforeAll(async () => {
    pub = `http://127.0.0.1:${await freePort()}`;
    admin = `http://127.0.0.1:${await freePort()}`;
    dir = mkdtempSync(join(tmpdir(), 'gantry-folder-'));
    writeFileSync(
      join(dir, '00-base.yaml'),
      `version: 1
listeners: [ { name: public, port: ${new URL(pub).port}, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: ${new URL(admin).port}, token: "${TOKEN}" }
reload: { watch: true, debounce: 100ms }
log: { level: error }
`,
    );
    writeFileSync(join(dir, '10-routes.yaml'), routes('one'));
    gantry = await spawnGateway('', { file: dir, readyUrl: `${admin}/readyz` });
  });
  afterAll(async () => {
    await gantry?.stop();
  });

  it('editing or adding a file reloads; a broken file is rejected and the last good config keeps serving', async () => {
    expect((await httpRequest(`${pub}/hello`)).text).toBe('one');
    writeFileSync(join(dir, '10-routes.yaml'), routes('two'));
    await served('/hello', 'two');
    expect((await status()).config.version).toBe(2);

    // A new file joins the config (its routes are appended to the list).
    writeFileSync(join(dir, '20-extra.yaml'), 'routes:\n  - { name: extra, match: { path: /extra }, static: { status: 200, body: extra } }\n');
    await served('/extra', 'extra');
    expect((await status()).config.version).toBe(3);

    writeFileSync(join(dir, '20-extra.yaml'), 'routes:\n  - { name: extra, match: { path: /extra }, upstream: nowhere }\n');
    const s = await eventually(async () => {
      const v = await status();
      return v.lastReload?.ok === false ? v : undefined;
    }, 10_000, 'the broken file to be rejected');
    expect(s.lastReload!.issues!.join('\n')).toMatch(/20-extra\.yaml:2 routes\[1\]\.upstream: unknown upstream 'nowhere'/);
    expect(s.config.version).toBe(3);
    expect((await httpRequest(`${pub}/hello`)).text).toBe('two');
    expect((await httpRequest(`${pub}/extra`)).text).toBe('extra');
  });
});
