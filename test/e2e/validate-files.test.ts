import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, writeTempConfig, type TestGateway, type TestUpstream } from '../helpers.js';

/**
 * `validate` schemas kept in files: JSON and YAML files referencing each other and an
 * OpenAPI document, resolved against the config's folder, checked on real requests; a
 * reload re-reads them, and a broken file on reload keeps the previous config serving.
 */

interface Problem {
  status: number;
  errors: { location: string; pointer: string; keyword: string }[];
}

describe('validate with schema files', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  let dir: string;
  const write = (name: string, value: unknown) => {
    const file = join(dir, name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  };

  beforeAll(async () => {
    up = await startUpstream();
    const yaml = (target: string) => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  up: { targets: [ "${target}" ] }
routes:
  - name: orders
    match: { path: /orders, methods: [POST] }
    upstream: up
    policies:
      - validate:
          body: { $ref: ./schemas/order.json }
          query: { type: object, properties: { page: { $ref: "./schemas/common.yaml#/definitions/page" } } }
  - name: pets
    match: { path: /pets, methods: [POST] }
    upstream: up
    policies:
      - validate: { body: { $ref: "./api/openapi.yaml#/components/schemas/Pet" } }
  - name: shapes
    match: { path: /shapes, methods: [POST] }
    upstream: up
    policies:
      - validate: { body: { $ref: "./api/openapi-31.yaml#/components/schemas/Shape" } }
  - name: points
    match: { path: /points, methods: [POST] }
    upstream: up
    policies:
      - validate: { body: { $ref: ./schemas/point.json } }
`;
    const file = writeTempConfig(yaml(up.url));
    dir = dirname(file);
    write('schemas/order.json', {
      type: 'object',
      required: ['items'],
      properties: { items: { type: 'array', minItems: 1, items: { $ref: 'common.yaml#/$defs/item' } }, note: { type: 'string' } },
      additionalProperties: false,
    });
    write('schemas/common.yaml', '$defs:\n  item:\n    type: object\n    required: [sku, qty]\n    properties:\n      sku: { type: string, pattern: "^[A-Z]{3}-[0-9]+$" }\n      qty: { $ref: "#/definitions/qty" }\ndefinitions:\n  qty: { type: integer, minimum: 1, maximum: 99 }\n  page: { type: integer, minimum: 1 }\n');
    write(
      'api/openapi.yaml',
      'openapi: 3.0.3\ninfo: { title: pets, version: "1" }\npaths: {}\ncomponents:\n  schemas:\n    Pet:\n      type: object\n      required: [name, tag]\n      example: { name: rex, tag: { id: 1 } }\n      properties:\n        name: { type: string, minLength: 1 }\n        owner: { type: string, nullable: true }\n        tag: { $ref: "#/components/schemas/Tag" }\n    Tag:\n      type: object\n      required: [id]\n      properties: { id: { type: integer } }\n',
    );
    // OpenAPI 3.1: its schemas are JSON Schema 2020-12 (prefixItems, unevaluatedProperties, type lists with 'null').
    write(
      'api/openapi-31.yaml',
      'openapi: 3.1.0\ninfo: { title: shapes, version: "1" }\npaths: {}\ncomponents:\n  schemas:\n    Shape:\n      type: object\n      required: [kind]\n      properties:\n        kind: { type: string }\n        label: { type: [string, "null"] }\n      allOf: [ { $ref: "#/components/schemas/Named" } ]\n      unevaluatedProperties: false\n    Named:\n      properties: { name: { type: string } }\n',
    );
    write('schemas/point.json', {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { at: { type: 'array', prefixItems: [{ type: 'number' }, { type: 'number' }], items: false } },
    });
    gw = await startGateway('', { file });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  const post = (path: string, body: unknown) => httpRequest(gw.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const cases: { desc: string; path: string; body: unknown; errors?: { location: string; pointer: string; keyword: string }[] }[] = [
    { desc: 'a body matching order.json and the items of common.yaml', path: '/orders?page=2', body: { items: [{ sku: 'ABC-1', qty: 3 }] } },
    { desc: 'a qty over the maximum two files away', path: '/orders', body: { items: [{ sku: 'ABC-1', qty: 1 }, { sku: 'ABC-2', qty: 100 }] }, errors: [{ location: 'body', pointer: '/items/1/qty', keyword: 'maximum' }] },
    { desc: 'a sku against the pattern in common.yaml', path: '/orders', body: { items: [{ sku: 'abc', qty: 1 }] }, errors: [{ location: 'body', pointer: '/items/0/sku', keyword: 'pattern' }] },
    { desc: 'a member order.json does not allow', path: '/orders', body: { items: [{ sku: 'ABC-1', qty: 1 }], extra: 1 }, errors: [{ location: 'body', pointer: '/extra', keyword: 'additionalProperties' }] },
    { desc: 'a query value against a file definition (coerced)', path: '/orders?page=0', body: { items: [{ sku: 'ABC-1', qty: 1 }] }, errors: [{ location: 'query', pointer: '/page', keyword: 'minimum' }] },
    { desc: 'an OpenAPI component, nullable allowed', path: '/pets', body: { name: 'rex', owner: null, tag: { id: 1 } } },
    { desc: 'an OpenAPI component referencing another component', path: '/pets', body: { name: 'rex', tag: { id: 'one' } }, errors: [{ location: 'body', pointer: '/tag/id', keyword: 'type' }] },
    { desc: 'an OpenAPI 3.1 component (2020-12): members evaluated through allOf, a null in a type list', path: '/shapes', body: { kind: 'circle', name: 'c1', label: null } },
    { desc: 'an OpenAPI 3.1 component: a member no subschema evaluated (unevaluatedProperties)', path: '/shapes', body: { kind: 'circle', radius: 2 }, errors: [{ location: 'body', pointer: '/radius', keyword: 'unevaluatedProperties' }] },
    { desc: 'a 2020-12 file ($schema): a tuple matching prefixItems', path: '/points', body: { at: [1, 2.5] } },
    { desc: 'a 2020-12 file: an item against prefixItems', path: '/points', body: { at: [1, 'two'] }, errors: [{ location: 'body', pointer: '/at/1', keyword: 'type' }] },
    { desc: 'a 2020-12 file: an item past prefixItems (items: false)', path: '/points', body: { at: [1, 2, 3] }, errors: [{ location: 'body', pointer: '/at', keyword: 'items' }] },
  ];

  for (const c of cases) {
    it(`${c.errors ? 'refuses' : 'passes'} ${c.desc}`, async () => {
      const before = up.seen.length;
      const r = await post(c.path, c.body);
      if (!c.errors) {
        expect(r.status).toBe(200);
        expect(up.seen.length).toBe(before + 1);
        return;
      }
      expect(r.status).toBe(400);
      expect(up.seen.length).toBe(before);
      expect(r.json<Problem>().errors.map((e) => ({ location: e.location, pointer: e.pointer, keyword: e.keyword }))).toEqual(c.errors);
    });
  }

  it('re-reads the files on reload, and keeps the previous schemas when a file breaks', async () => {
    const body = { items: [{ sku: 'ABC-1', qty: 50 }] };
    expect((await post('/orders', body)).status).toBe(200);
    write('schemas/common.yaml', '$defs:\n  item:\n    type: object\n    properties:\n      qty: { $ref: "#/definitions/qty" }\ndefinitions:\n  qty: { type: integer, maximum: 10 }\n  page: { type: integer }\n');
    expect((await gw.gw.reload()).ok).toBe(true);
    const r = await post('/orders', body);
    expect(r.status).toBe(400);
    expect(r.json<Problem>().errors[0]).toMatchObject({ location: 'body', pointer: '/items/0/qty', keyword: 'maximum' });

    write('schemas/common.yaml', '$defs:\n  item: { type: object\n');
    const failed = await gw.gw.reload();
    expect(failed.ok).toBe(false);
    const issues = failed.ok ? '' : failed.issues.map((i) => `${i.file}:${i.line} ${i.path}: ${i.message}`).join('\n');
    expect(issues).toMatch(/gateway\.yaml:11 routes\[0\]\.policies\[0\]\.validate\.body: schema file schemas\/common\.yaml:3 \(referenced from schemas\/order\.json\) is not valid YAML: /);
    expect(issues).toMatch(/gateway\.yaml:12 routes\[0\]\.policies\[0\]\.validate\.query: schema file schemas\/common\.yaml:3 is not valid YAML: /);
    // The config loaded before the broken file keeps serving.
    expect((await post('/orders', body)).status).toBe(400);
    expect((await post('/orders', { items: [{ sku: 'ABC-1', qty: 5 }] })).status).toBe(200);
  });
});
