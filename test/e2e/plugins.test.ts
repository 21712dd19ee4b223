import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, freePort, httpRequest, spawnGateway, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';
import { Gateway } from '../../src/gateway.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/plugins');

const tmpRoot = join(dirname(fileURLToPath(import.meta.url)), '../../.test-tmp');

/**
 * Writes a config next to copies of the plugin fixtures. The plugins import `gantry` by
 * name, so the config lives inside the repository (the package's self-reference resolves
 * to dist/, as it would for an operator who installed gantry).
 */
function configWithPlugins(yaml: string): string {
  const dir = join(tmpRoot, `${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(join(dir, 'policies'), { recursive: true });
  for (const f of ['add-tenant.mjs', 'async-check.mjs', 'bad-hook.mjs', 'upper-body.mjs']) copyFileSync(join(fixtures, f), join(dir, 'policies', f));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, yaml);
  return file;
}

describe('plugins: custom policies validated and run like built-ins', () => {
  let up: TestUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    up = await startUpstream();
    const file = configWithPlugins(
      `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
plugins: [ ./policies/add-tenant.mjs, ./policies/async-check.mjs, ./policies/upper-body.mjs ]
upstreams:
  echo: { targets: [ "${up.url}" ] }
routes:
  - name: mapped
    match: { path: /upper/* }
    upstream: echo
    policies: [ { upper-body: {} } ]
  - name: mapped-small
    match: { path: /upper-small/* }
    upstream: echo
    policies: [ { upper-body: { maxBytes: 16 } } ]
  - name: tenanted
    match: { path: /t/* }
    upstream: echo
    policies:
      - add-tenant: { tenant: acme }
      - async-check: { deny: mallory }
`,
    );
    gw = await startGateway('', { file });
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
    rmSync(tmpRoot, { recursive: true, force: true });
  });

  it('runs the plugin request and response hooks', async () => {
    const r = await httpRequest(`${gw.url}/t/x`, { headers: { 'x-user': 'alice' } });
    expect(r.status).toBe(200);
    const seen = r.json<{ headers: Record<string, string> }>().headers;
    expect(seen['x-tenant']).toBe('acme');
    expect(seen['x-checked']).toBe('yes');
    expect(r.headers['x-tenant-tagged']).toBe('acme');
  });

  it('a plugin can map a whole response body; one over its limit or a failing mapper is a 502 problem', async () => {
    const mapped = await httpRequest(`${gw.url}/upper/x`);
    expect(mapped.status).toBe(200);
    expect(mapped.text).toContain('"METHOD":"GET"');
    expect(Number(mapped.headers['content-length'])).toBe(Buffer.byteLength(mapped.text));

    const tooBig = await httpRequest(`${gw.url}/upper-small/x`);
    expect(tooBig.status).toBe(502);
    expect(tooBig.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(tooBig.json<{ detail: string }>().detail).toMatch(/larger than the gateway can transform/);

    const failed = await httpRequest(`${gw.url}/upper/x`, { headers: { 'x-map-fail': 'yes' } });
    expect(failed.status).toBe(502);
    expect(failed.json<{ detail: string }>().detail).toMatch(/could not be transformed/);

    // The gateway keeps serving on the same route afterwards.
    expect((await httpRequest(`${gw.url}/upper/y`)).status).toBe(200);
  });

  it('a plugin can answer the request itself (sync and async hooks)', async () => {
    const teapot = await httpRequest(`${gw.url}/t/x`, { headers: { 'x-block': 'yes' } });
    expect(teapot.status).toBe(418);
    expect(teapot.json()).toEqual({ blockedBy: 'add-tenant', tenant: 'acme' });
    expect(teapot.headers['x-tenant-tagged']).toBe('acme');
    const denied = await httpRequest(`${gw.url}/t/x`, { headers: { 'x-user': 'mallory' } });
    expect(denied.status).toBe(403);
    expect(denied.text).toBe('denied');
  });

  it('plugin config errors are reported by line, like built-ins', async () => {
    const file = configWithPlugins(
      `version: 1
listeners: [ { name: public, port: 0 } ]
plugins: [ ./policies/add-tenant.mjs ]
upstreams: { echo: { targets: [ "http://127.0.0.1:1" ] } }
routes:
  - name: r
    match: { path: /r }
    upstream: echo
    policies:
      - add-tenant:
          tenant: ""
          colour: blue
`,
    );
    const r = await loadConfig(file);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = r.issues.map(formatIssue).join('\n');
    expect(text).toMatch(/gateway\.yaml:11 routes\[0\]\.policies\[0\]\.add-tenant\.tenant: must NOT have fewer than 1 characters/);
    expect(text).toMatch(/gateway\.yaml:12 routes\[0\]\.policies\[0\]\.add-tenant\.colour: unknown key 'colour'/);
  });

  it('a reload whose plugin never finishes loading is refused, and the old config keeps serving', async () => {
    const yaml = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
routes:
  - { name: r, match: { path: /r }, static: { body: old } }
`;
    const file = configWithPlugins(yaml);
    writeFileSync(join(dirname(file), 'hang.mjs'), 'await new Promise(() => {});\nexport default {};\n');
    // The load timeout lowered so the test is fast (default 10 s).
    const g = await startGateway('', { file, env: { ...process.env, GANTRY_PLUGIN_LOAD_TIMEOUT: '200' } });
    try {
      writeFileSync(file, yaml.replace('{ body: old }', '{ body: new }') + 'plugins: [ ./hang.mjs ]\n');
      const r = await g.gw.reload();
      expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([expect.stringMatching(/gateway\.yaml:5 plugins\[0\]: \.\/hang\.mjs: did not finish loading within 200ms$/)]);
      expect((await httpRequest(`${g.url}/r`)).text).toBe('old');
      // A later reload hits the same pending module and is refused the same way, not blocked.
      expect((await g.gw.reload()).ok).toBe(false);
      expect((await httpRequest(`${g.url}/r`)).text).toBe('old');
    } finally {
      await g.close();
    }
  });

  it('a missing plugin file and a hook outside the phase list are load errors', async () => {
    const file = configWithPlugins(
      `version: 1
listeners: [ { name: public, port: 0 } ]
plugins:
  - ./policies/nope.mjs
`,
    );
    const missing = await loadConfig(file);
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.issues.map(formatIssue).join('\n')).toMatch(/gateway\.yaml:4 plugins\[0\]: cannot load plugin \.\/policies\/nope\.mjs/);

    writeFileSync(
      file,
      `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
plugins: [ ./policies/bad-hook.mjs ]
routes:
  - { name: r, match: { path: /r }, static: { body: x }, policies: [ { bad-hook: {} } ] }
`,
    );
    await expect(Gateway.start(file)).rejects.toThrow(/unknown hook 'beforeEverything'/);
  });

  it('a policy entry whose name is unknown while a plugin failed to load points at that plugin', async () => {
    const file = configWithPlugins(
      `version: 1
listeners: [ { name: public, port: 0 } ]
plugins:
  - ./policies/add-tenant.mjs
  - ./policies/nope.mjs
  - ./policies/empty.mjs
  - ./policies/half.mjs
routes:
  - name: r
    match: { path: /r }
    static: { body: x }
    policies:
      - add-tenant: { tenant: acme }
      - stamp: {}
      - rate-limt: { limit: 1, window: 1s }
      - request-id: {}
      - half: {}
`,
    );
    writeFileSync(join(dirname(file), 'policies', 'empty.mjs'), 'export const version = 1;\n');
    // Names its policy but is no definition: the plugin's error is the only one (the entry naming 'half' adds nothing).
    writeFileSync(join(dirname(file), 'policies', 'half.mjs'), "export default { name: 'half', schema: { type: 'object' } };\n");
    const r = await loadConfig(file);
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([
      expect.stringMatching(/^\S*gateway\.yaml:5 plugins\[1\]: cannot load plugin \.\/policies\/nope\.mjs: Cannot find module/),
      expect.stringMatching(/^\S*gateway\.yaml:6 plugins\[2\]: \.\/policies\/empty\.mjs exports no policy/),
      expect.stringMatching(/^\S*gateway\.yaml:7 plugins\[3\]: \.\/policies\/half\.mjs: policy 'half' needs a `create\(config, deps\)` function$/),
      expect.stringMatching(
        /^\S*gateway\.yaml:14 routes\[0\]\.policies\[1\]\.stamp: unknown policy 'stamp': it may come from one of the plugins \.\/policies\/nope\.mjs \(plugins\[1\]\), \.\/policies\/empty\.mjs \(plugins\[2\]\), which failed to load$/,
      ),
      // A typo stays an error, with its suggestion: the plugin may not be why.
      expect.stringMatching(/^\S*gateway\.yaml:15 routes\[0\]\.policies\[2\]\.rate-limt: unknown policy 'rate-limt' \(did you mean 'rate-limit'\?\): it may come from one of the plugins/),
    ]);
  });
});

/**
 * A plugin written as an operator would edit it: answers `<tag>:<id>`, where `id` is drawn
 * once per module instance (so a reload that kept the module answers the same id).
 */
const stampPlugin = (tag: string, schema = `{ type: 'object' }`) => `const id = Math.random().toString(36).slice(2);
export default {
  name: 'stamp',
  description: 'Answers with its version and module instance.',
  schema: ${schema},
  create() {
    return { request: function stamp() { return { status: 200, body: '${tag}:' + id }; } };
  },
};
`;

const stampConfig = (port = 0, extra = '') => `version: 1
listeners: [ { name: public, port: ${port}, host: 127.0.0.1 } ]
plugins: [ ./policies/stamp.mjs ]
routes:
  - { name: r, match: { path: /r }, static: { body: unused }, policies: [ { stamp: {} } ] }
${extra}`;

describe('plugins: a reload imports a changed plugin file afresh', () => {
  let gw: TestGateway;
  let plugin: string;
  const get = async () => (await httpRequest(`${gw.url}/r`)).text;

  beforeAll(async () => {
    const file = configWithPlugins(stampConfig());
    plugin = join(dirname(file), 'policies', 'stamp.mjs');
    writeFileSync(plugin, stampPlugin('v1'));
    gw = await startGateway('', { file });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('an unchanged plugin keeps its module; a changed one serves its new code after the reload', async () => {
    const first = await get();
    expect(first).toMatch(/^v1:/);
    expect((await gw.gw.reload()).ok).toBe(true);
    expect(await get()).toBe(first);

    writeFileSync(plugin, stampPlugin('v2'));
    expect((await gw.gw.reload()).ok).toBe(true);
    expect(await get()).toMatch(/^v2:/);
  });

  it('a changed plugin that does not import, or whose schema does not compile, is refused naming the file; the old code keeps serving', async () => {
    writeFileSync(plugin, stampPlugin('v3'));
    expect((await gw.gw.reload()).ok).toBe(true);
    const serving = await get();
    expect(serving).toMatch(/^v3:/);

    writeFileSync(plugin, stampPlugin('v4').replace('export default {', 'export default {{'));
    let r = await gw.gw.reload();
    // The policy entry that names it points at the plugin, not at the list of policies that did load.
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([
      expect.stringMatching(/gateway\.yaml:3 plugins\[0\]: cannot load plugin \.\/policies\/stamp\.mjs: /),
      expect.stringMatching(/gateway\.yaml:5 routes\[0\]\.policies\[0\]\.stamp: unknown policy 'stamp': it may come from plugin \.\/policies\/stamp\.mjs \(plugins\[0\]\), which failed to load$/),
    ]);
    expect(await get()).toBe(serving);

    writeFileSync(plugin, stampPlugin('v5', `{ type: 'object', properties: { n: { type: 'no-such-type' } } }`));
    r = await gw.gw.reload();
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([expect.stringMatching(/gateway\.yaml:3 plugins\[0\]: \.\/policies\/stamp\.mjs: policy 'stamp' has a schema that does not compile/)]);
    expect(await get()).toBe(serving);

    // Fixed: the next reload serves it.
    writeFileSync(plugin, stampPlugin('v6'));
    expect((await gw.gw.reload()).ok).toBe(true);
    expect(await get()).toMatch(/^v6:/);
  });
});

describe('gantry start: reload.watch reloads when a plugin file changes', () => {
  it('the edited plugin serves without a reload asked for; a broken edit keeps the old code serving', async () => {
    const port = await freePort();
    const file = configWithPlugins(stampConfig(port, 'reload: { watch: true, debounce: 100ms }\n'));
    const plugin = join(dirname(file), 'policies', 'stamp.mjs');
    writeFileSync(plugin, stampPlugin('v1'));
    const g = await spawnGateway('', { file });
    const get = async () => (await httpRequest(`http://127.0.0.1:${port}/r`)).text;
    try {
      expect(await get()).toMatch(/^v1:/);
      writeFileSync(plugin, stampPlugin('v2'));
      await eventually(async () => ((await get()).startsWith('v2:') ? true : undefined), 10_000, 'the edited plugin to serve');
      const serving = await get();

      writeFileSync(plugin, 'export default {{\n');
      const failed = await eventually(() => g.logs.find((l) => l.msg === 'config reload rejected; the previous config keeps serving'), 10_000, 'the refused reload to be logged');
      expect(JSON.stringify(failed)).toMatch(/plugins\[0\]: cannot load plugin \.\/policies\/stamp\.mjs/);
      expect(await get()).toBe(serving);
    } finally {
      await g.stop();
    }
  });
});
