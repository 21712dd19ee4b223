import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './load.js';
import { formatIssue, MAX_CONFIG_BYTES } from './source.js';

// Regression cases found by `npm run fuzz:config`: each config is broken in a way that used to
// crash, hang, pollute Object.prototype or pass validation, and must be one precise error.

const base = `version: 1
listeners:
  - { name: public, port: 8080 }
upstreams:
  catalog:
    targets: [ "http://127.0.0.1:7001" ]
routes:
  - name: r
    match: { path: /a }
    upstream: catalog
`;

async function issuesOf(yaml: string): Promise<string[]> {
  const r = await loadConfig('/cfg/gateway.yaml', { text: yaml, env: {} });
  return r.ok ? [] : r.issues.filter((i) => i.severity === 'error').map((i) => formatIssue(i).replace(/^\/cfg\//, ''));
}

function billionLaughs(levels: number): string {
  let s = 'version: 1\nlol0: &l0 "lol"\n';
  for (let i = 1; i <= levels; i++) s += `lol${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(', ')}]\n`;
  return s;
}

describe('adversarial YAML is one error, not a crash or a hang', () => {
  const cases: { desc: string; yaml: string; want: RegExp[] }[] = [
    {
      desc: 'an alias bomb (10^12 values) is cut off at the alias limit',
      yaml: billionLaughs(12),
      want: [/^gateway\.yaml:\d+ lol\d+(\[\d+\])+: aliases expand to more than 100000 values/],
    },
    {
      desc: 'an alias to the list that contains it',
      yaml: base + 'x: &s [1, *s]\n',
      want: [/^gateway\.yaml:11 x\[1\]: alias \*s refers to a value that contains it$/],
    },
    {
      desc: 'an alias to the map that contains it',
      yaml: base + 'x: &s\n  a: *s\n',
      want: [/^gateway\.yaml:12 x\.a: alias \*s refers to a value that contains it$/],
    },
    {
      desc: 'aliases nesting deeper than the limit',
      yaml: base + `d0: &d0 ${'['.repeat(200)}1${']'.repeat(200)}\nd1: ${'['.repeat(200)}*d0${']'.repeat(200)}\n`,
      want: [/^gateway\.yaml:11 d1(\[0\])+: nested deeper than 256 levels$/],
    },
    {
      desc: 'nesting too deep for the parser',
      yaml: base + `x: ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
      want: [/^gateway\.yaml:11: nested too deeply to parse$/],
    },
    { desc: 'an empty file', yaml: '', want: [/^gateway\.yaml:1: the config file is empty$/] },
    { desc: 'a file of blank lines and comments', yaml: '\n  \n# version: 1\n\t\n   # listeners: []\n', want: [/^gateway\.yaml:1: the config file is empty$/] },
    {
      desc: 'two YAML documents',
      yaml: base + '---\nversion: 1\n',
      want: [/^gateway\.yaml:11: a config file holds one YAML document/],
    },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const issues = await issuesOf(c.yaml);
      expect(issues).toHaveLength(c.want.length);
      c.want.forEach((re, i) => expect(issues[i]).toMatch(re));
    });
  }

  it('a merge key (<<) merges the map it names; keys written beside it win', async () => {
    const yaml = base.replace('routes:\n', 'routes:\n  - <<: { static: { status: 204 }, priority: 3, name: merged }\n    name: m\n    match: { path: /m }\n');
    const r = await loadConfig('/cfg/gateway.yaml', { text: yaml, env: {} });
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([]);
    if (!r.ok) return;
    expect(r.loaded.config.routes[0]).toMatchObject({ name: 'm', priority: 3, static: { status: 204 } });
  });

  it('a config larger than the limit is refused before it is parsed, from a file or as text', async () => {
    const big = base + `x: "${'a'.repeat(MAX_CONFIG_BYTES)}"\n`;
    expect(await issuesOf(big)).toEqual(['gateway.yaml: the config is larger than 4mb; split it or trim it']);
    const dir = mkdtempSync(join(tmpdir(), 'gantry-big-'));
    writeFileSync(join(dir, 'gateway.yaml'), big);
    const r = await loadConfig(join(dir, 'gateway.yaml'), { env: {} });
    expect(r.ok ? [] : r.issues.map((i) => i.message)).toEqual(['the config is larger than 4mb; split it or trim it']);
  });
});

describe('names that are also Object.prototype members', () => {
  it('a __proto__ key is an unknown key, and does not reach Object.prototype', async () => {
    const issues = await issuesOf(base + '__proto__: { version: 2, polluted: true }\n');
    expect(issues).toEqual([expect.stringMatching(/^gateway\.yaml:11 __proto__: unknown key '__proto__'/)]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const nested = await issuesOf(base.replace('    upstream: catalog', '    upstream: catalog\n    __proto__: { static: {} }'));
    expect(nested).toEqual([expect.stringMatching(/^gateway\.yaml:11 routes\[0\]\.__proto__: unknown key '__proto__'/)]);
  });

  it('a reference to an upstream or tier named constructor, toString, … is unknown', async () => {
    const yaml = base.replace('upstream: catalog', 'upstream: constructor') + 'tiers: { gold: { limits: {} } }\nconsumers:\n  - { id: c, tier: toString, apiKeys: [ "k" ] }\n';
    const issues = await issuesOf(yaml);
    expect(issues).toContainEqual("gateway.yaml:10 routes[0].upstream: unknown upstream 'constructor'");
    expect(issues).toContainEqual(expect.stringMatching(/^gateway\.yaml:13 consumers\[0\]\.tier: unknown tier 'toString'/));
  });

  it('an upstream or tier whose name is not a name is an error, and its body is validated', async () => {
    const direct = await issuesOf(base.replace('upstreams:\n', 'upstreams:\n  "my api":\n    targets: 12\n') + 'tiers:\n  _gold: { limits: {} }\n');
    expect(direct).toEqual([
      expect.stringMatching(/^gateway\.yaml:5 upstreams\.my api: unknown key 'my api' \(keys must match/),
      expect.stringMatching(/^gateway\.yaml:14 tiers\._gold: unknown key '_gold' \(keys must match/),
    ]);
  });
});

describe('plugins', () => {
  it('a plugin whose top-level await never settles is its entry\'s error once the load timeout passes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-plugin-'));
    writeFileSync(join(dir, 'hang.mjs'), 'await new Promise(() => {});\nexport default {};\n');
    writeFileSync(join(dir, 'gateway.yaml'), base + 'plugins:\n  - ./hang.mjs\n');
    // Lowered so the test is fast; the default (PLUGIN_LOAD_TIMEOUT) is 10 s.
    const r = await loadConfig(join(dir, 'gateway.yaml'), { env: { GANTRY_PLUGIN_LOAD_TIMEOUT: '200' } });
    expect(r.ok ? [] : r.issues.map((i) => `${i.line} ${i.path}: ${i.message}`)).toEqual(['12 plugins[0]: ./hang.mjs: did not finish loading within 200ms']);
  });

  it('a plugin policy whose schema does not compile is the plugin\'s error, also where an entry uses it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-plugin-'));
    writeFileSync(
      join(dir, 'bad.mjs'),
      "export default { name: 'bad-schema', description: 'x', schema: { type: 'object', properties: { a: { type: 'nonsense' } } }, create() { return {}; } };\n",
    );
    const yaml = base.replace('    upstream: catalog', '    upstream: catalog\n    policies:\n      - bad-schema: { a: 1 }') + 'plugins: [ ./bad.mjs ]\n';
    writeFileSync(join(dir, 'gateway.yaml'), yaml);
    const r = await loadConfig(join(dir, 'gateway.yaml'), { env: {} });
    expect(r.ok ? [] : r.issues.map((i) => `${i.line} ${i.path}: ${i.message}`)).toEqual([
      expect.stringMatching(/^13 plugins\[0\]: \.\/bad\.mjs: policy 'bad-schema' has a schema that does not compile: schema is invalid/),
    ]);
  });
});

describe('an empty config', () => {
  it('a folder whose files are all empty names each at line 1; an empty file beside a full one is fine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-empty-'));
    writeFileSync(join(dir, 'a.yaml'), '');
    writeFileSync(join(dir, 'b.yaml'), '# nothing yet\n');
    const empty = await loadConfig(dir, { env: {} });
    expect(empty.ok ? [] : empty.issues.map((i) => `${i.file.replace(/^.*\//, '')}:${i.line}: ${i.message}`)).toEqual(['a.yaml:1: the config file is empty', 'b.yaml:1: the config file is empty']);
    writeFileSync(join(dir, 'c.yaml'), base);
    const full = await loadConfig(dir, { env: {} });
    expect(full.ok ? [] : full.issues.map(formatIssue)).toEqual([]);
  });
});

describe('maps keyed by a header or parameter name reject a key that is not one', () => {
  // Each map used to take any key: an empty or non-token header name passed validate, and
  // then answered every request 500 (static headers), never matched (match headers) or failed every export (tracing).
  const route = (extra: string) => base.replace('    upstream: catalog', `    upstream: catalog\n${extra}`);
  const staticRoute = (headers: string) => base + `  - name: s\n    match: { path: /s }\n    static: { body: x, headers: ${headers} }\n`;
  const tracing = (headers: string) => base + `telemetry:\n  tracing:\n    endpoint: http://127.0.0.1:4318/v1/traces\n    headers: ${headers}\n`;
  const headersPolicy = (headers: string) => route(`    policies: [ { headers: { request: { set: ${headers} } } } ]`);
  const TOKEN = '\\(keys must match \\^\\[!#\\$%&\'\\*\\+\\.\\^_`\\|~0-9A-Za-z-\\]\\+\\$\\)$';
  const cases: { desc: string; yaml: string; want: RegExp | null }[] = [
    { desc: 'static reply: a header name with a space', yaml: staticRoute('{ "bad header": v }'), want: new RegExp(`^gateway\\.yaml:13 routes\\[1\\]\\.static\\.headers\\.bad header: unknown key 'bad header' ${TOKEN}`) },
    { desc: 'static reply: an empty header name', yaml: staticRoute('{ "": v }'), want: new RegExp(`^gateway\\.yaml:13 routes\\[1\\]\\.static\\.headers\\.: an empty key is not allowed ${TOKEN}`) },
    { desc: 'static reply: a token header name', yaml: staticRoute('{ retry-after: "120", X-A: b }'), want: null },
    { desc: 'fallback static reply: an empty header name', yaml: route('    fallback: { static: { status: 503, headers: { "": v } } }'), want: new RegExp(`^gateway\\.yaml:11 routes\\[0\\]\\.fallback\\.static\\.headers\\.: an empty key is not allowed ${TOKEN}`) },
    { desc: 'match: a header name with a colon', yaml: route('    match: { path: /a, headers: { "x-a:": "1" } }').replace('    match: { path: /a }\n', ''), want: new RegExp(`^gateway\\.yaml:10 routes\\[0\\]\\.match\\.headers\\.x-a:: unknown key 'x-a:' ${TOKEN}`) },
    { desc: 'match: an empty header name', yaml: route('    match: { path: /a, headers: { "": { present: false } } }').replace('    match: { path: /a }\n', ''), want: new RegExp(`^gateway\\.yaml:10 routes\\[0\\]\\.match\\.headers\\.: an empty key is not allowed ${TOKEN}`) },
    { desc: 'match: a token header name', yaml: route('    match: { path: /a, headers: { x-tenant: acme } }').replace('    match: { path: /a }\n', ''), want: null },
    { desc: 'tracing: an empty export header name', yaml: tracing('{ "": v }'), want: new RegExp(`^gateway\\.yaml:14 telemetry\\.tracing\\.headers\\.: an empty key is not allowed ${TOKEN}`) },
    { desc: 'tracing: a token export header name', yaml: tracing('{ authorization: "Bearer x" }'), want: null },
    { desc: 'headers policy (already checked): an empty header name', yaml: headersPolicy('{ "": v }'), want: /^gateway\.yaml:11 routes\[0\]\.policies\[0\]\.headers\.request\.set\.: an empty key is not allowed/ },
  ];
  for (const c of cases) {
    it(c.desc, async () => {
      const issues = await issuesOf(c.yaml);
      if (c.want === null) expect(issues).toEqual([]);
      else expect(issues).toEqual([expect.stringMatching(c.want)]);
    });
  }
});
