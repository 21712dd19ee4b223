import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pool } from 'undici';
import { PROXY_SET_FIELDS } from './headers.js';
import { registerHeaderName } from './undici-names.js';
import { IDENTITY_HEADERS } from '../consumers/identity.js';

// The table undici consults before checking a request header's name (see undici-names.ts).
const record = (createRequire(import.meta.url)('undici/lib/core/constants.js') as { headerNameLowerCasedRecord: Record<string, string | undefined> })
  .headerNameLowerCasedRecord;

describe('header names the gateway sends, made known to undici', () => {
  it('the forwarding and identity fields are known once loaded (fails when an undici upgrade drops the table)', () => {
    for (const name of [...PROXY_SET_FIELDS, ...Object.values(IDENTITY_HEADERS)]) expect(record[name], name).toBe(name);
  });

  it('registers lower-case tokens only: invalid or upper-case names keep undici’s own check', () => {
    expect(registerHeaderName('x-gantry-test-registered')).toBe(true);
    expect(record['x-gantry-test-registered']).toBe('x-gantry-test-registered');
    for (const bad of ['x gantry', 'x-gantry\r\nx-evil', 'X-Gantry-Upper', '', 'x-gäntry']) {
      expect(registerHeaderName(bad), JSON.stringify(bad)).toBe(false);
      expect(record[bad]).toBeUndefined();
    }
  });

  describe('requests carrying registered names', () => {
    let server: http.Server;
    let pool: Pool;
    const seen: http.IncomingHttpHeaders[] = [];
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        seen.push(req.headers);
        res.end('ok');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
    afterAll(async () => {
      await pool.close();
      server.close();
    });

    it('still reach the upstream, and undici still refuses an invalid value', async () => {
      registerHeaderName('x-gantry-test-sent');
      const res = await pool.request({ method: 'GET', path: '/', headers: ['x-gantry-test-sent', 'a b', 'x-forwarded-for', '127.0.0.1'] });
      expect(await res.body.text()).toBe('ok');
      expect(seen.at(-1)).toMatchObject({ 'x-gantry-test-sent': 'a b', 'x-forwarded-for': '127.0.0.1' });
      await expect(pool.request({ method: 'GET', path: '/', headers: ['x-gantry-test-sent', 'a\r\nx-evil: 1'] })).rejects.toThrow(/invalid x-gantry-test-sent header/);
    });
  });
});
