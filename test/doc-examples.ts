import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TObject, TSchema } from '@sinclair/typebox';
import { isMap, LineCounter, parseDocument, type Pair } from 'yaml';
import { GatewayConfigSchema, Listener, Route, Upstream, type GatewayConfig } from '../src/config/schema.js';
import { ListenerTls } from '../src/listeners/tls.js';
import { GraphqlSchema } from '../src/handlers/graphql/schema.js';
import { ConfigSource, displayPath, type ConfigIssue } from '../src/config/source.js';
import { validateInPlace } from '../src/config/validate.js';
import { loadConfig, validatePolicies } from '../src/config/load.js';
import { referencedFiles } from '../src/config/references.js';
import { builtinPolicies } from '../src/policies/index.js';

/**
 * The ```yaml examples of the README and docs/ checked against the config schema and loader
 * (src/util/doc-examples.test.ts). Operators copy them into their gateway.yaml, so a key the
 * schema does not have is a documentation bug.
 *
 * - A whole config (`version:` and no `…`) loads as `gantry validate` loads it; when it names
 *   files that do not exist beside the page (certificates, protos, plugins), it is held to the
 *   schema only, as a fragment is.
 * - A fragment is put where its top-level keys say it belongs (placeOf: the top level, a
 *   listener, an upstream, a route, a listener's tls, a graphql handler; a list of policies,
 *   routes or listeners), inside a minimal config (SKELETON), and checked against the schema
 *   and the schema of every policy it names. References to upstreams, files or consumers it
 *   does not define are not checked, nor the policies of `plugins:` it cannot load.
 * - A map whose top-level key repeats (`tls: {…}` one line per variant) is a list of
 *   alternatives: each is checked on its own.
 * - `…` stands for what the example leaves out: a `…` list item or map key is dropped, and what
 *   that list or map then misses (required keys, items) is not an error; a string with `…` in
 *   it (`"sha256:…"`) is a placeholder, whose format is not checked.
 * - `<!-- not-config: why -->` on the line before the fence opts a block out (a Prometheus
 *   config, an example of a config error); the reason is required.
 */

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A fenced ```yaml (or ```yml) block of a Markdown page. */
export interface YamlBlock {
  /** The page, relative to the repository: `docs/upstreams.md`. */
  page: string;
  /** Line of the opening fence (1-based). */
  line: number;
  /** The block's text, the fence's own indentation removed. */
  text: string;
  /** Why the block is not a config, from `<!-- not-config: why -->` right before it. */
  notConfig?: string;
}

/** A fence closes with the same character, at least as many times, and nothing else on the line. */
function isClosing(line: string, fence: string): boolean {
  const t = line.trim();
  return t.length >= fence.length && t === fence[0]!.repeat(t.length);
}

/** The opt-out marker; its reason is the text after the colon. */
const NOT_CONFIG = /^\s*<!--\s*not-config\b:?\s*(.*?)\s*-->\s*$/;

/**
 * The ```yaml blocks of a Markdown text, in order.
 *
 * @example yamlBlocks('docs/x.md', '# X\n\n```yaml\nserver: {}\n```\n') // [{ page: 'docs/x.md', line: 3, text: 'server: {}' }]
 */
export function yamlBlocks(page: string, markdown: string): YamlBlock[] {
  const lines = markdown.split('\n');
  const out: YamlBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (!open) continue;
    const [, indent = '', fence = '', lang = ''] = open;
    let end = i + 1;
    while (end < lines.length && !isClosing(lines[end]!, fence)) end++;
    if (lang === 'yaml' || lang === 'yml') {
      const text = lines.slice(i + 1, end).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart())).join('\n');
      const block: YamlBlock = { page, line: i + 1, text };
      let before = i - 1;
      while (before >= 0 && lines[before]!.trim() === '') before--;
      const marker = before >= 0 ? NOT_CONFIG.exec(lines[before]!) : null;
      if (marker) block.notConfig = marker[1]!;
      out.push(block);
    }
    i = end;
  }
  return out;
}

