import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { eventually, freePort, httpRequest, sleep, spawnGateway, type SpawnedGateway } from '../helpers.js';
import { handshake, issue, makeCa, writePems, type Issued } from '../tls-fixtures.js';

/**
 * `gantry start` with `reload.watch`: an edit of a file the config references — a listener
 * certificate or key, an upstream's CA, a `validate` schema file — reloads like an edit of
 * the config; a bad file fails the reload (the old config keeps serving, the error names the
 * file), and fixing it reloads again. Real processes, real certificates, real sockets.
 */

const TOKEN = 'watch-files-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

interface Status {
  config: { version: number };
  lastReload: { ok: boolean; issues?: string[] } | null;
}

let ca: Issued;
const c: Record<string, Issued> = {};

beforeAll(async () => {
  ca = await makeCa('Gantry Watch CA');
  [c.def, c.apiA, c.apiB, c.def2] = await Promise.all([
    issue(ca, { cn: 'default', usage: 'server', dns: ['default.test'] }),
    issue(ca, { cn: 'api-A', usage: 'server', dns: ['api.example.com'] }),
    issue(ca, { cn: 'api-B', usage: 'server', dns: ['api.example.com'] }),
    issue(ca, { cn: 'default-2', usage: 'server', dns: ['default.test'] }),
  ]);
});

const config = (pub: number, admin: number, level = 'info') => `version: 1
listeners:
  - name: public
    port: ${pub}
    host: 127.0.0.1
    protocol: https
    tls:
      cert: def.pem
      key: def-key.pem
      certificates:
        - { serverNames: [api.example.com], cert: certs/api.pem, key: certs/api-key.pem }
admin: { host: 127.0.0.1, port: ${admin}, token: "${TOKEN}" }
reload: { watch: true, debounce: 100ms }
log: { level: ${level}, access: false }
upstreams:
  secure: { targets: [ "https://127.0.0.1:9" ], tls: { ca: upstream-ca.pem } }
routes:
  - name: orders
    match: { path: /orders, methods: [POST] }
    policies: [ { validate: { body: { $ref: ./schemas/order.json } } } ]
    static: { status: 201, body: created }
  - { name: any, match: { path: /* }, static: { status: 200, body: ok } }
`;

/** The config and the files in folders of their own (certs/, schemas/: each folder is watched). */
function writeFiles(files: ReturnType<typeof writePems>, yaml: string): void {
  mkdirSync(files.path('certs'));
  mkdirSync(files.path('schemas'));
  writeFileSync(files.path('certs/api.pem'), c.apiA!.cert);
  writeFileSync(files.path('certs/api-key.pem'), c.apiA!.key);
  writeFileSync(files.path('schemas/order.json'), orderSchema(99));
  writeFileSync(files.path('gateway.yaml'), yaml);
}

const orderSchema = (max: number) => JSON.stringify({ type: 'object', required: ['qty'], properties: { qty: { type: 'integer', maximum: max } } });

