// Mutations for npm run fuzz:config: each takes a seed config (its text and parsed value) and
// the PRNG, and returns a case { name, text, files?, expect?, mentions? }. `expect: 'invalid'`
// marks mutations that can only give an invalid config; `mentions` is a string the errors
// must name (the unknown key, the unknown reference). Text is a string or a Buffer (bytes
// that are not UTF-8).
import { isMap, isScalar, isSeq, parseDocument, stringify } from 'yaml';

/** mulberry32: small, seedable, good enough to pick mutations. */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (list) => list[next.int(list.length)];
  next.chance = (p) => next() < p;
  return next;
}

const toYaml = (value) => stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });

/** Every [parent, key] below `value`, with the path, for picking a node to change. */
function slots(value, path = [], out = []) {
  if (Array.isArray(value)) value.forEach((v, i) => (out.push({ parent: value, key: i, path: [...path, i] }), slots(v, [...path, i], out)));
  else if (value && typeof value === 'object') for (const k of Object.keys(value)) out.push({ parent: value, key: k, path: [...path, k] }), slots(value[k], [...path, k], out);
  return out;
}
const maps = (value) => [{ parent: null, key: null, node: value }, ...slots(value).map((s) => ({ ...s, node: s.parent[s.key] }))].filter((s) => s.node && typeof s.node === 'object' && !Array.isArray(s.node));
const clone = (v) => structuredClone(v);
const setKey = (obj, k, v) => Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });

const LONG = (r) => 'x'.repeat(r.pick([1_000, 70_000, 1_000_000]));

const VALUES = {
  any: [null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, '', ' ', 'NaN', 'nan', '.nan', 'Infinity', '-.inf', 'null', '~', 'undefined', '[object Object]', '0x1F', '1e400', '__proto__', 'constructor', '${UNSET_FUZZ_VAR}', '${', '${UNSET_FUZZ_VAR:-}', '$${x}', '%', '\u0000', '\ud800', '😀', [], {}, [[]], { '': null }],
  duration: ['5x', '5 s', '-1s', '1.5.5s', '1e3s', 's', 'ms', '999999999999999999999d', 'Infinity', '1h30m', '5sec', '5S', 1e308, -5, 0.0001, '0', '5s '],
  size: ['10xb', '-1kb', '1.5.5mb', 'kb', '99999999999999gb', '1tb', '10 MB', 1.5, -1, 1e308, 'Infinity'],
  port: [-1, 65536, 70000, 1e10, 1.5, '8080', '0x1F90', 'http', null, 2 ** 31],
  cidr: ['10.0.0.0/33', '10.0.0.0/-1', '10.0.0/8', '::1/129', '1.2.3.4/', '/8', 'localhost', '10.0.0.0/08', '999.1.1.1', 'fe80::1%eth0', '10.0.0.0/8/8', ''],
  url: ['127.0.0.1:7001', 'ftp://x', 'http://', 'http://[::1', 'http://a b', 'javascript:alert(1)', 'http://127.0.0.1:99999', 'file:///etc/passwd', '//host', 'http://user:pw@h:1/p?q#f', 'unix:/tmp/s'],
  regex: ['(', '[a-', '(?<n>a)(?<n>b)', '\\', '*a', 'a{2,1}', '(a+)+$', '^(a|aa)+$', '(.*a){20}', '(?=x', '\\k<nope>', '[\\d-z]'],
  number: [-1, -(2 ** 53), 2 ** 53 + 2, 1e308, 0.5, -0.5, 'NaN', '1e3', 0],
};
const KIND_OF = [
  [/timeout|ttl|interval|window|debounce|drain|delay|duration|stale|period|age|backoff|refill|idle|connect|response|total/i, 'duration'],
  [/size|bytes|maxBody|maxUrl|maxHeader/i, 'size'],
  [/^port$/i, 'port'],
  [/proxies|cidr|allow|deny|trusted|ips?$/i, 'cidr'],
  [/url|targets|endpoint|issuer|jwks/i, 'url'],
  [/regex|pattern/i, 'regex'],
  [/limit|weight|priority|connections|max|min|retries|attempts|burst|capacity|count|status/i, 'number'],
];
const kindOf = (key) => KIND_OF.find(([re]) => re.test(String(key)))?.[1] ?? 'any';