/**
 * Environment variables the examples interpolate (`${GANTRY_ADMIN_TOKEN}`), with values that
 * fit where they are used. A `${name}` not listed here is reported: a policy template written
 * where the loader reads an environment variable (`"${tenant}"` for `"$${tenant}"`) shows up so.
 */
export const DOC_ENV: Readonly<Record<string, string>> = {
  GANTRY_ADMIN_TOKEN: 'doc-example-admin-token-0123456789',
  JWT_SECRET: 'doc-example-secret-0123456789abcdef',
  PARTNER_SECRET: 'doc-example-secret-0123456789abcdef',
  INTROSPECTION_SECRET: 'doc-example-secret',
  OTEL_KEY: 'doc-example-key',
  REDIS_PASSWORD: 'doc-example-password',
  SHOP_KEY_PASSPHRASE: 'doc-example-passphrase',
  GW_KEY_PASSPHRASE: 'doc-example-passphrase',
  SHOP_PASS: 'doc-example-passphrase',
  CLIENT_KEY_PASS: 'doc-example-passphrase',
  MASK_SALT: 'doc-example-salt',
};

/** What a fragment is merged with: a config that is valid on its own. */
const SKELETON = [
  'version: 1',
  'listeners: [ { name: doc-skeleton, port: 0 } ]',
  'upstreams: { doc-skeleton: { targets: [ "http://127.0.0.1:1" ] } }',
  'routes: [ { name: doc-skeleton, match: { path: /doc-skeleton }, upstream: doc-skeleton } ]',
].join('\n');
const SKELETON_FILE = '(skeleton)';
const FRAGMENT_FILE = '(example)';

/** Where a map fragment may go: the first place whose keys hold all of the block's top-level keys. */
interface Place {
  /** How messages name the place. */
  name: string;
  keys?: ReadonlySet<string>;
  /** The lines the block is indented under (the keys the place requires, where the block lacks them). */
  header(keys: ReadonlySet<string>): string[];
  /** Indentation of the block's lines under the header. */
  indent: number;
}

const keysOf = (s: TSchema) => new Set(Object.keys((s as TObject).properties));
/** `key: value` lines for the required keys the block does not write itself. */
const fill = (keys: ReadonlySet<string>, required: Record<string, string>, indent: number) =>
  Object.entries(required)
    .filter(([k]) => !keys.has(k))
    .map(([k, v]) => `${' '.repeat(indent)}${k}: ${v}`);
const ROUTE_REQUIRED = { name: 'doc-example', match: '{ path: /doc-example }' };

const MAP_PLACES: readonly Place[] = [
  { name: 'the top level', keys: keysOf(GatewayConfigSchema), indent: 0, header: () => [] },
  { name: 'a listener', keys: keysOf(Listener), indent: 4, header: (k) => ['listeners:', '  -', ...fill(k, { name: 'doc-example', port: '0' }, 4)] },
  { name: 'an upstream', keys: keysOf(Upstream), indent: 4, header: () => ['upstreams:', '  doc-example:'] },
  { name: 'a route', keys: keysOf(Route), indent: 4, header: (k) => ['routes:', '  -', ...fill(k, ROUTE_REQUIRED, 4)] },
  {
    name: "a listener's tls",
    keys: keysOf(ListenerTls),
    indent: 6,
    header: (k) => ['listeners:', '  - name: doc-example', '    port: 0', '    protocol: https', '    tls:', ...fill(k, { cert: 'doc.pem', key: 'doc-key.pem' }, 6)],
  },
  { name: "a route's graphql", keys: keysOf(GraphqlSchema), indent: 6, header: () => ['routes:', '  - name: doc-example', '    match: { path: /doc-example }', '    graphql:'] },
];
/** A map none of MAP_PLACES takes, all of whose values are maps with `targets`, `dns` or `file`: entries of `upstreams:`. */
const UPSTREAM_ENTRIES: Place = { name: 'entries of upstreams', indent: 2, header: () => ['upstreams:'] };
const POLICY_LIST: Place = { name: 'a policy list', indent: 6, header: () => ['routes:', '  - name: doc-example', '    match: { path: /doc-example }', '    policies:'] };
const LISTENER_LIST: Place = { name: 'a list of listeners', indent: 2, header: () => ['listeners:'] };
const ROUTE_LIST: Place = { name: 'a list of routes', indent: 2, header: () => ['routes:'] };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where a parsed block belongs, or why it fits nowhere. */
function placeOf(value: unknown): Place | string {
  if (Array.isArray(value)) {
    if (value.every((item) => isObj(item) && Object.keys(item).length === 1)) return POLICY_LIST;
    return value.some((item) => isObj(item) && 'port' in item) ? LISTENER_LIST : ROUTE_LIST;
  }
  if (!isObj(value)) return 'not a map or a list of config';
  const keys = Object.keys(value);
  const place = MAP_PLACES.find((p) => keys.every((k) => p.keys!.has(k)));
  if (place) return place;
  if (Object.values(value).every((v) => isObj(v) && ['targets', 'dns', 'file'].some((k) => k in v))) return UPSTREAM_ENTRIES;
  return `its keys (${keys.join(', ')}) fit no config section (top level, listener, upstream, route, listener tls, graphql)`;
}

