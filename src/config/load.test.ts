import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './load.js';
import { formatIssue } from './source.js';

const base = `version: 1
listeners:
  - { name: public, port: 8080 }
upstreams:
  catalog:
    targets: [ "http://127.0.0.1:7001" ]
`;

async function errorsOf(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const r = await loadConfig('/cfg/gateway.yaml', { text: yaml, env });
  return r.ok ? [] : r.issues.filter((i) => i.severity === 'error').map(formatIssue);
}

describe('config errors name file, line and path', () => {
  const cases: { desc: string; yaml: string; want: RegExp }[] = [
    {
      desc: 'YAML syntax error',
      yaml: 'version: 1\nlisteners: [ { name: a, port: 1 }\n',
      want: /gateway\.yaml:\d+ *: /,
    },
    {
      desc: 'unknown key (typo) with a suggestion',
      yaml: base + 'routes:\n  - name: r\n    match: { path: /a, methdos: [GET] }\n    upstream: catalog\n',
      want: /gateway\.yaml:9 routes\[0\]\.match\.methdos: unknown key 'methdos' \(did you mean 'methods'\?\)/,
    },
    {
      desc: 'wrong type',
      yaml: base.replace('port: 8080', 'port: eighty'),
      want: /gateway\.yaml:3 listeners\[0\]\.port: must be an integer \(got string\)/,
    },
    {
      desc: 'out of range',
      yaml: base.replace('port: 8080', 'port: 70000'),
      want: /gateway\.yaml:3 listeners\[0\]\.port: must be <= 65535/,
    },
    {
      desc: 'bad duration',
      yaml: base + '    timeouts: { connect: 5 seconds }\n',
      want: /gateway\.yaml:7 upstreams\.catalog\.timeouts\.connect: must be a duration such as 250ms, 5s, 1m or 1h/,
    },
    {
      desc: 'a connect timeout on a route (it belongs to the upstream)',
      yaml: base + 'routes:\n  - name: r\n    match: { path: /a }\n    upstream: catalog\n    timeouts: { connect: 1s }\n',
      want: /gateway\.yaml:11 routes\[0\]\.timeouts\.connect: unknown key 'connect'/,
    },
    {
      desc: 'bad size',
      yaml: base.replace('{ name: public, port: 8080 }', '{ name: public, port: 8080, limits: { maxHeaderSize: lots } }'),
      want: /gateway\.yaml:3 listeners\[0\]\.limits\.maxHeaderSize: must be a size such as 512b, 64kb or 10mb/,
    },
    {
      desc: 'bad target URL',
      yaml: base.replace('"http://127.0.0.1:7001"', '"127.0.0.1:7001"'),
      want: /gateway\.yaml:6 upstreams\.catalog\.targets\[0\]: must be an absolute URL/,
    },
    {
      desc: 'unknown upstream reference with a suggestion',
      yaml: base + 'routes:\n  - name: r\n    match: { path: /a }\n    upstream: catalgo\n',
      want: /gateway\.yaml:10 routes\[0\]\.upstream: unknown upstream 'catalgo' \(did you mean 'catalog'\?\)/,
    },
    {
      desc: 'unknown policy with a suggestion',
      yaml: base + 'routes:\n  - name: r\n    match: { path: /a }\n    upstream: catalog\n    policies:\n      - request-idd: {}\n',
      want: /gateway\.yaml:12 routes\[0\]\.policies\[0\]\.request-idd: unknown policy 'request-idd' \(did you mean 'request-id'\?\)/,
    },
    {
      desc: 'policy config checked against the policy schema',
      yaml: base + 'routes:\n  - name: r\n    match: { path: /a }\n    upstream: catalog\n    policies:\n      - request-id: { header: "bad header" }\n',
      want: /gateway\.yaml:12 routes\[0\]\.policies\[0\]\.request-id\.header: must match/,
    },
    {
      desc: 'missing required key',
      yaml: base + 'routes:\n  - name: r\n    upstream: catalog\n',
      want: /gateway\.yaml:8 routes\[0\]\.match: is required/,
    },
    {
      desc: 'missing top-level key, at the first line of the file',
      yaml: 'listeners: [ { name: public, port: 8080 } ]\nroutes: []\n',
      want: /gateway\.yaml:1 version: is required/,
    },
    {
      desc: 'route without a target',
      yaml: base + 'routes:\n  - name: r\n    match: { path: /a }\n',
      want: /gateway\.yaml:8 routes\[0\]: route needs a target/,
    },
    {
      desc: 'duplicate route names',
      yaml: base + 'routes:\n  - { name: r, match: { path: /a }, upstream: catalog }\n  - { name: r, match: { path: /b }, upstream: catalog }\n',
      want: /gateway\.yaml:9 routes\[1\]\.name: route name 'r' is used twice/,
    },
    {
      desc: 'missing environment variable',
      yaml: base.replace('{ name: public, port: 8080 }', '\n    name: public\n    port: ${GW_PORT}'),
      want: /gateway\.yaml:5 listeners\[0\]\.port: environment variable GW_PORT is not set/,
    },
    {
      desc: 'the tenant template written as ${tenant} (read as an environment variable) gets a hint',
      yaml: base + 'routes:\n  - name: r\n    match: { path: /a }\n    upstream: catalog\n    policies:\n      - headers: { request: { set: { x-tenant: "${tenant}" } } }\n',
      want: /gateway\.yaml:12 routes\[0\]\.policies\[0\]\.headers\.request\.set\.x-tenant: environment variable tenant is not set; for the template variable write \$\$\{tenant\}/,
    },
    {
      desc: '${VAR} inside a flow map gets a hint',
      yaml: base.replace('port: 8080', 'port: ${GW_PORT}'),
      want: /gateway\.yaml:3 *: .*\$\{VAR\} inside \{ \} or \[ \] must be quoted/,
    },
    {
      desc: 'invalid regex',
      yaml: base + 'routes:\n  - { name: r, match: { pathRegex: "^/(a" }, upstream: catalog }\n',
      want: /gateway\.yaml:8 routes\[0\]\.match\.pathRegex: is not a valid regular expression/,
    },
    {
      desc: 'one-of literal',
      yaml: base + 'log: { level: loud }\n',
      want: /gateway\.yaml:7 log\.level: must be one of: "trace", "debug", "info", "warn", "error", "fatal", "silent"/,
    },
    {
      desc: 'unknown listener reference',
      yaml: base + 'routes:\n  - { name: r, match: { path: /a }, upstream: catalog, listeners: [mobile] }\n',
      want: /gateway\.yaml:8 routes\[0\]\.listeners\[0\]: unknown listener 'mobile'/,
    },
    {
      desc: 'header name that is not a token',
      yaml: base + 'routes:\n  - name: r\n    match: { path: /a }\n    upstream: catalog\n    policies:\n      - headers: { request: { set: { "bad name": x } } }\n',
      want: /gateway\.yaml:12 routes\[0\]\.policies\[0\]\.headers\.request\.set\.bad name: unknown key 'bad name'/,
    },
    {
      desc: 'wildcard in the middle of a path',
      yaml: base + 'routes:\n  - { name: r, match: { path: /a/*/b }, upstream: catalog }\n',
      want: /gateway\.yaml:8 routes\[0\]\.match\.path: '\*' is only allowed at the end/,
    },
    {
      desc: 'a rewrite.path param the route does not capture',
      yaml: base + 'routes:\n  - name: r\n    match: { path: /items/:id }\n    upstream: catalog\n    rewrite: { path: "/v2/{params.sku}" }\n',
      want: /gateway\.yaml:11 routes\[0\]\.rewrite\.path: \{params\.sku\} is not a param of match\.path \(the route captures \{params\.id\}\)/,
    },
    {
      desc: 'a rewrite.path placeholder that is not {params.X}',
      yaml: base + 'routes:\n  - name: r\n    match: { pathRegex: "^/u/(?<user>[a-z]+)$" }\n    upstream: catalog\n    rewrite: { path: "/users/{user}" }\n',
      want: /gateway\.yaml:11 routes\[0\]\.rewrite\.path: \{user\} is not a param of match\.pathRegex \(the route captures \{params\.user\}\)/,
    },
  ];

  for (const c of cases) {
    it(c.desc, async () => {
      const errors = await errorsOf(c.yaml);
      expect(errors.join('\n')).toMatch(c.want);
    });
  }

  it('reports every error at once, in line order', async () => {
    const yaml = `version: 1
listeners:
  - { name: public, port: -1 }
upstreams:
  a:
    targets: [ "nope" ]
routes:
  - { name: r, match: { path: /a, colour: red }, upstream: b }
`;
    const errors = await errorsOf(yaml);
    expect(errors.length).toBeGreaterThanOrEqual(4);
    expect(errors[0]).toMatch(/^\/?.*gateway\.yaml:3 /);
    expect(errors.some((e) => /:6 upstreams\.a\.targets\[0\]/.test(e))).toBe(true);
    expect(errors.some((e) => /:8 routes\[0\]\.match\.colour: unknown key/.test(e))).toBe(true);
    expect(errors.some((e) => /:8 routes\[0\]\.upstream: unknown upstream 'b'/.test(e))).toBe(true);
  });
});

