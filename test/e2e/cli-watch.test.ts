import { writeFileSync } from 'node:fs';
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