/** Where an example leaves something out with `…` (display paths). */
interface Elisions {
  /** Lists and maps that had a `…` item or key (removed). */
  containers: string[];
  /** Strings with a `…` in them: placeholders such as `"sha256:…"`. */
  placeholders: string[];
}

/** Removes `…` list items and map keys in place, and says where they were. */
function elide(value: unknown, path: (string | number)[] = [], out: Elisions = { containers: [], placeholders: [] }): Elisions {
  if (typeof value === 'string' && value.includes(ELLIPSIS)) out.placeholders.push(displayPath(path));
  if (Array.isArray(value)) {
    const kept = value.filter((v) => v !== ELLIPSIS);
    if (kept.length < value.length) out.containers.push(displayPath(path));
    value.splice(0, value.length, ...kept);
    value.forEach((v, i) => elide(v, [...path, i], out));
  } else if (isObj(value)) {
    if (Object.hasOwn(value, ELLIPSIS)) {
      delete value[ELLIPSIS];
      out.containers.push(displayPath(path));
    }
    for (const [k, v] of Object.entries(value)) elide(v, [...path, k], out);
  }
  return out;
}
const ELLIPSIS = '…';
const parentOf = (path: string) => path.replace(/(\.[^.[\]]+|\[\d+\])$/, '');

/** An issue a `…` explains: a key its map leaves out, an item its list leaves out, the format of a placeholder. */
function elided(issue: ConfigIssue, e: Elisions): boolean {
  if (e.placeholders.includes(issue.path) && issue.message.startsWith('must match ')) return true;
  return e.containers.some((p) => (issue.message === 'is required' && parentOf(issue.path) === p) || (issue.path === p && /fewer than/.test(issue.message)));
}

/** One part of a block: the whole block, or one alternative of a block of alternatives. */
interface Part {
  text: string;
  /** Markdown line of the part's first line. */
  line: number;
}

/** The block's top-level entries when a key repeats (alternatives), else the block itself. */
function partsOf(text: string, firstLine: number): Part[] | string {
  const lc = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, lineCounter: lc });
  const bad = doc.errors[0];
  if (bad) return `${firstLine - 1 + lc.linePos(bad.pos[0]).line}: ${bad.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`;
  if (!isMap(doc.contents)) return [{ text, line: firstLine }];
  const items = doc.contents.items as Pair<{ range?: [number, number, number] }>[];
  const keys = items.map((p) => String((p.key as { value?: unknown }).value));
  if (new Set(keys).size === keys.length) return [{ text, line: firstLine }];
  const lines = text.split('\n');
  const starts = items.map((p) => lc.linePos(p.key!.range![0]).line);
  return starts.map((start, i) => ({ text: lines.slice(start - 1, (starts[i + 1] ?? lines.length + 1) - 1).join('\n'), line: firstLine - 1 + start }));
}

/** Removes the indentation every non-blank line has (a fragment written at its depth in the file). */
function dedent(text: string): string {
  const lines = text.split('\n');
  const depth = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(Math.min(depth, /^ */.exec(l)![0].length))).join('\n');
}