describe('gantry start: files the config references are watched', () => {
  let gantry: SpawnedGateway;
  let files: ReturnType<typeof writePems>;
  let pub: number;
  let admin: number;
  const status = async () => (await httpRequest(`http://127.0.0.1:${admin}/api/status`, { headers: auth })).json<Status>();
  const version = async () => (await status()).config.version;
  const cn = async (sni?: string) => (await handshake(pub, sni, { ca: ca.cert })).cn;
  const order = (qty: number) =>
    new Promise<number>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: pub, path: '/orders', method: 'POST', ca: ca.cert, servername: 'default.test', checkServerIdentity: () => undefined, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ qty }));
    });
  /** Waits for the version after `v`, and returns the status then. */
  const nextReload = (v: number, what: string) => eventually(async () => {
    const s = await status();
    return s.lastReload !== null && (s.config.version > v || s.lastReload.ok === false) ? s : undefined;
  }, 10_000, what);

  beforeAll(async () => {
    [pub, admin] = [await freePort(), await freePort()];
    const other = await makeCa('Upstream CA');
    files = writePems({
      'def.pem': c.def!.cert,
      'def-key.pem': c.def!.key,
      'upstream-ca.pem': other.cert,
    });
    writeFiles(files, config(pub, admin));
    gantry = await spawnGateway('', { file: files.path('gateway.yaml'), readyUrl: `http://127.0.0.1:${admin}/readyz` });
  });
  afterAll(async () => {
    await gantry?.stop();
  });

  it('a new certificate and key written over the old ones are served, without a reload asked for', async () => {
    expect(await cn('api.example.com')).toBe('api-A');
    const v = await version();
    writeFileSync(files.path('certs/api-key.pem'), c.apiB!.key);
    writeFileSync(files.path('certs/api.pem'), c.apiB!.cert);
    await eventually(async () => ((await cn('api.example.com')) === 'api-B' ? true : undefined), 10_000, 'the new certificate to be served');
    expect(await version()).toBeGreaterThan(v);
    expect((await status()).lastReload?.ok).toBe(true);
    // Logs are flushed at least once a second.
    const line = await eventually(() => gantry.logs.find((l) => l.msg === 'files the config references changed; reloading'), 5000, 'the log line');
    expect((line.files as string[]).every((f) => f === 'certs/api.pem' || f === 'certs/api-key.pem')).toBe(true);
  });

  it('a schema file edited: the validate policy checks against the new schema', async () => {
    expect(await order(50)).toBe(201);
    writeFileSync(files.path('schemas/order.json'), orderSchema(10));
    await eventually(async () => ((await order(50)) === 400 ? true : undefined), 10_000, 'the new schema to be enforced');
    expect(await order(5)).toBe(201);
  });

  it('an upstream CA file edited reloads', async () => {
    const v = await version();
    writeFileSync(files.path('upstream-ca.pem'), ca.cert);
    const s = await nextReload(v, 'a reload');
    expect(s).toMatchObject({ config: { version: v + 1 }, lastReload: { ok: true } });
  });

  it('a broken certificate fails the reload naming the file, the old one keeps serving; fixing it reloads', async () => {
    const v = await version();
    writeFileSync(files.path('def.pem'), '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
    const s = await nextReload(v, 'the broken file to be rejected');
    expect(s.config.version).toBe(v);
    expect(s.lastReload!.ok).toBe(false);
    expect(s.lastReload!.issues!.join('\n')).toMatch(/gateway\.yaml:\d+ listeners\[0\]\.tls: unusable certificate or key \(def\.pem, def-key\.pem\)/);
    await eventually(() => gantry.logs.find((l) => l.level === 'error' && JSON.stringify(l.issues ?? '').includes('unusable certificate or key (def.pem, def-key.pem)')), 5000, 'an error log line naming def.pem');
    await eventually(() => gantry.logs.find((l) => l.msg === 'files the config references changed; reloading' && (l.files as string[]).includes('def.pem')), 5000, 'the change of def.pem logged');
    expect(await cn()).toBe('default');
    expect(await order(5)).toBe(201);

    writeFileSync(files.path('def-key.pem'), c.def2!.key);
    writeFileSync(files.path('def.pem'), c.def2!.cert);
    await eventually(async () => ((await cn()) === 'default-2' ? true : undefined), 10_000, 'the fixed certificate to be served');
    expect((await status()).lastReload?.ok).toBe(true);
  });

  it('a broken schema file fails the reload naming the file; the old schema keeps checking', async () => {
    const v = await version();
    writeFileSync(files.path('schemas/order.json'), '{ "type": "object", ');
    const s = await nextReload(v, 'the broken schema to be rejected');
    expect(s.config.version).toBe(v);
    expect(s.lastReload!.issues!.join('\n')).toMatch(/validate\.body: schema file schemas\/order\.json:\d+ is not valid JSON/);
    expect(await order(50)).toBe(400);
    expect(await order(5)).toBe(201);
  });
});

