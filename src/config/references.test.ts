import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeTempConfig } from '../../test/helpers.js';
import { compileMethod } from '../handlers/grpc/proto.js';
import { loadConfig } from './load.js';
import { referencedFiles } from './references.js';
import { formatIssue } from './source.js';
import type { GatewayConfig } from './schema.js';

/** A fresh folder for a config and its files. */
const folder = () => dirname(writeTempConfig('x: 1\n', 'unused.yaml'));

describe('referencedFiles', () => {
  it('lists listener and upstream TLS files, plugin modules and the schema files validate entries reach, each once', () => {
    const dir = folder();
    mkdirSync(join(dir, 'schemas'));
    writeFileSync(join(dir, 'schemas', 'order.json'), JSON.stringify({ properties: { item: { $ref: 'item.yaml#/$defs/item' } } }));
    writeFileSync(join(dir, 'schemas', 'item.yaml'), '$defs:\n  item: { type: object }\n');
    const config = {
      listeners: [
        { name: 'a', port: 0, protocol: 'https', tls: { cert: 'certs/gw.pem', key: 'certs/gw-key.pem', clientCa: '/etc/ca.pem', certificates: [{ serverNames: ['x.test'], cert: 'certs/x.pem', key: 'certs/x-key.pem' }] } },
        { name: 'b', port: 0, protocol: 'http' },
      ],
      upstreams: { u: { targets: [], tls: { ca: '/etc/ca.pem', cert: 'up.pem', key: 'up-key.pem' } }, v: { targets: [] } },
      routes: [{ name: 'r', match: { path: '/' }, policies: [{ validate: { body: { $ref: './schemas/order.json' }, query: { type: 'object' } } }] }],
      plugins: ['./policies/add-tenant.mjs', 'up.pem'],
    } as unknown as GatewayConfig;
    expect(referencedFiles(config, dir)).toEqual({
      files: ['/etc/ca.pem', ...['certs/gw-key.pem', 'certs/gw.pem', 'certs/x-key.pem', 'certs/x.pem', 'policies/add-tenant.mjs', 'schemas/item.yaml', 'schemas/order.json', 'up-key.pem', 'up.pem'].map((f) => join(dir, f))].sort(),
      watchedElsewhere: [],
      complete: true,
    });
  });

  it('a schema file that cannot be read: listed as far as it was read, not complete', () => {
    const dir = folder();
    writeFileSync(join(dir, 'order.json'), JSON.stringify({ $ref: './gone.json' }));
    const config = { listeners: [], routes: [{ policies: [{ validate: { body: { $ref: './order.json' } } }] }] } as unknown as GatewayConfig;
    expect(referencedFiles(config, dir)).toEqual({ files: [join(dir, 'order.json')], watchedElsewhere: [], complete: false });
  });

  it('lists gRPC protos with the files they import (own folder and includeDirs, not the built-in ones), the gRPC CA, GraphQL SDL files and internal-token keys; discovery files apart', () => {
    const dir = folder();
    mkdirSync(join(dir, 'protos', 'common'), { recursive: true });
    mkdirSync(join(dir, 'vendor'));
    writeFileSync(join(dir, 'protos', 'users.proto'), 'syntax = "proto3";\npackage u;\nimport "money.proto";\nimport "common/page.proto";\nimport "google/api/annotations.proto";\nimport "google/protobuf/timestamp.proto";\nservice Users { rpc Get (common.Page) returns (Money); }\n');
    writeFileSync(join(dir, 'protos', 'money.proto'), 'syntax = "proto3";\npackage u;\nmessage Money { int64 units = 1; }\n');
    mkdirSync(join(dir, 'vendor', 'common'));
    writeFileSync(join(dir, 'vendor', 'common', 'page.proto'), 'syntax = "proto3";\npackage common;\nmessage Page { int32 size = 1; }\n');
    const config = {
      upstreams: { d: { file: { path: 'targets.yaml' } } },
      routes: [
        { name: 'g', grpc: { upstream: 'x', protoFile: 'protos/users.proto', includeDirs: ['vendor'], method: 'u.Users/Get', tls: { ca: 'grpc-ca.pem' } } },
        { name: 'q', graphql: { schemaFile: 'shop.graphql' }, policies: [{ 'internal-token': { key: 'keys/signing.pem', alg: 'ES256' } }] },
      ],
      policies: [{ 'internal-token': { key: 'keys/signing.pem', alg: 'ES256' } }],
    } as unknown as GatewayConfig;
    expect(referencedFiles(config, dir)).toEqual({
      files: ['grpc-ca.pem', 'keys/signing.pem', 'protos/money.proto', 'protos/users.proto', 'shop.graphql', 'vendor/common/page.proto'].map((f) => join(dir, f)).sort(),
      watchedElsewhere: [join(dir, 'targets.yaml')],
      complete: true,
    });
    // The config loader only wants the names: it does not load protos.
    expect(referencedFiles(config, dir, { protoImports: false }).files).not.toContain(join(dir, 'protos/money.proto'));
  });

  it("a loaded config's protos are parsed once, shared by its routes and listed from that parse", async () => {
    const dir = folder();
    writeFileSync(join(dir, 'money.proto'), 'syntax = "proto3";\npackage u;\nmessage Money { int64 units = 1; }\n');
    writeFileSync(join(dir, 'users.proto'), 'syntax = "proto3";\npackage u;\nimport "money.proto";\nservice Users { rpc Get (Money) returns (Money); }\n');
    const yaml = `version: 1
listeners: [ { name: public, port: 0 } ]
upstreams: { g: { targets: [ "http://127.0.0.1:1" ] } }
routes:
  - { name: a, match: { path: /a }, grpc: { upstream: g, protoFile: users.proto, method: u.Users/Get } }
  - { name: b, match: { path: /b }, grpc: { upstream: g, protoFile: ./users.proto, method: u.Users/Get, timeout: 1s } }
`;
    const r = await loadConfig(join(dir, 'gateway.yaml'), { text: yaml, env: {} });
    if (!r.ok) throw new Error(r.issues.map(formatIssue).join('\n'));
    // Routes naming the same proto share the load's one parse (the same message types).
    const [a, b] = r.loaded.config.routes.map((route) => compileMethod(route.grpc!, [], dir));
    expect(a!.request).toBe(b!.request);
    // Parsing again now would fail on the broken import; the files the load read are listed.
    writeFileSync(join(dir, 'money.proto'), 'syntax = "proto3";\nmessage {\n');
    expect(referencedFiles(r.loaded.config, dir)).toEqual({ files: [join(dir, 'money.proto'), join(dir, 'users.proto')], watchedElsewhere: [], complete: true });
    // A config object the load did not compile (a copy) parses the protos itself.
    expect(referencedFiles(structuredClone(r.loaded.config), dir).complete).toBe(false);
  });

  it('a proto that does not load: the proto itself, not complete', () => {
    const dir = folder();
    writeFileSync(join(dir, 'broken.proto'), 'syntax = "proto3";\nmessage {\n');
    const config = { routes: [{ grpc: { protoFile: 'broken.proto' } }] } as unknown as GatewayConfig;
    expect(referencedFiles(config, dir)).toEqual({ files: [join(dir, 'broken.proto')], watchedElsewhere: [], complete: false });
  });

  it('takes a config that is not valid yet: values of the wrong shape are skipped', () => {
    const config = { listeners: 'x', upstreams: [1], routes: [null, { grpc: 3, graphql: { schemaFile: 7 } }], policies: [{ 'internal-token': 'k' }], plugins: [3, ''] } as unknown as GatewayConfig;
    expect(referencedFiles(config, folder())).toEqual({ files: [], watchedElsewhere: [], complete: true });
  });
});
