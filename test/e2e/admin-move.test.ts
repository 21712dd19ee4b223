import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, httpRequest, startGateway, type TestGateway } from '../helpers.js';

/**
 * A reload asked for on the admin listener that moves (or removes) that very listener
 * answers on the connection it came in on: the old socket stops accepting, the reply still
 * goes out, then the connection closes.
 */

const TOKEN = 'admin-move-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

const config = (pub: number, admin?: number) => `version: 1
listeners: [ { name: public, port: ${pub}, host: 127.0.0.1 } ]
${admin === undefined ? '' : `admin: { host: 127.0.0.1, port: ${admin}, token: "${TOKEN}" }\n`}server: { readyRequiresStore: false }
routes:
  - { name: hello, match: { path: /hello }, static: { body: ok } }
`;

describe('a reload that moves the admin listener it was asked on', () => {
  let gw: TestGateway;
  let pub: number;
  let first: number;

  beforeAll(async () => {
    pub = await freePort();
    first = await freePort();
    gw = await startGateway(config(pub, first));
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('moved: the reload answers 200 on the old port, which then refuses; the new port serves', async () => {
    const moved = await freePort();
    writeFileSync(gw.file, config(pub, moved));
    const res = await httpRequest(`http://127.0.0.1:${first}/api/reload`, { method: 'POST', headers: auth });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ ok: true, version: 2 });
    expect(res.headers.connection).toBe('close');
    expect(gw.gw.adminPort).toBe(moved);
    expect((await httpRequest(`http://127.0.0.1:${moved}/api/status`, { headers: auth })).json()).toMatchObject({ config: { version: 2 } });
    await expect(httpRequest(`http://127.0.0.1:${first}/readyz`)).rejects.toThrow(/ECONNREFUSED/);
    first = moved;
  });

  it('removed: the reload answers 200, then the admin port refuses', async () => {
    writeFileSync(gw.file, config(pub));
    const res = await httpRequest(`http://127.0.0.1:${first}/api/reload`, { method: 'POST', headers: auth });
    expect(res.status).toBe(200);
    expect(gw.gw.adminPort).toBeUndefined();
    await expect(httpRequest(`http://127.0.0.1:${first}/readyz`)).rejects.toThrow(/ECONNREFUSED/);
    expect((await httpRequest(`http://127.0.0.1:${pub}/hello`)).text).toBe('ok');
  });
});