describe('gantry start --workers 2: a certificate written over reaches every worker', () => {
  let gantry: SpawnedGateway;
  let files: ReturnType<typeof writePems>;
  let pub: number;
  let admin: number;

  beforeAll(async () => {
    [pub, admin] = [await freePort(), await freePort()];
    const other = await makeCa('Upstream CA');
    files = writePems({ 'def.pem': c.def!.cert, 'def-key.pem': c.def!.key, 'upstream-ca.pem': other.cert });
    writeFiles(files, config(pub, admin, 'warn'));
    gantry = await spawnGateway('', { file: files.path('gateway.yaml'), args: ['--workers', '2'], readyUrl: `http://127.0.0.1:${admin}/readyz` });
  });
  afterAll(async () => {
    await gantry?.stop();
  });

  /** The certificate names of several handshakes (connections alternate between the workers). */
  const served = async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await handshake(pub, 'api.example.com', { ca: ca.cert })).cn);
    return [...seen];
  };

  it('every worker serves the new certificate; a broken one reaches none', async () => {
    expect(await served()).toEqual(['api-A']);
    writeFileSync(files.path('certs/api-key.pem'), c.apiB!.key);
    writeFileSync(files.path('certs/api.pem'), c.apiB!.cert);
    await eventually(async () => {
      const s = await served();
      return s.length === 1 && s[0] === 'api-B' ? true : undefined;
    }, 15_000, 'every worker to serve the new certificate');

    writeFileSync(files.path('certs/api.pem'), 'garbage');
    await eventually(async () => {
      const s = (await httpRequest(`http://127.0.0.1:${admin}/api/status`, { headers: auth })).json<Status>();
      return s.lastReload?.ok === false ? s : undefined;
    }, 15_000, 'the broken certificate to be rejected');
    expect(await served()).toEqual(['api-B']);
  });
});