describe('config values', () => {
  it('interpolates ${ENV} and ${ENV:-default}, typing whole plain values', async () => {
    const yaml = `version: 1
listeners:
  - name: public
    port: \${GW_PORT}
    host: \${GW_HOST:-127.0.0.1}
upstreams:
  a:
    targets:
      - http://\${UP_HOST}:7001
    timeouts:
      response: \${RESP:-2s}
`;
    const r = await loadConfig('/cfg/gateway.yaml', { text: yaml, env: { GW_PORT: '9000', UP_HOST: 'svc.local' } });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.loaded.config.listeners[0]!.port).toBe(9000);
    expect(r.loaded.config.listeners[0]!.host).toBe('127.0.0.1');
    expect(r.loaded.config.upstreams.a!.targets?.[0]).toBe('http://svc.local:7001');
    expect(r.loaded.config.upstreams.a!.timeouts!.response).toBe(2000);
  });

  it('converts durations and sizes and fills defaults', async () => {
    const r = await loadConfig('/cfg/gateway.yaml', {
      text: base.replace('port: 8080', 'port: 8080, limits: { maxHeaderSize: 32kb, headersTimeout: 1m }') + 'routes: []\n',
      env: {},
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const l = r.loaded.config.listeners[0]!;
    expect(l.limits!.maxHeaderSize).toBe(32 * 1024);
    expect(l.limits!.headersTimeout).toBe(60_000);
    expect(l.limits!.maxUrlLength).toBe(8 * 1024);
    expect(l.host).toBe('0.0.0.0');
  });

  it('merges a folder of files in name order and keeps each file\'s line numbers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-cfg-'));
    writeFileSync(join(dir, '00-base.yaml'), base + 'routes:\n  - { name: a, match: { path: /a }, upstream: catalog }\n');
    writeFileSync(join(dir, '10-more.yaml'), 'routes:\n  - { name: b, match: { path: /b }, upstream: catalog }\n  - { name: c, match: { path: /c }, upstream: missing }\n');
    const r = await loadConfig(dir, { env: {} });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map(formatIssue).join('\n')).toMatch(/10-more\.yaml:3 routes\[2\]\.upstream: unknown upstream 'missing'/);
  });

  it('loads the text it was given as a folder of files (cluster workers), not the files as they are now', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-cfg-'));
    writeFileSync(join(dir, '00-base.yaml'), base + 'routes:\n  - { name: a, match: { path: /a }, upstream: catalog }\n');
    writeFileSync(join(dir, '10-more.yaml'), 'routes:\n  - { name: b, match: { path: /b }, upstream: catalog }\n');
    const read = await loadConfig(dir, { env: {} });
    if (!read.ok) throw new Error(read.issues.map(formatIssue).join('\n'));
    expect(read.loaded.files.map((f) => f.file)).toEqual([join(dir, '00-base.yaml'), join(dir, '10-more.yaml')]);
    // The folder changes after the read: the text given is what loads, with the folder as base.
    writeFileSync(join(dir, '10-more.yaml'), 'routes:\n  - { name: changed, match: { path: /b }, upstream: catalog }\n');
    const given = await loadConfig(dir, { env: {}, files: read.loaded.files });
    if (!given.ok) throw new Error(given.issues.map(formatIssue).join('\n'));
    expect(given.loaded.config.routes.map((r) => r.name)).toEqual(['a', 'b']);
    expect([given.loaded.hash, given.loaded.baseDir]).toEqual([read.loaded.hash, dir]);
    const file = await loadConfig(join(dir, '00-base.yaml'), { env: {}, files: [{ file: join(dir, '00-base.yaml'), text: base }] });
    expect(file.ok && file.loaded.baseDir).toBe(dir);
    // The hash is of the text parsed: the file as it is now has another one.
    const now = await loadConfig(dir, { env: {} });
    expect(now.ok && now.loaded.hash).not.toBe(read.loaded.hash);
  });

  describe('a config folder: which files are config', () => {
    const folder = () => mkdtempSync(join(tmpdir(), 'gantry-cfg-'));
    const routes = (schemaRef: string) => `routes:
  - name: users
    match: { path: /users, methods: [POST] }
    policies: [ { validate: { body: { $ref: ${schemaRef} } } } ]
    upstream: catalog
`;
    const names = (r: Awaited<ReturnType<typeof loadConfig>>, dir: string) => {
      if (!r.ok) throw new Error(r.issues.map(formatIssue).join('\n'));
      return r.loaded.files.map((f) => f.file.slice(dir.length + 1));
    };

    it('a YAML schema the config references, beside the config files, is read as the schema, not merged as config', async () => {
      const dir = folder();
      writeFileSync(join(dir, '00-base.yaml'), base);
      writeFileSync(join(dir, '10-routes.yaml'), routes('./user.yaml'));
      writeFileSync(join(dir, 'user.yaml'), 'type: object\nrequired: [name]\nproperties: { name: { type: string } }\n');
      expect(names(await loadConfig(dir, { env: {} }), dir)).toEqual(['00-base.yaml', '10-routes.yaml']);
    });

    it('subfolders are not read as config: they hold the files the config references', async () => {
      const dir = folder();
      mkdirSync(join(dir, 'schemas'));
      writeFileSync(join(dir, '00-base.yaml'), base + routes('./schemas/user.yaml'));
      writeFileSync(join(dir, 'schemas', 'user.yaml'), 'type: object\nrequired: [name]\n');
      writeFileSync(join(dir, 'schemas', 'unused.yaml'), 'type: object\n');
      expect(names(await loadConfig(dir, { env: {} }), dir)).toEqual(['00-base.yaml']);
    });

    it('a discovery file beside the config files is the targets list, not config', async () => {
      const dir = folder();
      writeFileSync(join(dir, '00-base.yaml'), base);
      writeFileSync(join(dir, '10-users.yaml'), 'upstreams:\n  users: { file: { path: targets.yaml } }\nroutes: [ { name: u, match: { path: /u }, upstream: users } ]\n');
      writeFileSync(join(dir, 'targets.yaml'), 'targets: [ "http://127.0.0.1:7002" ]\n');
      expect(names(await loadConfig(dir, { env: {} }), dir)).toEqual(['00-base.yaml', '10-users.yaml']);
    });

    it('hidden files (editor lock and swap files, ConfigMap ..data entries) and folders named *.yaml are left out', async () => {
      const dir = folder();
      writeFileSync(join(dir, '00-base.yaml'), base);
      writeFileSync(join(dir, '.10-routes.yaml'), 'routes: [ { name: hidden, match: { path: /h }, upstream: catalog } ]\n');
      symlinkSync('root@host.1234:1700000000', join(dir, '.#00-base.yaml')); // an Emacs lock: a dangling symlink
      mkdirSync(join(dir, 'archive.yaml'));
      mkdirSync(join(dir, '..2026_11_29'));
      writeFileSync(join(dir, '..2026_11_29', '20-more.yaml'), 'routes: []\n');
      symlinkSync('..2026_11_29', join(dir, '..data'));
      symlinkSync('..data/20-more.yaml', join(dir, '20-more.yaml')); // a ConfigMap key: a symlink to a file
      expect(names(await loadConfig(dir, { env: {} }), dir)).toEqual(['00-base.yaml', '20-more.yaml']);
    });
  });
});
