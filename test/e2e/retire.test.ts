import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * A plugin whose close() takes a while, then leaves a marker file: a stand-in for a
 * policy that flushes something (a buffer, a connection) when its config version retires.
 * A plain policy definition needs no import of gantry (definePolicy returns its argument).
 */
const SLOW_CLOSE = `
import { writeFileSync } from 'node:fs';
export default {
  name: 'slow-close',
  description: 'Writes a marker file 150 ms after close() is called.',
  schema: { type: 'object', properties: { marker: { type: 'string' } }, required: ['marker'], additionalProperties: false },
  create(config) {
    return {
      request() {},
      close: () => new Promise((resolve) => setTimeout(() => { writeFileSync(config.marker, 'closed'); resolve(); }, 150)),
    };
  },
};
`;

describe('retiring a config version', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let marker: string;

  beforeAll(async () => {
    up = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'gantry-retire-'));
    marker = join(dir, 'closed.txt');
    writeFileSync(join(dir, 'slow-close.mjs'), SLOW_CLOSE);
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
plugins: [ ./slow-close.mjs ]
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - name: all
    match: { path: /* }
    upstream: echo
    policies: [ { slow-close: { marker: "${marker}" } } ]
`,
    );
    gw = await startGateway('', { file });
  });
  afterAll(async () => {
    await up?.close();
  });

  it('every caller of close waits until the policies have closed, not only the first', async () => {
    expect((await httpRequest(`${gw.url}/x`)).status).toBe(200);
    const first = gw.close();
    const second = gw.close();
    await second;
    expect(existsSync(marker), 'policy closed before the second close() resolved').toBe(true);
    await first;
  });
});