describe('gantry start: gRPC protos and their imports, GraphQL SDL files and internal-token keys are watched too', () => {
  let gantry: SpawnedGateway;
  let files: ReturnType<typeof writePems>;
  let pub: number;
  let admin: number;
  const status = async () => (await httpRequest(`http://127.0.0.1:${admin}/api/status`, { headers: auth })).json<Status>();
  const version = async () => (await status()).config.version;
  const nextReload = (v: number, what: string) => eventually(async () => {
    const s = await status();
    return s.lastReload !== null && (s.config.version > v || s.lastReload.ok === false) ? s : undefined;
  }, 10_000, what);
  const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const money = (field: string) => `syntax = "proto3";\npackage shop.v1;\nmessage Money { ${field} }\n`;
  /** The fields of the GraphQL Query type, as the gateway's schema has them now. */
  const queryFields = async () => {
    const r = await httpRequest(`http://127.0.0.1:${pub}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __type(name: "Query") { fields { name } } }' }) });
    return (r.json<{ data: { __type: { fields: { name: string }[] } } }>()).data.__type.fields.map((f) => f.name);
  };

  beforeAll(async () => {
    [pub, admin] = [await freePort(), await freePort()];
    files = writePems({ 'shop.graphql': 'type Query { hello: String }\n' });
    mkdirSync(files.path('keys'));
    mkdirSync(files.path('protos'));
    writeFileSync(files.path('keys/signing.pem'), ecKey());
    writeFileSync(files.path('protos/prices.proto'), 'syntax = "proto3";\npackage shop.v1;\nimport "money.proto";\nservice Prices { rpc Get (Money) returns (Money); }\n');
    writeFileSync(files.path('protos/money.proto'), money('int64 units = 1;'));
    writeFileSync(files.path('gateway.yaml'), `version: 1
listeners: [ { name: public, port: ${pub}, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: ${admin}, token: "${TOKEN}" }
reload: { watch: true, debounce: 100ms }
log: { level: info, access: false }
upstreams:
  backend: { targets: [ "http://127.0.0.1:9" ] }
routes:
  - name: prices
    match: { path: /prices, methods: [POST] }
    grpc: { upstream: backend, protoFile: protos/prices.proto, method: shop.v1.Prices/Get }
  - { name: gql, match: { path: /graphql }, graphql: { schemaFile: shop.graphql, introspection: true } }
  - name: signed
    match: { path: /signed/* }
    upstream: backend
    policies: [ { internal-token: { key: keys/signing.pem, alg: ES256 } } ]
`);
    gantry = await spawnGateway('', { file: files.path('gateway.yaml'), readyUrl: `http://127.0.0.1:${admin}/readyz` });
  });
  afterAll(async () => {
    await gantry?.stop();
  });

  it('an edit of the SDL file serves the new schema', async () => {
    expect(await queryFields()).toEqual(['hello']);
    writeFileSync(files.path('shop.graphql'), 'type Query { hello: String\n  bye: String }\n');
    await eventually(async () => ((await queryFields()).includes('bye') ? true : undefined), 10_000, 'the new schema to be served');
    const line = await eventually(() => gantry.logs.find((l) => l.msg === 'files the config references changed; reloading' && (l.files as string[]).includes('shop.graphql')), 5000, 'the change logged');
    expect(line.files).toEqual(['shop.graphql']);
  });

  it('an edit of a proto the route\'s proto imports reloads; a broken one fails the reload naming it, and fixing it reloads', async () => {
    let v = await version();
    writeFileSync(files.path('protos/money.proto'), money('int64 units = 1; int32 nanos = 2;'));
    let s = await nextReload(v, 'a reload');
    expect(s).toMatchObject({ config: { version: v + 1 }, lastReload: { ok: true } });
    await eventually(() => gantry.logs.find((l) => l.msg === 'files the config references changed; reloading' && (l.files as string[]).includes('protos/money.proto')), 5000, 'the change logged');

    v = s.config.version;
    writeFileSync(files.path('protos/money.proto'), money('int64 units = ;'));
    s = await nextReload(v, 'the broken proto to be rejected');
    expect(s.config.version).toBe(v);
    expect(s.lastReload!.issues!.join('\n')).toMatch(/gateway\.yaml:\d+ routes\[0\]\.grpc\.protoFile: cannot load protos\/prices\.proto: illegal id ';' \(protos\/money\.proto, line 3\)$/m);

    writeFileSync(files.path('protos/money.proto'), money('int64 units = 1;'));
    s = await eventually(async () => ((await status()).lastReload?.ok === true ? status() : undefined), 10_000, 'the fixed proto to reload');
    expect(s.config.version).toBe(v + 1);
  });

  it('a new internal-token key reloads; a key file that is not a key fails the reload naming it', async () => {
    let v = await version();
    writeFileSync(files.path('keys/signing.pem'), ecKey());
    let s = await nextReload(v, 'a reload');
    expect(s).toMatchObject({ config: { version: v + 1 }, lastReload: { ok: true } });

    v = s.config.version;
    writeFileSync(files.path('keys/signing.pem'), 'not a key\n');
    s = await nextReload(v, 'the broken key to be rejected');
    expect(s.config.version).toBe(v);
    expect(s.lastReload!.issues!.join('\n')).toMatch(/gateway\.yaml:\d+ routes\[2\]\.policies\[0\]\.internal-token\.key: keys\/signing\.pem holds no usable PEM private key/);
  });
});

describe('gantry start with a config folder: a schema beside the config files', () => {
  let gantry: SpawnedGateway;
  let dir: string;
  let pub: number;
  let admin: number;
  const status = async () => (await httpRequest(`http://127.0.0.1:${admin}/api/status`, { headers: auth })).json<Status>();
  const post = async (body: unknown) => (await httpRequest(`http://127.0.0.1:${pub}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status;
  const userSchema = (required: string[]) => `type: object\nrequired: [${required.join(', ')}]\n`;

  beforeAll(async () => {
    [pub, admin] = [await freePort(), await freePort()];
    dir = writePems({
      '00-base.yaml': `version: 1
listeners: [ { name: public, port: ${pub}, host: 127.0.0.1 } ]
admin: { host: 127.0.0.1, port: ${admin}, token: "${TOKEN}" }
reload: { watch: true, debounce: 100ms }
log: { level: info, access: false }
`,
      '10-routes.yaml': `routes:
  - name: users
    match: { path: /users, methods: [POST] }
    policies: [ { validate: { body: { $ref: ./user.yaml } } } ]
    static: { status: 201, body: created }
`,
      'user.yaml': userSchema(['name']),
    }).dir;
    gantry = await spawnGateway('', { file: dir, readyUrl: `http://127.0.0.1:${admin}/readyz` });
  });
  afterAll(async () => {
    await gantry?.stop();
  });

  it('starts (the schema is not merged as config), and an edit of the schema reloads once with the new schema', async () => {
    expect(await post({ name: 'a' })).toBe(201);
    expect(await post({})).toBe(400);
    const v = (await status()).config.version;
    writeFileSync(join(dir, 'user.yaml'), userSchema(['name', 'email']));
    await eventually(async () => ((await post({ name: 'a' })) === 400 ? true : undefined), 10_000, 'the new schema to be enforced');
    expect(await post({ name: 'a', email: 'a@example.com' })).toBe(201);
    // Both the folder watch and the referenced-files watch see user.yaml: one reload, not two.
    await sleep(600);
    expect(await status()).toMatchObject({ config: { version: v + 1 }, lastReload: { ok: true } });
  });
});
