import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, rawRequest, startGateway, startUpstream, statusOf, type TestGateway, type TestUpstream } from '../helpers.js';

/** The validate policy over real sockets: each location, coercion, body rules, error format. */

interface Problem {
  type: string;
  status: number;
  detail: string;
  requestId: string;
  instance: string;
  errors: { location: string; pointer: string; message: string; keyword: string }[];
}

describe('validate policy', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream();
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  up: { targets: [ "${up.url}" ] }
routes:
  - name: orders
    match: { path: "/orders/:id", methods: [GET, POST, PUT] }
    upstream: up
    policies:
      - validate:
          params: { type: object, properties: { id: { type: integer, minimum: 1 } } }
          query:
            type: object
            properties:
              limit: { type: integer, maximum: 100 }
              tag: { type: array, items: { type: string, maxLength: 3 } }
            additionalProperties: false
          headers: { type: object, required: [x-tenant], properties: { x-tenant: { type: string, pattern: "^[a-z]+$" } } }
          body:
            type: object
            required: [name, items]
            properties:
              name: { type: string, minLength: 1 }
              email: { type: string, format: email }
              items: { type: array, items: { type: object, required: [qty], properties: { qty: { type: integer, minimum: 1 } } } }
          maxBodySize: 1kb
          maxErrors: 3
  - name: lenient
    match: { path: /lenient }
    upstream: up
    policies:
      - validate: { body: { type: object }, requireBody: false, jsonTypes: [text/json], coerce: false, query: { type: object, properties: { n: { type: integer } } } }
  - name: plain
    match: { path: /plain }
    upstream: up
`);
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const json = { 'content-type': 'application/json', 'x-tenant': 'acme' };
  const good = JSON.stringify({ name: 'n', email: 'a@b.example', items: [{ qty: 2 }] });

  it('passes a valid request, and the body reaches the upstream byte for byte', async () => {
    // Odd spacing and key order: the upstream must get exactly these bytes, not a re-serialisation.
    const sent = '{ "items" : [ {"qty":2} ],\n  "name":"n\\u00e9" }';
    const before = up.seen.length;
    const r = await httpRequest(gw.url + '/orders/7?limit=50&tag=a&tag=bc', { method: 'POST', headers: json, body: sent });
    expect(r.status).toBe(200);
    const seen = up.seen[before]!;
    expect(seen.body.toString()).toBe(sent);
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(sent)));
    expect(seen.url).toBe('/orders/7?limit=50&tag=a&tag=bc');
  });

  it('streams a chunked body through validation and forwards it intact', async () => {
    const before = up.seen.length;
    const raw = await rawRequest(
      gw.port,
      `POST /orders/3 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Tenant: acme\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{"nam\r\n${(good.length - 5).toString(16)}\r\n${good.slice(5)}\r\n0\r\n\r\n`,
    );
    expect(statusOf(raw)).toBe(200);
    expect(up.seen[before]!.body.toString()).toBe(good);
  });

  const cases: { desc: string; url: string; headers?: Record<string, string>; body?: string; method?: string; status: number; errors?: { location: string; pointer: string; keyword?: string }[] }[] = [
    { desc: 'a path param that is not an integer', url: '/orders/x', status: 400, errors: [{ location: 'params', pointer: '/id', keyword: 'type' }] },
    { desc: 'a path param below its minimum (coerced)', url: '/orders/0', status: 400, errors: [{ location: 'params', pointer: '/id', keyword: 'minimum' }] },
    { desc: 'a query value over its maximum', url: '/orders/1?limit=101', status: 400, errors: [{ location: 'query', pointer: '/limit', keyword: 'maximum' }] },
    { desc: 'a query value that is not an integer', url: '/orders/1?limit=ten', status: 400, errors: [{ location: 'query', pointer: '/limit', keyword: 'type' }] },
    { desc: 'an unknown query parameter', url: '/orders/1?debug=1', status: 400, errors: [{ location: 'query', pointer: '/debug', keyword: 'additionalProperties' }] },
    { desc: 'a repeated query value, each checked', url: '/orders/1?tag=ok&tag=toolong', status: 400, errors: [{ location: 'query', pointer: '/tag/1', keyword: 'maxLength' }] },
    { desc: 'a single query value coerced to an array', url: '/orders/1?tag=ok', status: 200 },
    { desc: 'a missing header', url: '/orders/1', headers: {}, status: 400, errors: [{ location: 'headers', pointer: '/x-tenant', keyword: 'required' }] },
    { desc: 'a header against its pattern', url: '/orders/1', headers: { 'x-tenant': 'ACME' }, status: 400, errors: [{ location: 'headers', pointer: '/x-tenant', keyword: 'pattern' }] },
    { desc: 'errors from several locations at once', url: '/orders/x?limit=ten', headers: {}, status: 400, errors: [{ location: 'params', pointer: '/id' }, { location: 'headers', pointer: '/x-tenant' }, { location: 'query', pointer: '/limit' }] },
    { desc: 'a body missing a required field', url: '/orders/1', method: 'POST', body: '{"items":[]}', status: 400, errors: [{ location: 'body', pointer: '/name', keyword: 'required' }] },
    { desc: 'a nested body error', url: '/orders/1', method: 'POST', body: '{"name":"n","items":[{"qty":1},{"qty":0}]}', status: 400, errors: [{ location: 'body', pointer: '/items/1/qty', keyword: 'minimum' }] },
    { desc: 'a format (ajv-formats)', url: '/orders/1', method: 'POST', body: '{"name":"n","items":[],"email":"nope"}', status: 400, errors: [{ location: 'body', pointer: '/email', keyword: 'format' }] },
    { desc: 'a body value of the wrong type (no coercion for bodies)', url: '/orders/1', method: 'POST', body: '{"name":"n","items":[{"qty":"2"}]}', status: 400, errors: [{ location: 'body', pointer: '/items/0/qty', keyword: 'type' }] },
    { desc: 'malformed JSON', url: '/orders/1', method: 'POST', body: '{"name":', status: 400, errors: [{ location: 'body', pointer: '', keyword: 'json' }] },
    { desc: 'a missing body', url: '/orders/1', method: 'POST', body: '', status: 400, errors: [{ location: 'body', pointer: '', keyword: 'required' }] },
    { desc: 'a body that is not JSON', url: '/orders/1', method: 'POST', headers: { 'content-type': 'text/plain', 'x-tenant': 'acme' }, body: good, status: 415 },
    { desc: 'a body without a Content-Type', url: '/orders/1', method: 'POST', headers: { 'x-tenant': 'acme' }, body: good, status: 415 },
    { desc: 'an application/*+json body', url: '/orders/1', method: 'POST', headers: { 'content-type': 'application/merge-patch+json; charset=utf-8', 'x-tenant': 'acme' }, body: good, status: 200 },
    { desc: 'a body over maxBodySize', url: '/orders/1', method: 'POST', body: JSON.stringify({ name: 'x'.repeat(2000), items: [] }), status: 413 },
    { desc: 'a request without a body when not required', url: '/lenient', method: 'POST', headers: {}, status: 200 },
    { desc: 'a configured extra JSON type', url: '/lenient', method: 'POST', headers: { 'content-type': 'text/json' }, body: '{}', status: 200 },
    { desc: 'no coercion when coerce is false', url: '/lenient?n=5', status: 400, errors: [{ location: 'query', pointer: '/n', keyword: 'type' }] },
    { desc: 'a route without validate', url: '/plain?anything=1', method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x', status: 200 },
  ];

  for (const c of cases) {
    it(`answers ${c.status} for ${c.desc}`, async () => {
      const before = up.seen.length;
      const r = await httpRequest(gw.url + c.url, { method: c.method ?? 'GET', headers: c.headers ?? json, ...(c.body !== undefined ? { body: c.body } : {}) });
      expect(r.status).toBe(c.status);
      if (c.status === 200) {
        expect(up.seen.length).toBe(before + 1);
        return;
      }
      // Refused requests never reach the upstream.
      expect(up.seen.length).toBe(before);
      expect(r.headers['content-type']).toBe('application/problem+json');
      const p = r.json<Problem>();
      expect(p.status).toBe(c.status);
      expect(p.requestId).toBe(r.headers['x-request-id'] ?? p.requestId);
      if (c.errors) {
        expect(p.type).toBe('https://gantry.dev/problems/validation-failed');
        expect(p.instance).toBe(c.url.split('?')[0]);
        expect(p.errors.map((e) => ({ location: e.location, pointer: e.pointer, ...(c.errors!.some((x) => x.keyword) ? { keyword: e.keyword } : {}) }))).toEqual(c.errors);
        for (const e of p.errors) expect(typeof e.message).toBe('string');
      }
    });
  }

  it('bounds the number of errors listed and says how many there were', async () => {
    const body = JSON.stringify({ name: '', items: [{ qty: 0 }, { qty: 0 }, { qty: 0 }, { qty: 0 }] });
    const r = await httpRequest(gw.url + '/orders/1', { method: 'POST', headers: json, body });
    expect(r.status).toBe(400);
    const p = r.json<Problem>();
    expect(p.errors).toHaveLength(3);
    expect(p.detail).toBe("The request does not match this route's schema: 5 errors (the first 3 are listed).");
  });

  it('keeps the connection usable after a refused body', async () => {
    const raw = await rawRequest(
      gw.port,
      `POST /orders/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Tenant: acme\r\nContent-Length: 8\r\n\r\n{"name":GET /orders/2 HTTP/1.1\r\nHost: x\r\nX-Tenant: acme\r\nConnection: close\r\n\r\n`,
    );
    const statuses = [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([400, 200]);
  });
});