/**
 * The problems of one block, each as `page:line path: message (checked as …)`; none when it
 * fits. A block opted out with `<!-- not-config: why -->` has none, unless the reason is missing.
 *
 * @example await checkYamlBlock({ page: 'docs/x.md', line: 3, text: 'server: { viaa: gw }' })
 *   // ["docs/x.md:4 server.viaa: unknown key 'viaa' (did you mean 'via'?) (checked as: the top level)"]
 */
export async function checkYamlBlock(block: YamlBlock): Promise<string[]> {
  if (block.notConfig !== undefined) return block.notConfig === '' ? [`${block.page}:${block.line - 1} <!-- not-config --> must say why the block is not config: <!-- not-config: why -->`] : [];
  const parts = partsOf(dedent(block.text), block.line + 1);
  if (typeof parts === 'string') return [`${block.page}:${parts} (not valid YAML)`];
  return (await Promise.all(parts.map((p) => checkPart(block.page, p)))).flat();
}

async function checkPart(page: string, part: Part): Promise<string[]> {
  // Duplicate keys below the top level are the loader's error to report, not a reason to throw here.
  const value: unknown = parseDocument(part.text, { uniqueKeys: false }).toJS();
  const place = placeOf(value);
  if (typeof place === 'string') return [`${page}:${part.line} ${place}; put it under its section, or mark it <!-- not-config: why -->`];
  if (place === MAP_PLACES[0] && isObj(value) && 'version' in value && !part.text.includes(ELLIPSIS)) {
    const whole = await checkWholeConfig(page, part, value);
    if (whole !== undefined) return whole;
  }
  const header = place.header(new Set(isObj(value) ? Object.keys(value) : []));
  const indent = ' '.repeat(place.indent);
  const text = [...header, ...part.text.split('\n').map((l) => (l.trim() === '' ? l : indent + l))].join('\n');
  const source = new ConfigSource(DOC_ENV).addText(text, FRAGMENT_FILE).addText(SKELETON, SKELETON_FILE);
  const lineOf = (i: ConfigIssue) => (i.file === SKELETON_FILE || i.line <= header.length ? part.line : part.line + i.line - header.length - 1);
  const where = (i: ConfigIssue) => `${page}:${lineOf(i)}${i.path ? ` ${i.path}` : ''}: ${i.message} (checked as: ${place.name})`;
  if (source.errors.length > 0) return source.errors.map(where);

  const elisions = elide(source.value);
  for (const issue of validateInPlace(GatewayConfigSchema, source.value)) source.issueAt(issue.path, issue.message);
  const config = source.value as unknown as GatewayConfig;
  validatePolicies(config, builtinPolicies, source, { broken: new Set(), failed: [] });
  // A plugin's policy has the plugin's schema, which a fragment cannot load.
  const plugins = Array.isArray(config.plugins) && config.plugins.length > 0;
  return source.errors
    .filter((i) => !elided(i, elisions) && !(plugins && i.message.startsWith('unknown policy')))
    .sort((a, b) => lineOf(a) - lineOf(b))
    .map(where);
}

/**
 * A whole config, loaded as `gantry validate` loads it, from beside its page (relative paths
 * resolve there). Undefined when it names files that are not there: the caller then checks its
 * schema only.
 */
async function checkWholeConfig(page: string, part: Part, value: Obj): Promise<string[] | undefined> {
  const file = join(ROOT, dirname(page), 'gateway.yaml');
  const refs = referencedFiles(value as GatewayConfig, dirname(file), { protoImports: false });
  if (![...refs.files, ...refs.watchedElsewhere].every((f) => existsSync(f))) return undefined;
  const result = await loadConfig(file, { text: part.text, env: DOC_ENV });
  if (result.ok) return [];
  return result.issues
    .filter((i) => i.severity === 'error')
    .map((i) => `${page}:${i.line > 0 ? part.line + i.line - 1 : part.line}${i.path ? ` ${i.path}` : ''}: ${i.message} (checked as: a whole config)`);
}
