import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkYamlBlock, ROOT, yamlBlocks } from '../../test/doc-examples.js';

/**
 * Every ```yaml block of the README and docs/ is config an operator may copy into
 * gateway.yaml: it must fit the config schema where it belongs (test/doc-examples.ts says how
 * a block is placed, and how `…` and `<!-- not-config: why -->` work).
 */
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

async function problemsOf(markdown: string): Promise<string[]> {
  const blocks = yamlBlocks('docs/example.md', markdown);
  return (await Promise.all(blocks.map(checkYamlBlock))).flat();
}

const fence = (yaml: string, before = '') => `# Example\n\n${before}\`\`\`yaml\n${yaml}\n\`\`\`\n`;

describe('checkYamlBlock', () => {
  // The block's first line is line 4 of the page (3 with a marker line before the fence: 4).
  const cases: { desc: string; md: string; want: string[] }[] = [
    { desc: 'a route list that fits', md: fence('- name: orders\n  match: { path: /orders/* }\n  upstream: orders'), want: [] },
    {
      desc: 'a misspelled key in a route',
      md: fence('- name: orders\n  mach: { path: /orders/* }\n  upstream: orders'),
      want: ['docs/example.md:4 routes[0].match: is required (checked as: a list of routes)', "docs/example.md:5 routes[0].mach: unknown key 'mach' (did you mean 'match'?) (checked as: a list of routes)"],
    },
    {
      desc: 'a misspelled key in an upstream setting, written at its depth',
      md: fence('    healthCheck: { path: /health, intervall: 5s }'),
      want: ["docs/example.md:4 upstreams.doc-example.healthCheck.intervall: unknown key 'intervall' (did you mean 'interval'?) (checked as: an upstream)"],
    },
    {
      desc: 'a misspelled policy name',
      md: fence('- api-key: {}\n- rate-limt: { limit: 1, window: 1s }'),
      want: ["docs/example.md:5 routes[0].policies[1].rate-limt: unknown policy 'rate-limt' (did you mean 'rate-limit'?) (checked as: a policy list)"],
    },
    {
      desc: "a misspelled key of a policy's settings",
      md: fence('policies:\n  - cache: { tll: 30s }'),
      want: ["docs/example.md:5 policies[0].cache.tll: unknown key 'tll' (did you mean 'ttl'?) (checked as: the top level)"],
    },
    { desc: 'a value of the wrong type', md: fence('server: { drainTimeout: soon }'), want: ['docs/example.md:4 server.drainTimeout: must be a duration such as 250ms, 5s, 1m or 1h (checked as: the top level)'] },
    {
      desc: 'a whole config loads as gantry validate loads it',
      md: fence('version: 1\nupstreams: { orders: { targets: [ "http://127.0.0.1:7001" ] } }\nroutes:\n  - { name: orders, match: { path: /orders/* }, upstream: orders }'),
      want: [],
    },
    {
      desc: 'a whole config is held to its cross-references too',
      md: fence('version: 1\nroutes:\n  - { name: orders, match: { path: /orders/* }, upstream: ordres }'),
      want: ["docs/example.md:6 routes[0].upstream: unknown upstream 'ordres' (checked as: a whole config)"],
    },
    {
      desc: 'a whole config naming files that are not beside the page is held to the schema only',
      md: fence('version: 1\nlisteners:\n  - { name: secure, port: 8443, protocol: https, tls: { cert: certs/gw.pem, key: certs/gw-key.pem, minVersion: TLSv1.4 } }'),
      want: ['docs/example.md:6 listeners[0].tls.minVersion: must be one of: "TLSv1.2", "TLSv1.3" (checked as: the top level)'],
    },
    {
      desc: 'a block of alternatives: each is checked on its own, at its line',
      md: fence('tls: { cert: a.pem, key: a-key.pem }\ntls: { cert: a.pem, key: a-key.pem, minVersoin: TLSv1.3 }'),
      want: ["docs/example.md:5 listeners[0].tls.minVersoin: unknown key 'minVersoin' (did you mean 'minVersion'?) (checked as: a listener)"],
    },
    { desc: '… leaves out required keys', md: fence('grpc: { …, timeout: 800ms }'), want: [] },
    { desc: '… does not hide a misspelled key', md: fence('grpc: { …, timout: 800ms }'), want: ["docs/example.md:4 routes[0].grpc.timout: unknown key 'timout' (did you mean 'timeout'?) (checked as: a route)"] },
    { desc: 'a placeholder string', md: fence('consumers: [ { id: acme, apiKeys: [ "sha256:…" ] } ]'), want: [] },
    {
      desc: '${name} the docs do not provide is an environment variable the loader reads',
      md: fence('- headers: { request: { set: { x-tenant: "${tenant}" } } }'),
      want: ['docs/example.md:4 routes[0].policies[0].headers.request.set.x-tenant: environment variable tenant is not set; for the template variable write $${tenant} (a config file reads ${tenant} as an environment variable) (checked as: a policy list)'],
    },
    { desc: 'an opted-out block', md: fence('server: { viaa: gw }', '<!-- not-config: an example of a config error -->\n\n'), want: [] },
    { desc: 'an opt-out must say why', md: fence('server: { viaa: gw }', '<!-- not-config -->\n'), want: ['docs/example.md:3 <!-- not-config --> must say why the block is not config: <!-- not-config: why -->'] },
    {
      desc: 'a block that fits no section',
      md: fence('scrape_configs: [ { job_name: gantry } ]'),
      want: ['docs/example.md:4 its keys (scrape_configs) fit no config section (top level, listener, upstream, route, listener tls, graphql); put it under its section, or mark it <!-- not-config: why -->'],
    },
    { desc: 'other fences are not config', md: '```text\nserver: { viaa: gw }\n```\n', want: [] },
  ];

  it.each(cases)('$desc', async ({ md, want }) => {
    expect(await problemsOf(md)).toEqual(want);
  });
});

describe('documentation YAML examples', () => {
  it('finds the examples', () => {
    const n = PAGES.flatMap((p) => yamlBlocks(p, readFileSync(join(ROOT, p), 'utf8'))).length;
    expect(n).toBeGreaterThan(80);
  });

  it('every ```yaml block of the README and docs/ fits the config schema', async () => {
    const blocks = PAGES.flatMap((p) => yamlBlocks(p, readFileSync(join(ROOT, p), 'utf8')));
    const problems = (await Promise.all(blocks.map(checkYamlBlock))).flat();
    expect(problems).toEqual([]);
  });
});