/** Structural mutations of the parsed value (rewritten as YAML). */
const structural = {
  'delete-key'(seed, r) {
    const v = clone(seed.value);
    const s = r.pick(slots(v).filter((x) => !Array.isArray(x.parent)));
    if (s) delete s.parent[s.key];
    return { text: toYaml(v) };
  },
  'duplicate-key'(seed, r) {
    // A key written twice in one map: a YAML error (uniqueKeys).
    const lines = seed.text.split('\n');
    const keyed = lines.map((l, i) => [l, i]).filter(([l]) => /^\s*[A-Za-z][\w-]*:\s*\S/.test(l) && !/^\s*-/.test(l));
    if (keyed.length === 0) return { text: seed.text };
    const [line, i] = r.pick(keyed);
    lines.splice(i + 1, 0, line);
    return { text: lines.join('\n'), expect: 'invalid' };
  },
  'swap-type'(seed, r) {
    const v = clone(seed.value);
    const s = r.pick(slots(v));
    if (s) s.parent[s.key] = r.pick(['str', 42, true, null, ['a', 1], { a: 1 }, -3.5]);
    return { text: toYaml(v) };
  },
  'empty-collection'(seed, r) {
    const v = clone(seed.value);
    const s = r.pick(slots(v).filter((x) => typeof x.parent[x.key] === 'object' && x.parent[x.key] !== null));
    if (s) s.parent[s.key] = Array.isArray(s.parent[s.key]) ? [] : {};
    return { text: toYaml(v) };
  },
  'long-string'(seed, r) {
    const v = clone(seed.value);
    const s = r.pick(slots(v).filter((x) => typeof x.parent[x.key] !== 'object' || x.parent[x.key] === null));
    if (s) s.parent[s.key] = LONG(r);
    return { text: toYaml(v) };
  },
  'long-key'(seed, r) {
    const v = clone(seed.value);
    const m = r.pick(maps(v).filter((x) => !isOpenMap(x.path ?? [])));
    const key = LONG(r);
    setKey(m.node, key, 1);
    return { text: toYaml(v), expect: 'invalid' };
  },
  'deep-nesting'(seed, r) {
    const v = clone(seed.value);
    const s = r.pick(slots(v));
    if (!s) return { text: toYaml(v) };
    // Written as flow text: the YAML writer itself cannot nest this deep.
    const n = r.pick([50, 200, 300, 900, 3000]);
    const open = Array.from({ length: n }, (_, i) => (i % 2 ? '[' : '{ k: ')).join('');
    const close = Array.from({ length: n }, (_, i) => (i % 2 ? ']' : ' }')).reverse().join('');
    s.parent[s.key] = 'FUZZ_DEEP_VALUE';
    return { text: toYaml(v).replace('FUZZ_DEEP_VALUE', `${open}1${close}`) };
  },
  'unknown-key'(seed, r) {
    const v = clone(seed.value);
    const candidates = maps(v).filter((m) => !isOpenMap(m.path ?? []));
    const m = r.pick(candidates);
    const key = r.pick(['fuzzUnknownKey', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']);
    if (!m || Object.hasOwn(m.node, key)) return { text: toYaml(v) };
    setKey(m.node, key, r.pick([1, 'x', { a: 1 }, null]));
    return { text: toYaml(v), expect: 'invalid', mentions: key };
  },
  'misplaced-policy'(seed, r) {
    const v = clone(seed.value);
    const entry = r.pick([{ 'rate-limit': { limit: 10, window: '1m' } }, { cors: {} }, { 'request-id': {} }, { headers: { request: { set: { a: 'b' } } } }]);
    const where = r.pick(['root', 'route', 'upstream', 'listener', 'match']);
    const route = Array.isArray(v.routes) ? r.pick(v.routes) : undefined;
    if (where === 'root') Object.assign(v, entry);
    else if (where === 'route' && route && typeof route === 'object') Object.assign(route, entry);
    else if (where === 'match' && route?.match && typeof route.match === 'object') Object.assign(route.match, entry);
    else if (where === 'upstream' && v.upstreams && typeof v.upstreams === 'object') {
      const u = r.pick(Object.values(v.upstreams));
      if (u && typeof u === 'object') Object.assign(u, entry);
    } else if (Array.isArray(v.listeners) && v.listeners[0]) Object.assign(v.listeners[0], entry);
    else Object.assign(v, entry);
    return { text: toYaml(v), expect: 'invalid', mentions: Object.keys(entry)[0] };
  },
};

/** Maps whose keys are names chosen by the operator (unknown keys are not errors there). */
function isOpenMap(path) {
  const last = path.at(-1);
  const parent = path.at(-2);
  return (
    ['upstreams', 'tiers', 'headers', 'query', 'set', 'add', 'tenants', 'zones', 'claims', 'labels', 'body', 'static', 'env', 'metadata', 'data'].includes(String(last)) ||
    (typeof last === 'number' && ['policies', 'consumers'].includes(String(parent))) ||
    path.some((p) => ['static', 'body', 'rules', 'keys', 'jwks'].includes(String(p)))
  );
}

/** YAML-level mutations of the text. */
const yamlLevel = {
  'byte-flip'(seed, r) {
    const b = Buffer.from(seed.text);
    for (let n = 1 + r.int(4); n > 0; n--) b[r.int(b.length)] = r.int(256);
    return { text: b };
  },
  truncate(seed, r) {
    return { text: seed.text.slice(0, r.int(seed.text.length)) };
  },
  'bad-indent'(seed, r) {
    const lines = seed.text.split('\n');
    const i = r.int(lines.length);
    lines[i] = r.pick([' ', '   ', '', '      ']) + lines[i].trimStart();
    return { text: lines.join('\n') };
  },
  tabs(seed, r) {
    const lines = seed.text.split('\n');
    const i = r.int(lines.length);
    lines[i] = lines[i].replace(/^( +)/, (s) => '\t'.repeat(Math.max(1, s.length / 2)));
    return { text: lines.join('\n') };
  },
  'unterminated-quote'(seed, r) {
    const lines = seed.text.split('\n');
    const i = r.int(lines.length);
    lines[i] = lines[i].replace(/: (.*)$/, (_, v) => `: ${r.pick(['"', "'"])}${v}`);
    return { text: lines.join('\n') };
  },
  'anchor-alias'(seed, r) {
    const v = clone(seed.value);
    const route = Array.isArray(v.routes) ? v.routes[0] : undefined;
    const text = toYaml(v).replace(/^routes:\n/m, 'routes:\n');
    const kind = r.pick(['self', 'self-map', 'reuse', 'undefined', 'chain-depth']);
    if (kind === 'self') return { text: `${text}x: &s [1, *s]\n`, expect: 'invalid' };
    if (kind === 'self-map') return { text: `${text}x: &s\n  a: *s\n`, expect: 'invalid' };
    if (kind === 'undefined') return { text: `${text}x: *nope\n`, expect: 'invalid' };
    if (kind === 'chain-depth') {
      let out = `${text}`;
      const depth = 300;
      out += `d0: &d0 ${'['.repeat(depth)}1${']'.repeat(depth)}\n`;
      for (let i = 1; i < 12; i++) out += `d${i}: &d${i} ${'['.repeat(depth)}*d${i - 1}${']'.repeat(depth)}\n`;
      return { text: out, expect: 'invalid' };
    }
    if (!route) return { text };
    // reuse: one route's match as an anchor in another route (valid YAML, maybe a valid config).
    return { text: text.replace(/^( *)match:/m, '$1match: &m') + `  - name: fuzz-alias\n    match: *m\n    static: { status: 200 }\n` };
  },
  'alias-bomb'(seed, r) {
    const width = r.pick([9, 10]);
    let out = 'version: 1\nlol0: &l0 "lol"\n';
    for (let i = 1; i <= 9; i++) out += `lol${i}: &l${i} [${Array(width).fill(`*l${i - 1}`).join(', ')}]\n`;
    return { text: out + seed.text.replace(/^version:.*\n/m, ''), expect: 'invalid' };
  },
  'merge-key'(seed, r) {
    const kind = r.pick(['ok', 'scalar', 'list', 'override']);
    const base = "  - name: fuzz-merge\n    match: { path: /fuzz-merge }\n";
    if (kind === 'scalar') return { text: `${seed.text.replace(/\n*$/, '\n')}x-defaults: &d 3\n`.replace(/^routes:\n/m, 'routes:\n  - <<: *d\n    name: mm\n    match: { path: /mm }\n    static: {}\n'), expect: 'invalid' };
    const anchor = 'static: &st { status: 204 }';
    const text = seed.text.replace(/\n*$/, '\n');
    if (!/^routes:/m.test(text)) return { text };
    const merged =
      kind === 'list'
        ? `  - <<: [{ static: { status: 205 } }, { priority: 3 }]\n    name: fuzz-merge2\n    match: { path: /fuzz-merge2 }\n`
        : kind === 'override'
          ? `  - <<: { name: overridden, match: { path: /o } }\n    name: fuzz-merge3\n    static: { status: 200 }\n`
          : `${base}    ${anchor}\n  - <<: { static: { status: 202 } }\n    name: fuzz-merge4\n    match: { path: /fuzz-merge4 }\n`;
    return { text: text.replace(/^routes:\n/m, `routes:\n${merged}`) };
  },
  'custom-tag'(seed, r) {
    const tag = r.pick(['!!js/function', '!foo', '!!binary', '!!set', '!!omap', '!!timestamp', '!<tag:x>', '!!python/object:os.system']);
    const val = r.pick(["'function(){ return 1 }'", 'bar', '{ a: 1 }', '[1, 2]', '2001-12-14']);
    const lines = seed.text.split('\n');
    const keyed = lines.map((l, i) => [l, i]).filter(([l]) => /:\s*\S/.test(l) && !/^\s*#/.test(l));
    if (keyed.length === 0) return { text: seed.text };
    const [, i] = r.pick(keyed);
    lines[i] = lines[i].replace(/:\s+\S.*$/, `: ${tag} ${val}`);
    return { text: lines.join('\n') };
  },
  'multi-doc'(seed, r) {
    return { text: r.pick([`${seed.text}\n---\n${seed.text}`, `---\n${seed.text}\n...\n`, `${seed.text}\n---\n`, `--- !!map\n${seed.text}`]) };
  },
  bom(seed) {
    return { text: '\ufeff' + seed.text };
  },
  'non-utf8'(seed, r) {
    const b = Buffer.from(seed.text);
    const at = r.int(b.length);
    return { text: Buffer.concat([b.subarray(0, at), Buffer.from(r.pick([[0xff, 0xfe], [0xc3], [0xed, 0xa0, 0x80], [0x00], [0x80, 0x81]])), b.subarray(at)]) };
  },
  crlf(seed, r) {
    return { text: r.chance(0.5) ? seed.text.replace(/\n/g, '\r\n') : seed.text.replace(/\n/g, '\r') };
  },
};

/** Value mutations: a bad value of the kind a key holds (durations, sizes, ports, CIDRs, URLs, regexes). */
const values = {
  'bad-value'(seed, r) {
    const v = clone(seed.value);
    const leaves = slots(v).filter((x) => typeof x.parent[x.key] !== 'object' || x.parent[x.key] === null);
    const s = r.pick(leaves);
    if (!s) return { text: toYaml(v) };
    const key = Array.isArray(s.parent) ? s.path.at(-2) : s.key;
    const kind = r.chance(0.75) ? kindOf(key) : 'any';
    s.parent[s.key] = r.pick(VALUES[kind]);
    return { text: toYaml(v) };
  },
  'route-regex'(seed, r) {
    const v = clone(seed.value);
    const route = Array.isArray(v.routes) ? r.pick(v.routes) : undefined;
    if (!route || typeof route !== 'object') return { text: toYaml(v) };
    route.match = route.match && typeof route.match === 'object' ? route.match : {};
    const re = r.pick(VALUES.regex);
    const where = r.pick(['pathRegex', 'header', 'query', 'rewrite']);
    if (where === 'pathRegex') {
      delete route.match.path;
      route.match.pathRegex = re;
    } else if (where === 'header') route.match.headers = { 'x-fuzz': { regex: re } };
    else if (where === 'query') route.match.query = { fuzz: { regex: re } };
    else route.rewrite = { replace: { pattern: re, with: '/x' } };
    return { text: toYaml(v) };
  },
  'env-interpolation'(seed, r) {
    const lines = seed.text.split('\n');
    // Not a block scalar's key (`schema: |`): its value's lines would be left behind as broken YAML.
    const keyed = lines.map((l, i) => [l, i]).filter(([l]) => /:\s+\S/.test(l) && !/^\s*#/.test(l) && !/[{[]/.test(l) && !/:\s+[|>][-+0-9]*\s*$/.test(l));
    if (keyed.length === 0) return { text: seed.text };
    const [, i] = r.pick(keyed);
    const form = r.pick(['${UNSET_FUZZ_VAR}', '"${UNSET_FUZZ_VAR}"', '${', '"${UNSET_FUZZ_VAR"', '${UNSET_FUZZ_VAR:-}', '${FUZZ_SET_VAR}', '"a${UNSET_FUZZ_VAR}b${UNSET_FUZZ_VAR2}"', '${1BAD}', '$${UNSET_FUZZ_VAR}', '${FUZZ_YAML_VAR}']);
    lines[i] = lines[i].replace(/:\s+\S.*$/, `: ${form}`);
    const expect = /^"?\$\{UNSET_FUZZ_VAR\}"?$|a\$\{UNSET/.test(form) ? 'invalid' : undefined;
    return { text: lines.join('\n'), expect, mentions: expect ? 'UNSET_FUZZ_VAR' : undefined };
  },
};

/** Reference mutations: unknown names, and plugins that are missing, broken or bad. */
const references = {
  'unknown-reference'(seed, r) {
    const v = clone(seed.value);
    const routes = Array.isArray(v.routes) ? v.routes.filter((x) => x && typeof x === 'object') : [];
    const name = r.pick(['nope', 'constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', 'isPrototypeOf']);
    const kind = r.pick(['upstream', 'policy', 'listener', 'tier']);
    if (routes.length === 0) return { text: toYaml(v) };
    const route = r.pick(routes);
    if (kind === 'upstream') {
      for (const k of ['static', 'upstreamByTenant', 'upstream']) delete route[k];
      route.upstream = name;
    } else if (kind === 'policy') route.policies = [...(Array.isArray(route.policies) ? route.policies : []), { [name]: {} }];
    else if (kind === 'listener') route.listeners = [name];
    else {
      v.tiers = { gold: { limits: [] } };
      v.consumers = [{ id: 'fuzz', tier: name, apiKeys: ['a'.repeat(32)] }];
    }
    return { text: toYaml(v), expect: 'invalid', mentions: kind === 'tier' ? undefined : name };
  },
  plugin(seed, r, ctx) {
    const v = clone(seed.value);
    const id = `p${ctx.index}`;
    const kind = r.pick(['missing', 'not-a-module', 'syntax-error', 'throws', 'rejects', 'no-export', 'bad-default', 'bad-schema', 'builtin-name', 'directory', 'json', 'null-default']);
    const file = `./${id}.mjs`;
    const api = ctx.api;
    const body = {
      'not-a-module': 'hello world, not javascript',
      'syntax-error': 'export default {',
      throws: 'throw new TypeError("boom at import " + undefined);',
      rejects: 'await Promise.reject(new Error("rejected at import"));',
      'no-export': 'export const x = 1;',
      'bad-default': 'export default 42;',
      'null-default': 'export default null;',
      'bad-schema': `import { definePolicy } from '${api}';\nexport default { name: 'fuzz-bad', description: 'x', schema: { type: 'object', properties: { a: { type: 'nonsense' } } }, create() { return {}; } };`,
      'builtin-name': `import { definePolicy, Type } from '${api}';\nexport default definePolicy({ name: 'rate-limit', description: 'x', schema: Type.Object({}), create() { return {}; } });`,
      json: '{"not": "a module"}',
    }[kind];
    const files = {};
    if (body !== undefined) files[`${id}.mjs`] = body;
    if (kind === 'directory') files[`${id}.mjs/index.js`] = 'export default 1;';
    v.plugins = [kind === 'json' ? `./${id}.json` : file];
    if (kind === 'json') files[`${id}.json`] = body;
    return { text: toYaml(v), files, expect: 'invalid' };
  },
};

export const CATEGORIES = { structural, yaml: yamlLevel, values, references };

/** A random case from `seeds` (each { name, text, value }). */
export function randomCase(seeds, r, ctx) {
  const seed = r.pick(seeds);
  const category = r.pick(Object.keys(CATEGORIES));
  const op = r.pick(Object.keys(CATEGORIES[category]));
  const out = CATEGORIES[category][op](seed, r, ctx);
  return { category, name: `${op} of ${seed.name}`, ...out };
}

/** Hand-written cases every run starts with (the extremes a random walk rarely reaches). */
export function fixedCases(seeds, ctx) {
  const base = seeds[0].text;
  const big = `${base}\nx-big:\n${'  - { name: padding-entry-000000, match: { path: /padding } }\n'.repeat(Math.ceil(10_500_000 / 62))}`;
  let bomb = 'version: 1\nlol0: &l0 "lol"\n';
  for (let i = 1; i <= 12; i++) bomb += `lol${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(', ')}]\n`;
  return [
    { category: 'yaml', name: 'empty file', text: '', expect: 'invalid' },
    { category: 'yaml', name: 'only a comment', text: '# nothing here\n', expect: 'invalid' },
    { category: 'yaml', name: 'only whitespace', text: '\n   \n\t\n', expect: 'invalid' },
    { category: 'yaml', name: 'a scalar document', text: 'just a string\n', expect: 'invalid' },
    { category: 'yaml', name: 'a list document', text: '- 1\n- 2\n', expect: 'invalid' },
    { category: 'yaml', name: 'null bytes', text: Buffer.alloc(64), expect: 'invalid' },
    { category: 'yaml', name: 'billion laughs (10^12)', text: bomb, expect: 'invalid' },
    { category: 'yaml', name: 'self-referencing alias (list)', text: `${base}\nx: &s [1, *s]\n`, expect: 'invalid' },
    { category: 'yaml', name: 'self-referencing alias (map)', text: `${base}\nx: &s\n  a: *s\n`, expect: 'invalid' },
    { category: 'yaml', name: '10 MB file', text: big, expect: 'invalid' },
    { category: 'yaml', name: 'BOM', text: '\ufeff' + base },
    { category: 'yaml', name: 'CRLF', text: base.replace(/\n/g, '\r\n') },
    { category: 'yaml', name: 'merge key', text: base.replace(/^routes:\n/m, 'routes:\n  - <<: { static: { status: 204 } }\n    name: fuzz-merge\n    match: { path: /fuzz-merge }\n'), expect: 'valid' },
    { category: 'yaml', name: 'deep flow nesting (5000)', text: `${base}\nx: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, expect: 'invalid' },
    { category: 'references', name: 'upstream named constructor', text: base.replace(/^routes:\n/m, 'routes:\n  - name: fuzz-ctor\n    match: { path: /fuzz-ctor }\n    upstream: constructor\n'), expect: 'invalid', mentions: 'constructor' },
    { category: 'structural', name: '__proto__ key at the top level', text: `${base}\n__proto__: { version: 2 }\n`, expect: 'invalid', mentions: '__proto__' },
    { category: 'references', name: 'plugin that throws at import', text: `${base}\nplugins: [./throws-${ctx.index}.mjs]\n`, files: { [`throws-${ctx.index}.mjs`]: 'throw new Error("boom");' }, expect: 'invalid' },
  ];
}
